"""DCFT applied to a model: swap each targeted nn.Linear for a DCFTLinear; the orthogonality regulariser."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from dcft.methods.common import Adapted, fold_layers
from dcft.methods.dcft_layer import DCFTLinear
from dcft.methods.settings import DCFTSettings
from dcft.methods.targets import resolve_targets


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


def apply(model: nn.Module, cfg: DCFTSettings) -> Adapted:
    """Freeze the model and wrap every targeted linear layer; only A, B and C train."""
    model.requires_grad_(False)
    for name in resolve_targets(model, cfg.targets):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer = DCFTLinear(
            getattr(parent, child), cfg.kernel, cfg.stride, cfg.rank, cfg.scaling, cfg.impl, name, cfg.init_std
        )
        setattr(parent, child, layer)
    settings = dataclasses.asdict(cfg)
    settings["targets"] = cfg.targets if isinstance(cfg.targets, str) else list(cfg.targets)
    return Adapted(
        model=model, method="dcft", tag=cfg.tag(), settings=settings,
        regularizer=(lambda: orthogonality_regularizer(model)) if cfg.orth_coef else None,
        regularizer_coef=cfg.orth_coef, merged_model=lambda: fold_layers(model, DCFTLinear),
    )
