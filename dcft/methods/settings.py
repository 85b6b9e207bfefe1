"""Every method's settings, torch-free: checked when built (as PEFT's configs are), and each method's `tag`.

The tag names what a run's method is (`dcft-d8-s8`, `lora-r8-qv`, ...): the one function used by run
directories, records and tables alike. Hydra resolvers and the tables import this module, so it must never
import torch. Settings the tag leaves out (scaling, alpha, γ, ...) still name the run's cell through its
settings id (dcft.cells).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from dcft.methods.groups import parse_groups, targets_name

DCFT_IMPLS = ("fast", "reference")


def build_settings(cls: type, options: dict[str, Any] | None, where: str) -> Any:
    """`cls(**options)` with unknown keys named (and the valid ones listed) instead of a TypeError."""
    options = dict(options or {})
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown}; valid: {', '.join(valid) or 'none'}")
    return cls(**options)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _targets_suffix(targets: Any, default: str = "all") -> str:
    """'' for the method's default groups, else '-<set name>' (order-free, see groups.targets_name)."""
    name = targets_name(targets)
    return "" if name == targets_name(default) else f"-{name}"


def check_dcft_shape(where: str, kernel: Any, stride: Any, rank: Any) -> None:
    """DCFT's kernel/stride/rank rules; shared by the settings and the layer so the messages are the same."""
    _check(_is_int(kernel) and kernel >= 1, f"{where}: kernel={kernel!r} is invalid; the kernel size must be an "
                                            "integer >= 1")
    _check(_is_int(stride) and 1 <= stride <= kernel,
           f"{where}: stride={stride!r} is invalid for kernel={kernel}; allowed 1 <= stride <= kernel "
           "(a stride above the kernel would leave kernel entries unused)")
    _check(_is_int(rank) and rank >= 1, f"{where}: rank={rank!r} is invalid; the subspace rank must be an "
                                        "integer >= 1")


@dataclass
class DCFTSettings:
    """DCFT (docs/method.md): ΔWᵀ = crop(ConvT2d(B·A, C, stride s)), B: L(in)×k, A: k×L(out), C: d×d."""

    kernel: int = 8  # d, the deconvolution kernel size
    stride: int | None = None  # s, 1 <= s <= d; None = d (the paper's default)
    rank: int = 1  # k, rank of the subspace product B·A (the paper uses 1)
    scaling: float = 1.0  # released code: lora_alpha / lora_r of the task's launch script
    targets: str | list[str] = "all"  # groups or a named set (dcft.methods.groups.GROUP_SETS)
    orth_coef: float = 0.0  # γ, weight of the orthogonality regulariser
    impl: str = "fast"  # "fast" (factorised, fused) or "reference" (materialise ΔW, as released)
    init_std: float = 0.02  # A, B, C ~ N(0, init_std²), as released

    def __post_init__(self) -> None:
        if self.stride is None:
            self.stride = self.kernel
        check_dcft_shape("dcft", self.kernel, self.stride, self.rank)
        _check(_is_number(self.scaling), f"dcft: scaling={self.scaling!r} must be a finite number")
        _check(_is_number(self.orth_coef) and self.orth_coef >= 0, f"dcft: orth_coef={self.orth_coef!r} must be >= 0")
        _check(self.impl in DCFT_IMPLS, f"dcft: impl={self.impl!r} is unknown; choose one of {', '.join(DCFT_IMPLS)}")
        _check(_is_number(self.init_std) and self.init_std > 0, f"dcft: init_std={self.init_std!r} must be > 0")
        parse_groups(self.targets)

    def tag(self) -> str:
        rank = "" if self.rank == 1 else f"-k{self.rank}"
        return f"dcft-d{self.kernel}-s{self.stride}{rank}{_targets_suffix(self.targets)}"


def _check_lora_family(where: str, r: Any, alpha: Any, dropout: Any, targets: Any) -> None:
    _check(_is_int(r) and r >= 1, f"{where}: r={r!r} must be an integer >= 1")
    _check(_is_number(alpha) and alpha > 0, f"{where}: alpha={alpha!r} must be > 0")
    _check(_is_number(dropout) and 0 <= dropout < 1, f"{where}: dropout={dropout!r} must be in [0, 1)")
    parse_groups(targets)


@dataclass
class LoraSettings:
    """LoRA, DoRA and LoRA-FA (PEFT): ΔW = (alpha / r) · B A, rank r."""

    r: int = 1  # the paper's DeBERTaV3-base baseline: rank 1 on all six matrix groups
    alpha: float = 1.0  # PEFT's lora_alpha; the update is scaled by alpha / r
    dropout: float = 0.0
    targets: str | list[str] = "all"

    name = "lora"  # the method this instance configures (set by the registry for dora / lora_fa)

    def __post_init__(self) -> None:
        _check_lora_family(self.name, self.r, self.alpha, self.dropout, self.targets)

    def tag(self) -> str:
        return f"{self.name}-r{self.r}{_targets_suffix(self.targets)}"


@dataclass
class DoraSettings(LoraSettings):
    name = "dora"


@dataclass
class LoraFASettings(LoraSettings):
    name = "lora_fa"


@dataclass
class AdaLoraSettings:
    """AdaLoRA (PEFT) with the authors' budget schedule; total_step comes from the trainer."""

    init_r: int = 2  # the authors' lora_r: the initial rank before pruning
    target_r: int = 1  # target_rank: the average rank the budget is pruned to
    alpha: float = 32.0
    dropout: float = 0.0
    tinit: int = 600  # init_warmup: steps before pruning starts
    tfinal: int = 1800  # final_warmup: last steps with the final budget fixed
    delta_t: int = 1  # mask_interval ΔT: steps between reallocations
    beta1: float = 0.85
    beta2: float = 0.85
    orth_coef: float = 0.1  # PEFT adds orth_coef·R to the loss inside its forward
    targets: str | list[str] = "all"

    def __post_init__(self) -> None:
        _check_lora_family("adalora", self.init_r, self.alpha, self.dropout, self.targets)
        _check(_is_int(self.target_r) and 1 <= self.target_r <= self.init_r,
               f"adalora: target_r={self.target_r!r} must be an integer in [1, init_r={self.init_r}]")
        for name in ("tinit", "tfinal", "delta_t"):
            value = getattr(self, name)
            _check(_is_int(value) and value >= (1 if name == "delta_t" else 0),
                   f"adalora: {name}={value!r} must be an integer >= {1 if name == 'delta_t' else 0}")

    def tag(self) -> str:
        return f"adalora-r{self.init_r}-t{self.target_r}{_targets_suffix(self.targets)}"


@dataclass
class IA3Settings:
    targets: str | list[str] = "kv_ffnout"  # (IA)³'s usual placement: keys, values, FFN output

    def __post_init__(self) -> None:
        parse_groups(self.targets)

    def tag(self) -> str:
        return f"ia3{_targets_suffix(self.targets, default='kv_ffnout')}"


@dataclass
class VeraSettings:
    r: int = 256
    dropout: float = 0.0
    targets: str | list[str] = "all"

    def __post_init__(self) -> None:
        _check_lora_family("vera", self.r, 1.0, self.dropout, self.targets)

    def tag(self) -> str:
        return f"vera-r{self.r}{_targets_suffix(self.targets)}"


@dataclass
class FullSettings:
    """Full fine-tuning: every weight trains. No settings."""

    def tag(self) -> str:
        return "full"


@dataclass
class BitFitSettings:
    """BitFit: only the biases train. No settings."""

    def tag(self) -> str:
        return "bitfit"
