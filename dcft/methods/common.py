"""What every method returns: the adapted model, its settings and tag, and the hooks a training loop calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Adapted:
    """A model with one method applied. Right after `apply_method`, exactly the method's tensors are trainable;
    a caller that also trains other parameters (a task head) lists their ids in `head_ids`."""

    model: nn.Module  # what is trained (may be a peft.PeftModel wrapping the HF model)
    method: str
    tag: str  # the method's name in run paths and tables, e.g. "dcft-d8-s8" (settings.<X>.tag)
    settings: dict[str, Any]  # the method's resolved settings (recorded and saved with adapters)
    head_ids: set[int] = field(default_factory=set)  # id() of trained parameters that are not the method's
    regularizer: Callable[[], torch.Tensor] | None = None  # added to the loss as coef · R
    regularizer_coef: float = 0.0
    after_step: Callable[[int], None] | None = None  # called after every optimizer step (AdaLoRA)
    make_optimizer: Callable[..., torch.optim.Optimizer] | None = None  # method-specific optimizer (LoRA-FA)
    final_state: Callable[[], dict[str, Any]] | None = None  # extra facts to save (AdaLoRA rank pattern)
    # state outside the parameters that a resumed run needs (AdaLoRA's sensitivity averages): tensors + JSON
    get_method_state: Callable[[], tuple[dict[str, torch.Tensor], dict[str, Any]]] | None = None
    set_method_state: Callable[[dict[str, torch.Tensor], dict[str, Any]], None] | None = None
    # the plain HF model with the update folded into its weights (dcft.export); None: the method adds modules
    # that the architecture lacks (bottleneck adapters) and cannot be merged. Consumes the adapted model.
    merged_model: Callable[[], nn.Module] | None = None

    @property
    def base_model(self) -> nn.Module:
        """The HF model itself (PEFT wraps it; the parameters are shared)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if callable(get_base) else self.model

    def trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Everything that was trained (adapter + head), by parameter name: the adapter file."""
        return {n: p.detach() for n, p in self.trainable_named_parameters()}

    def counts(self) -> dict[str, int]:
        """trainable (the method's, head excluded), head, total — the paper's #Params convention."""
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


def fold_layers(model: nn.Module, layer_type: type) -> nn.Module:
    """Merge every `layer_type` wrapper (a `.merge()` and a `.base_layer`) and put the base layer back in its
    place: the model is the plain architecture again, with the update in its weights."""
    for name, module in list(model.named_modules()):
        if isinstance(module, layer_type):
            module.merge()
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, module.base_layer)
    return model
