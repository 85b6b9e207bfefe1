"""Full fine-tuning and BitFit: no new modules, only a choice of what trains."""

from __future__ import annotations

from torch import nn

from dcft.methods.common import Adapted
from dcft.methods.settings import BitFitSettings, FullSettings


def apply_full(model: nn.Module, cfg: FullSettings) -> Adapted:
    model.requires_grad_(True)
    return Adapted(model=model, method="full", tag=cfg.tag(), settings={}, merged_model=lambda: model)


def apply_bitfit(model: nn.Module, cfg: BitFitSettings) -> Adapted:
    """BitFit trains the biases only."""
    for name, p in model.named_parameters():
        p.requires_grad_(name.endswith(".bias"))
    return Adapted(model=model, method="bitfit", tag=cfg.tag(), settings={}, merged_model=lambda: model)
