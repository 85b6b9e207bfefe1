"""The method registry: a new method = one module + one entry here + one conf/method/<name>.yaml.

`apply_method(model, name, options)` turns plain options (from Hydra or a dict) into the method's
typed settings and returns an `Adapted` model with exactly the intended parameters trainable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from dcft.methods import dcft as dcft_method
from dcft.methods import peft_methods, simple
from dcft.methods.common import Adapted, head_parameter_names
from dcft.methods.dcft_layer import DCFTLinear, subspace_length
from dcft.methods.targets import GROUP_SETS, GROUPS, resolve_targets


@dataclass(frozen=True)
class MethodEntry:
    settings: type  # dataclass of the method's settings
    apply: Callable[..., Adapted]
    needs_total_steps: bool = False


METHODS: dict[str, MethodEntry] = {
    "dcft": MethodEntry(dcft_method.DCFTConfig, dcft_method.apply),
    "lora": MethodEntry(peft_methods.LoraFamilyConfig, peft_methods.apply_lora),
    "dora": MethodEntry(peft_methods.LoraFamilyConfig, peft_methods.apply_dora),
    "lora_fa": MethodEntry(peft_methods.LoraFamilyConfig, peft_methods.apply_lora_fa),
    "adalora": MethodEntry(peft_methods.AdaLoraSettings, peft_methods.apply_adalora, needs_total_steps=True),
    "ia3": MethodEntry(peft_methods.IA3Settings, peft_methods.apply_ia3),
    "vera": MethodEntry(peft_methods.VeraSettings, peft_methods.apply_vera),
    "full": MethodEntry(simple.NoSettings, simple.apply_full),
    "bitfit": MethodEntry(simple.NoSettings, simple.apply_bitfit),
}


def method_settings(name: str, options: dict[str, Any] | None = None):
    """Typed settings for `name` from plain options; unknown keys are an error naming the valid ones."""
    if name not in METHODS:
        raise ValueError(f"method={name!r} is unknown; choose one of {', '.join(METHODS)}")
    cls = METHODS[name].settings
    options = dict(options or {})
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(f"method {name}: unknown setting(s) {unknown}; valid: {sorted(valid) or 'none'}")
    return cls(**options)


def apply_method(
    model: nn.Module, name: str, options: dict[str, Any] | None = None, total_steps: int | None = None
) -> Adapted:
    """Apply method `name` to an HF model in place; the returned `Adapted` holds the model to train."""
    entry = METHODS.get(name)
    settings = method_settings(name, options)
    if entry.needs_total_steps:
        if total_steps is None:
            raise ValueError(f"method {name} needs total_steps (the number of optimizer steps)")
        return entry.apply(model, settings, total_steps)
    return entry.apply(model, settings)


__all__ = [
    "GROUPS", "GROUP_SETS", "METHODS", "Adapted", "DCFTLinear", "apply_method", "head_parameter_names",
    "method_settings", "resolve_targets", "subspace_length",
]
