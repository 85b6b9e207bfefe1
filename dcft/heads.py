"""The harness's policy beside a method: the task head trains in every method and is not counted in #Params.

Methods (dcft.methods) train only their own tensors; which other parameters train is decided here, once.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from dcft.methods import Adapted, apply_method


def head_parameter_names(model: nn.Module, pooler: bool = True) -> set[str]:
    """Parameters outside the backbone (`model.<base_model_prefix>`), plus the backbone's pooler: the task head.

    DeBERTa: context pooler + classifier (both outside the backbone, as in the released code); RoBERTa:
    classifier (dense + out_proj); BERT: its backbone's pooler + classifier (the same dense-tanh-linear shape as
    the other two) or, with `pooler=False`, the classifier alone; QA: qa_outputs. The head trains in every method
    and the paper's #Params leaves it out (docs/method.md, "Counting parameters").
    """
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix or not hasattr(model, prefix):
        raise ValueError(f"{type(model).__name__}: cannot tell the backbone from the head (no base_model_prefix)")
    inside = (f"{prefix}.pooler.",) if pooler else ()
    return {n for n, _ in model.named_parameters() if not n.startswith(prefix + ".") or n.startswith(inside or "\0")}


def train_head(adapted: Adapted, pooler: bool = True) -> Adapted:
    """Unfreeze the task head of the adapted model and mark it as head (so counts leave it out)."""
    model = adapted.base_model
    names = head_parameter_names(model, pooler)
    for name, p in model.named_parameters():
        if name in names:
            p.requires_grad_(True)
            adapted.head_ids.add(id(p))
    return adapted


def attach_method(
    model: nn.Module, method: str, options: dict[str, Any] | None = None, total_steps: int | None = None,
    train_pooler: bool = True,
) -> Adapted:
    """The method, plus the trainable head: what every harness run trains."""
    return train_head(apply_method(model, method, options, total_steps=total_steps), train_pooler)
