"""The benchmark cases: which methods, how each is built, and one training / layer / eval step.

All cases of a run share one random-init backbone (frozen weights are the same tensors, so a
DeBERTaV3-base suite of 18 cases fits in memory); whatever a case trains or merges is its own copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dcft.heads import attach_method, train_head
from dcft.methods import Adapted, DCFTLinear, apply_method
from dcft.models import ModelSpec, build_model

HEAD, NUM_LABELS = "sequence_classification", 2
ADALORA_STEPS = 100_000  # long schedule: the benchmark's steps fall in AdaLoRA's importance-scoring phase


@dataclass(frozen=True)
class CaseSpec:
    """One training configuration. `method` is a registry name or "frozen"."""

    name: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "settings": dict(self.options)}


def dcft_case(kernel: int, stride: int, impl: str) -> CaseSpec:
    return CaseSpec(f"dcft-{impl}-d{kernel}-s{stride}", "dcft", {"kernel": kernel, "stride": stride, "impl": impl})


def training_cases(kernels=(2, 4, 8, 12), strides=(1, 2, 4, 8), stride_kernel: int = 8,
                   quick: bool = False) -> list[CaseSpec]:
    """Frozen, full, LoRA r=1, AdaLoRA, then DCFT fast and reference at each d (s = d) and at d = 8 per s."""
    cases = [
        CaseSpec("frozen", "frozen"),
        CaseSpec("full", "full"),
        CaseSpec("lora-r1", "lora", {"r": 1, "alpha": 1.0}),
        CaseSpec("adalora", "adalora", {"init_r": 2, "target_r": 1}),
    ]
    if quick:
        kernels, strides = (2, stride_kernel), (1, stride_kernel)
    settings = [(d, d) for d in kernels] + [(stride_kernel, s) for s in strides if s != stride_kernel]
    for impl in ("fast", "reference"):
        cases += [dcft_case(d, s, impl) for d, s in settings if not (quick and impl == "reference" and d != s)]
    return cases


# -- shared backbone ----------------------------------------------------------------------------------
def build_backbone(spec: ModelSpec, device: torch.device, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(spec, HEAD, NUM_LABELS).to(device)


def clone_sharing(spec: ModelSpec, backbone: nn.Module) -> nn.Module:
    """A new model object whose tensors are the backbone's (no copy): built on meta, then assigned."""
    model = build_model(spec, HEAD, NUM_LABELS, meta=True)
    model.load_state_dict(backbone.state_dict(), assign=True)
    for name, buf in backbone.named_buffers():  # non-persistent buffers are not in the state dict
        owner_name, _, leaf = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        if getattr(owner, leaf).is_meta:
            owner._buffers[leaf] = buf
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"clone_sharing: {left[:3]} stayed on the meta device")
    return model


def own_trainable(model: nn.Module, backbone: nn.Module) -> None:
    """Give every trainable tensor still shared with the backbone its own copy (training writes to it)."""
    shared = {t.untyped_storage().data_ptr() for t in backbone.state_dict().values()}
    for p in model.parameters():
        if p.requires_grad and p.untyped_storage().data_ptr() in shared:
            p.data = p.data.clone()


def apply_case(model: nn.Module, case: CaseSpec) -> Adapted:
    """The method on `model`. "frozen": backbone frozen, head trainable, plus the embeddings' LayerNorm
    weight so backward still runs through every layer (gradients through the activations only)."""
    if case.method != "frozen":
        total = ADALORA_STEPS if case.method == "adalora" else None
        return attach_method(model, case.method, case.options, total_steps=total)
    model.requires_grad_(False)
    _bottom_norm(model).weight.requires_grad_(True)
    return train_head(Adapted(model=model, method="frozen", tag="frozen",
                              settings={"trainable": "head + embeddings norm"}))


def _bottom_norm(model: nn.Module) -> nn.Module:
    base = getattr(model, model.base_model_prefix)
    for module in base.embeddings.modules() if hasattr(base, "embeddings") else ():
        if isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("LayerNorm"):
            return module
    raise ValueError(f"{type(model).__name__}: no LayerNorm in the embeddings for the frozen baseline")


# -- steps ----------------------------------------------------------------------------------------------
def make_batch(vocab: int, batch: int, seq: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, seq), generator=gen)
    labels = torch.randint(0, NUM_LABELS, (batch,), generator=gen)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
            "labels": labels.to(device)}


