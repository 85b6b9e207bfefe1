"""SoRA (Ding et al. 2023, github.com/TsinghuaC3I/SoRA): LoRA with a gate between down- and up-projection.

ΔW = (alpha / r_max)·B·diag(g)·A. The gate g is trained by its own AdamW group followed by a proximal step that
zeroes entries (`ProximalAdamW`), plus an L1 term in the loss; a zero entry switches off one rank. As in their
src/lora.py: A kaiming-uniform, B zero, g ~ N(0, 1). As in their run_glue.py / src/sparse_optimizer.py: the gate
group has no weight decay, eps 1e-6 (transformers.AdamW's default, which their SparseAdamW used), its learning
rate follows the same warm-up/linear schedule, and the threshold xi is applied per step, not scaled by the lr.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dcft.methods.common import Adapted, fold_layers
from dcft.methods.settings import SoRASettings
from dcft.methods.targets import resolve_targets

GATE_EPS = 1e-6


class SoRALinear(nn.Module):
    """A frozen nn.Linear plus scaling·B·diag(g)·A; `sora_A` (r, in), `sora_B` (out, r), `sora_gate` (r,)."""

    def __init__(self, base_layer: nn.Linear, r_max: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base_layer = base_layer
        base_layer.requires_grad_(False)
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features
        self.r_max, self.scaling = r_max, alpha / r_max
        factory = {"device": base_layer.weight.device, "dtype": base_layer.weight.dtype}
        self.sora_A = nn.Parameter(torch.empty(r_max, self.in_features, **factory))
        self.sora_B = nn.Parameter(torch.zeros(self.out_features, r_max, **factory))
        self.sora_gate = nn.Parameter(torch.randn(r_max, **factory))
        nn.init.kaiming_uniform_(self.sora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.merged = False

    @property
    def weight(self) -> torch.Tensor:
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base_layer.bias

    def delta_weight(self) -> torch.Tensor:
        """scaling·B·diag(g)·A in nn.Linear layout (out, in)."""
        return self.scaling * (self.sora_B @ (self.sora_gate[:, None] * self.sora_A))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base_layer(x)
        low = F.linear(self.dropout(x), self.sora_A) * self.sora_gate  # (..., r)
        return self.base_layer(x) + F.linear(low, self.sora_B) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base_layer.weight += self.delta_weight().to(self.base_layer.weight.dtype)
            self.merged = True

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, r_max={self.r_max}, scaling={self.scaling:g}"


def released_threshold_(p: torch.Tensor, xi: float) -> None:
    """SoRA's SparseAdamW, statement by statement (what produced their results): shrink by xi, then zero every
    entry left below xi — so |g| < 2·xi ends at zero."""
    p[p > xi] -= xi
    p[p < -xi] += xi
    p[p.abs() < xi] = 0.0


def soft_threshold_(p: torch.Tensor, xi: float) -> None:
    """The paper's proximal operator of xi·|g|: sign(g)·max(|g| − xi, 0)."""
    p.copy_(p.sign() * (p.abs() - xi).clamp_min(0))


PROX: dict[str, Callable[[torch.Tensor, float], None]] = {"released": released_threshold_, "soft": soft_threshold_}


class ProximalAdamW(torch.optim.AdamW):
    """AdamW; after it, every param group with `prox_threshold` takes the proximal step `prox_rule`."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = super().step(closure)
        with torch.no_grad():
            for group in self.param_groups:
                xi = group.get("prox_threshold")
                if xi:
                    for p in group["params"]:
                        PROX[group["prox_rule"]](p, xi)
        return loss


def sora_layers(model: nn.Module) -> list[tuple[str, SoRALinear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, SoRALinear)]


def sparsity_facts(layers: list[tuple[str, SoRALinear]]) -> dict[str, Any]:
    """Effective rank per layer and the count of parameters still in use, as SoRA's compute_trainable_sparse_param
    counts it (each zero gate entry drops its row of A and column of B; the gate vectors count in full) but with
    each layer's true sizes where theirs uses 2·hidden_size for every layer."""
    counts = torch.stack([(layer.sora_gate != 0).sum() for _, layer in layers]).tolist()  # one device sync
    ranks = {name: int(c) for (name, _), c in zip(layers, counts, strict=True)}
    nonzero = sum(layer.r_max + ranks[name] * (layer.in_features + layer.out_features) for name, layer in layers)
    return {"effective_rank": ranks, "nonzero_params": nonzero}


def dense_params(layers: list[tuple[str, SoRALinear]]) -> int:
    """Every rank on: the trainable count (r_max·(in + out + 1) per layer)."""
    return sum(layer.r_max * (1 + layer.in_features + layer.out_features) for _, layer in layers)


def apply(model: nn.Module, cfg: SoRASettings) -> Adapted:
    """Freeze the model, wrap every targeted linear layer; A, B and the gates train (the gates proximally)."""
    model.requires_grad_(False)
    for name in resolve_targets(model, cfg.targets):
        parent, _, child = name.rpartition(".")
        module = model.get_submodule(parent)
        setattr(module, child, SoRALinear(getattr(module, child), cfg.r_max, cfg.alpha, cfg.dropout))
    layers = sora_layers(model)
    gates = [layer.sora_gate for _, layer in layers]
    history: list[list[int]] = [[0, dense_params(layers)]]  # [step, nonzero params] at start and at each change

    def after_step(step: int) -> None:  # called after optimizer step number step + 1
        nonzero = sparsity_facts(layers)["nonzero_params"]
        if nonzero != history[-1][1]:
            history.append([step + 1, nonzero])

    def final_state() -> dict[str, Any]:
        return {**sparsity_facts(layers), "dense_params": dense_params(layers),
                "nonzero_params_history": [list(h) for h in history]}

    def set_method_state(tensors: dict, facts: dict) -> None:
        history[:] = [list(h) for h in facts["nonzero_params_history"]]

    def make_optimizer(lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999),
                       eps: float = 1e-8, param_groups: list[dict] | None = None, **_: Any) -> ProximalAdamW:
        gate_ids = {id(g) for g in gates}
        if param_groups is None:
            param_groups = [{"params": [p for p in model.parameters() if p.requires_grad],
                             "weight_decay": weight_decay}]
        groups = [{**g, "params": [p for p in g["params"] if id(p) not in gate_ids]} for g in param_groups]
        groups = [g for g in groups if g["params"]]
        groups.append({"params": gates, "weight_decay": 0.0, "lr": cfg.gate_lr or lr, "eps": GATE_EPS,
                       "prox_threshold": cfg.xi, "prox_rule": cfg.prox})
        return ProximalAdamW(groups, lr=lr, betas=betas, eps=eps)

    def mean_abs_gate() -> torch.Tensor:  # their sparse loss: Σ|g| / (number of gate entries)
        return torch.cat([g.abs() for g in gates]).mean()

    settings = dataclasses.asdict(cfg)
    settings["targets"] = cfg.targets if isinstance(cfg.targets, str) else list(cfg.targets)
    return Adapted(
        model=model, method="sora", tag=cfg.tag(), settings=settings,
        regularizer=mean_abs_gate if cfg.l1_coef else None, regularizer_coef=cfg.l1_coef,
        after_step=after_step, make_optimizer=make_optimizer, final_state=final_state,
        get_method_state=lambda: ({}, {"nonzero_params_history": [list(h) for h in history]}),
        set_method_state=set_method_state, merged_model=lambda: fold_layers(model, SoRALinear),
    )
