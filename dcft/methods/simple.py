"""Full fine-tuning and BitFit: no new modules, only a choice of what trains."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from dcft.methods.common import Adapted, freeze_all_but_head


@dataclass
class NoSettings:
    """These methods take no settings."""


def apply_full(model: nn.Module, cfg: NoSettings) -> Adapted:
    head_ids = freeze_all_but_head(model)
    model.requires_grad_(True)
    return Adapted(model=model, method="full", tag="full", settings={}, head_ids=head_ids)


def apply_bitfit(model: nn.Module, cfg: NoSettings) -> Adapted:
    """BitFit trains the biases only (plus the head)."""
    head_ids = freeze_all_but_head(model)
    for name, p in model.named_parameters():
        if name.endswith(".bias"):
            p.requires_grad_(True)
    return Adapted(model=model, method="bitfit", tag="bitfit", settings={}, head_ids=head_ids)