@dataclass
class TrainingCase:
    spec: CaseSpec
    adapted: Adapted
    optimizer: torch.optim.Optimizer
    batch: dict[str, torch.Tensor]
    steps_done: int = 0

    def prime_optimizer(self) -> None:
        """Create the optimizer state with a zero-gradient, zero-lr step (parameters unchanged), so the
        first real step already runs in the steady state (and its peak memory includes the state)."""
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        for p in params:
            p.grad = torch.zeros_like(p)
        for g in self.optimizer.param_groups:
            g["lr"] = 0.0
        self.optimizer.step()
        for g, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            g["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        """Forward, backward, optimizer step (and AdaLoRA's budget update): one training step."""
        adapted = self.adapted
        loss = adapted.model(**self.batch).loss
        if adapted.regularizer is not None:
            loss = loss + adapted.regularizer_coef * adapted.regularizer()
        loss.backward()
        self.optimizer.step()
        self.steps_done += 1
        if adapted.after_step is not None:
            adapted.after_step(self.steps_done)
        self.optimizer.zero_grad(set_to_none=True)


def build_training_case(case: CaseSpec, spec: ModelSpec, backbone: nn.Module | None, batch: dict,
                        lr: float = 1e-4) -> TrainingCase:
    """The case on a model sharing `backbone`'s frozen tensors (or a fresh model when backbone is None)."""
    device = batch["input_ids"].device
    model = clone_sharing(spec, backbone) if backbone is not None else build_backbone(spec, device)
    adapted = apply_case(model, case)
    if backbone is not None:
        own_trainable(adapted.model, backbone)
    adapted.model.to(device).train()
    params = [p for p in adapted.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    return TrainingCase(case, adapted, optimizer, batch)


# -- one layer --------------------------------------------------------------------------------------------
class _Holder(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def layer_modules(n_in: int, n_out: int, device: torch.device, seed: int = 0) -> dict[str, nn.Module]:
    """One frozen nn.Linear (in × out) per case, wrapped by each method; the base weights are shared."""
    from peft import LoraConfig, inject_adapter_in_model

    torch.manual_seed(seed)
    base = nn.Linear(n_in, n_out).to(device).requires_grad_(False)

    def fresh() -> nn.Linear:
        linear = nn.Linear(n_in, n_out, device="meta")
        linear.weight, linear.bias = base.weight, base.bias
        return linear

    lora = inject_adapter_in_model(LoraConfig(r=1, lora_alpha=1, target_modules=["linear"]), _Holder(fresh()))
    modules: dict[str, nn.Module] = {"frozen": fresh(), "lora-r1": lora.linear}
    for name, (d, s, impl) in {
        "dcft-fast-d8-s8": (8, 8, "fast"), "dcft-reference-d8-s8": (8, 8, "reference"),
        "dcft-fast-d2-s2": (2, 2, "fast"), "dcft-fast-d8-s1": (8, 1, "fast"),
    }.items():
        modules[name] = DCFTLinear(fresh(), d, s, impl=impl)
    return {k: m.to(device) for k, m in modules.items()}


def layer_step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    """Forward + backward of one layer; the input needs a gradient (as hidden states do in a model)."""
    def step() -> None:
        xi = x.detach().requires_grad_(True)
        module(xi).backward(grad)
        for p in module.parameters():
            p.grad = None
    return step


# -- evaluation -----------------------------------------------------------------------------------------
def eval_models(spec: ModelSpec, backbone: nn.Module, kernel: int = 8) -> dict[str, nn.Module]:
    """Plain model, DCFT merged (own copies of the merged weights), DCFT unmerged and LoRA, in eval mode."""
    plain = clone_sharing(spec, backbone)
    merged = apply_method(clone_sharing(spec, backbone), "dcft", {"kernel": kernel}).model
    for layer in merged.modules():
        if isinstance(layer, DCFTLinear):
            layer.base_layer.weight = nn.Parameter(layer.base_layer.weight.detach().clone(), requires_grad=False)
            layer.merge()
    unmerged = apply_method(clone_sharing(spec, backbone), "dcft", {"kernel": kernel}).model
    lora = apply_method(clone_sharing(spec, backbone), "lora", {"r": 1}).model
    models = {"plain": plain, f"dcft-fast-d{kernel}-merged": merged, f"dcft-fast-d{kernel}-unmerged": unmerged,
              "lora-r1-unmerged": lora}
    return {k: m.eval() for k, m in models.items()}


def eval_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> Callable[[], None]:
    inputs = {k: v for k, v in batch.items() if k != "labels"}

    def step() -> None:
        with torch.inference_mode():
            model(**inputs)
    return step
