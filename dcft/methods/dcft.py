"""DCFT applied to a model: swap each targeted nn.Linear for a DCFTLinear; the orthogonality regulariser."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dcft.methods.common import Adapted, freeze_all_but_head
from dcft.methods.dcft_layer import DCFTLinear
from dcft.methods.targets import parse_groups, resolve_targets


@dataclass
class DCFTConfig:
    kernel: int = 8  # d: deconvolution kernel size
    stride: int | None = None  # s, 1 <= s <= d; None = d (the paper's default)
    rank: int = 1  # k: rank of the subspace product B·A (paper: 1)
    scaling: float = 1.0  # released code: lora_alpha / lora_r per task
    targets: str | list[str] = "all"  # groups or a named set (see targets.GROUP_SETS)
    orth_coef: float = 0.0  # γ: weight of the orthogonality regulariser
    impl: str = "fast"  # "fast" (factorised) or "reference" (materialise ΔW, as released)
    init_std: float = 0.02


def dcft_layers(model: nn.Module) -> list[DCFTLinear]:
    return [m for m in model.modules() if isinstance(m, DCFTLinear)]


def orthogonality_regularizer(model: nn.Module) -> torch.Tensor:
    """Mean over adapter matrices of ‖BᵀB − I‖_F and ‖AAᵀ − I‖_F (released code: Frobenius, not squared)."""
    terms = []
    for layer in dcft_layers(model):
        eye = torch.eye(layer.rank, device=layer.dcft_A.device, dtype=layer.dcft_A.dtype)
        terms.append(torch.linalg.matrix_norm(layer.dcft_B.T @ layer.dcft_B - eye))
        terms.append(torch.linalg.matrix_norm(layer.dcft_A @ layer.dcft_A.T - eye))
    return torch.stack(terms).mean()


def tag_for(cfg: DCFTConfig) -> str:
    stride = cfg.kernel if cfg.stride is None else cfg.stride
    tag = f"dcft-d{cfg.kernel}-s{stride}"
    if cfg.rank != 1:
        tag += f"-k{cfg.rank}"
    targets = cfg.targets if isinstance(cfg.targets, str) else ",".join(cfg.targets)
    if parse_groups(targets) != parse_groups("all"):
        tag += "-" + (targets.lower() if isinstance(cfg.targets, str) else "".join(parse_groups(targets)).lower())
    return tag


def apply(model: nn.Module, cfg: DCFTConfig) -> Adapted:
    head_ids = freeze_all_but_head(model)
    for name, _group in resolve_targets(model, cfg.targets).items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer = DCFTLinear(
            getattr(parent, child), cfg.kernel, cfg.stride, cfg.rank, cfg.scaling, cfg.impl, name, cfg.init_std
        )
        setattr(parent, child, layer)
    stride = cfg.kernel if cfg.stride is None else cfg.stride
    settings = {
        "kernel": cfg.kernel, "stride": stride, "rank": cfg.rank, "scaling": cfg.scaling,
        "targets": cfg.targets if isinstance(cfg.targets, str) else list(cfg.targets),
        "orth_coef": cfg.orth_coef, "impl": cfg.impl,
    }
    return Adapted(
        model=model, method="dcft", tag=tag_for(cfg), settings=settings, head_ids=head_ids,
        regularizer=(lambda: orthogonality_regularizer(model)) if cfg.orth_coef else None,
        regularizer_coef=cfg.orth_coef,
    )
