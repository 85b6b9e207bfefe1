"""What every method returns (`Adapted`) and how the task head is told apart from the backbone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


def head_parameter_names(model: nn.Module) -> set[str]:
    """Parameters outside the backbone (`model.<base_model_prefix>`), plus the backbone's pooler: the task head.

    DeBERTa: pooler + classifier; RoBERTa: classifier (dense + out_proj); BERT: pooler + classifier (the
    same dense-tanh-linear shape as the other two); QA: qa_outputs. The head is trainable in every method
    and is not counted in the paper's #Params (SPEC §2).
    """
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix or not hasattr(model, prefix):
        raise ValueError(f"{type(model).__name__}: cannot tell the backbone from the head (no base_model_prefix)")
    pooler = f"{prefix}.pooler."
    return {n for n, _ in model.named_parameters() if not n.startswith(prefix + ".") or n.startswith(pooler)}


@dataclass
class Adapted:
    """A model with one method applied, and the hooks the trainer calls."""

    model: nn.Module  # what is trained (may be a peft.PeftModel wrapping the HF model)
    method: str
    tag: str  # short id used in run paths and tables, e.g. "dcft-d8-s8"
    settings: dict[str, Any]  # the method's resolved settings (recorded and saved with adapters)
    head_ids: set[int]  # id() of the head parameters
    regularizer: Callable[[], torch.Tensor] | None = None  # added to the loss as coef · R
    regularizer_coef: float = 0.0
    after_step: Callable[[int], None] | None = None  # called after every optimizer step (AdaLoRA)
    make_optimizer: Callable[..., torch.optim.Optimizer] | None = None  # method-specific optimizer (LoRA-FA)
    final_state: Callable[[], dict[str, Any]] | None = None  # extra facts to save (AdaLoRA rank pattern)
    # state outside the parameters that a resumed run needs (AdaLoRA's sensitivity averages): tensors + JSON
    get_method_state: Callable[[], tuple[dict[str, torch.Tensor], dict[str, Any]]] | None = None
    set_method_state: Callable[[dict[str, torch.Tensor], dict[str, Any]], None] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Everything that was trained (adapter + head), by parameter name: the adapter file."""
        return {n: p.detach() for n, p in self.trainable_named_parameters()}

    def counts(self) -> dict[str, int]:
        """trainable (adapter only, head excluded), head, total — the paper's #Params convention."""
        trainable = head = total = 0
        seen: set[int] = set()
        for _, p in self.model.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel()
            if id(p) in self.head_ids:
                head += p.numel()
            elif p.requires_grad:
                trainable += p.numel()
        return {"trainable_params": trainable, "head_params": head, "total_params": total}


def freeze_all_but_head(model: nn.Module) -> set[int]:
    """Freeze everything, unfreeze the head; returns the head's parameter ids."""
    head_names = head_parameter_names(model)
    ids = set()
    for name, p in model.named_parameters():
        is_head = name in head_names
        p.requires_grad_(is_head)
        if is_head:
            ids.add(id(p))
    return ids
