"""The method library and its registry: a new method = its settings (settings.py), one implementation module,
one row in METHODS below, one `conf/method/<name>.yaml`.

Importing this package needs no torch: the settings and tags are plain Python, and implementations (torch,
PEFT, transformers) are imported on first use. `apply_method(model, name, options)` attaches a method to any
HF model; afterwards exactly the method's own tensors are trainable (what else trains, such as a task head,
is the caller's choice).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dcft.methods import settings as S
from dcft.methods.groups import GROUP_SETS, GROUPS, parse_groups

if TYPE_CHECKING:
    from torch import nn

    from dcft.methods.common import Adapted


@dataclass(frozen=True)
class MethodEntry:
    settings: type  # dataclass of the method's settings (validated when built; `.tag()` names the method)
    implementation: str  # "module:function" applying it to a model, imported on first use
    needs_total_steps: bool = False  # the method's schedule depends on the run's optimizer steps


METHODS: dict[str, MethodEntry] = {
    "dcft": MethodEntry(S.DCFTSettings, "dcft.methods.dcft:apply"),
    "lora": MethodEntry(S.LoraSettings, "dcft.methods.peft_methods:apply_lora"),
    "dora": MethodEntry(S.DoraSettings, "dcft.methods.peft_methods:apply_dora"),
    "lora_fa": MethodEntry(S.LoraFASettings, "dcft.methods.peft_methods:apply_lora_fa"),
    "adalora": MethodEntry(S.AdaLoraSettings, "dcft.methods.peft_methods:apply_adalora", needs_total_steps=True),
    "ia3": MethodEntry(S.IA3Settings, "dcft.methods.peft_methods:apply_ia3"),
    "vera": MethodEntry(S.VeraSettings, "dcft.methods.peft_methods:apply_vera"),
    "full": MethodEntry(S.FullSettings, "dcft.methods.simple:apply_full"),
    "bitfit": MethodEntry(S.BitFitSettings, "dcft.methods.simple:apply_bitfit"),
    "hadapter": MethodEntry(S.HAdapterSettings, "dcft.methods.bottleneck_adapters:apply_hadapter"),
    "padapter": MethodEntry(S.PAdapterSettings, "dcft.methods.bottleneck_adapters:apply_padapter"),
    "sora": MethodEntry(S.SoRASettings, "dcft.methods.sora:apply"),
    "c3a": MethodEntry(S.C3ASettings, "dcft.methods.peft_tiny:apply_c3a"),
    "fourierft": MethodEntry(S.FourierFTSettings, "dcft.methods.peft_tiny:apply_fourierft"),
    "waveft": MethodEntry(S.WaveFTSettings, "dcft.methods.peft_tiny:apply_waveft"),
}


def _entry(name: str) -> MethodEntry:
    if name not in METHODS:
        raise ValueError(f"method={name!r} is unknown; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def method_settings(name: str, options: dict[str, Any] | None = None) -> Any:
    """Typed, validated settings for `name`; unknown keys and bad values are a ValueError saying what is valid."""
    return S.build_settings(_entry(name).settings, options, f"method {name}")


def method_tag(name: str, options: dict[str, Any] | None = None) -> str:
    """The name of what a run's method is (e.g. `dcft-d8-s8`, `lora-r8-qv`): run directories, records, tables."""
    return method_settings(name, options).tag()


def apply_method(
    model: nn.Module, name: str, options: dict[str, Any] | None = None, total_steps: int | None = None
) -> Adapted:
    """Apply method `name` to an HF model in place; the returned `Adapted` holds the model to train."""
    entry = _entry(name)
    settings = method_settings(name, options)
    module, _, function = entry.implementation.partition(":")
    apply = getattr(importlib.import_module(module), function)
    if entry.needs_total_steps:
        if total_steps is None:
            raise ValueError(f"method {name} needs total_steps (the number of optimizer steps)")
        return apply(model, settings, total_steps)
    return apply(model, settings)


_LAZY = {  # torch-backed names, imported on first access
    "Adapted": "dcft.methods.common",
    "DCFTLinear": "dcft.methods.dcft_layer",
    "subspace_length": "dcft.methods.dcft_layer",
    "orthogonality_regularizer": "dcft.methods.dcft",
    "resolve_targets": "dcft.methods.targets",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dcft.methods' has no attribute {name!r}")


__all__ = [
    "GROUPS", "GROUP_SETS", "METHODS", "Adapted", "DCFTLinear", "MethodEntry", "apply_method", "method_settings",
    "method_tag", "orthogonality_regularizer", "parse_groups", "resolve_targets", "subspace_length",
]
