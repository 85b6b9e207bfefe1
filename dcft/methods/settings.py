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


ADAPTER_ACTIVATIONS = ("relu", "gelu", "swish", "silu", "tanh")


def _check_positive_int(where: str, name: str, value: Any) -> None:
    _check(_is_int(value) and value >= 1, f"{where}: {name}={value!r} must be an integer >= 1")


@dataclass
class HAdapterSettings:
    """HAdapter (Houlsby et al. 2019): a bottleneck adapter after the attention output and after the FFN output of
    every layer, inside the residual: LN(x + h + A(h)), A(h) = W_up·act(W_down·h + b_down) + b_up."""

    bottleneck: int = 8  # the paper's 0.31M on DeBERTaV3-base: 24 adapters × (2·768·8 + 8 + 768) = 313,536
    activation: str = "swish"  # adapter-transformers' Houlsby config (the library the paper's numbers came from)
    init_std: float = 0.01  # Houlsby's near-identity init: weights N(0, σ²) truncated at 2σ, biases zero

    name = "hadapter"  # the method this instance configures (padapter below)

    def __post_init__(self) -> None:
        _check_positive_int(self.name, "bottleneck", self.bottleneck)
        _check(self.activation in ADAPTER_ACTIVATIONS, f"{self.name}: activation={self.activation!r} is unknown; "
                                                       f"choose one of {', '.join(ADAPTER_ACTIVATIONS)}")
        _check(_is_number(self.init_std) and self.init_std > 0, f"{self.name}: init_std={self.init_std!r} must be > 0")

    def tag(self) -> str:
        return f"{self.name}-b{self.bottleneck}"


@dataclass
class PAdapterSettings(HAdapterSettings):
    """PAdapter (Pfeiffer et al. 2021): one adapter after the FFN output, fed the block's normalised output:
    LN(x + h + A(LN(x + h))) with the block's own LayerNorm (adapter-transformers' Pfeiffer config)."""

    bottleneck: int = 16  # the paper's 0.3M on DeBERTaV3-base: 12 × (2·768·16 + 16 + 768) = 304,320
    activation: str = "relu"

    name = "padapter"


SORA_PROX_RULES = ("released", "soft")


@dataclass
class SoRASettings:
    """SoRA (Ding et al. 2023): ΔW = (alpha / r_max)·B·diag(g)·A with a gate g trained by a proximal step.

    After each AdamW step on g, g is thresholded by xi (their `sparse_lambda_2`), and `l1_coef`·mean|g| (their
    `sparse_lambda`) joins the loss; gate entries that reach zero switch their rank off. Defaults: the authors'
    run_glue_sora_no_schedule.sh (r_max 8, lambda 10, lambda2 3e-4) and config/lora_config.json (alpha 16).
    """

    r_max: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    l1_coef: float = 10.0
    xi: float = 3e-4  # threshold per optimizer step (not scaled by the lr, as in their SparseAdamW)
    gate_lr: float | None = None  # their sparse_lr; None = the run's learning rate (their default)
    # released: their SparseAdamW's three in-place statements (which zero |g| < 2·xi after shrinking by xi);
    # soft: the paper's soft threshold sign(g)·max(|g| − xi, 0)
    prox: str = "released"
    targets: str | list[str] = "all"  # their default modules: q, k, v, attention output, both FFN matrices

    def __post_init__(self) -> None:
        _check_lora_family("sora", self.r_max, self.alpha, self.dropout, self.targets)
        _check(_is_number(self.l1_coef) and self.l1_coef >= 0, f"sora: l1_coef={self.l1_coef!r} must be >= 0")
        _check(_is_number(self.xi) and self.xi >= 0, f"sora: xi={self.xi!r} must be >= 0")
        _check(self.gate_lr is None or (_is_number(self.gate_lr) and self.gate_lr > 0),
               f"sora: gate_lr={self.gate_lr!r} must be > 0 or null (the run's lr)")
        _check(self.prox in SORA_PROX_RULES, f"sora: prox={self.prox!r} is unknown; choose one of "
                                             f"{', '.join(SORA_PROX_RULES)}")

    def tag(self) -> str:
        return f"sora-r{self.r_max}{_targets_suffix(self.targets)}"


C3A_INITS = ("xavier_uniform", "kaiming_uniform", "gaussian", "zeros")


@dataclass
class C3ASettings:
    """C3A (PEFT): ΔW built from block-circulant matrices, (in/b)·(out/b)·b = in·out/b parameters per matrix."""

    block_size: int | None = None  # None: the largest b dividing every adapted layer's sizes (fewest parameters)
    # Q,K,V at the largest block: 3 × 768 × 12 = 27,648 on DeBERTaV3-base, the nearest C3A gets to DCFT d=8's
    # 25,344 (b must divide 768, so a 768×768 matrix costs at least 768 and an FFN matrix 3,072)
    targets: str | list[str] = "qkv"
    init: str = "xavier_uniform"  # PEFT's default; "zeros" starts from ΔW = 0

    def __post_init__(self) -> None:
        if self.block_size is not None:
            _check_positive_int("c3a", "block_size", self.block_size)
        _check(self.init in C3A_INITS, f"c3a: init={self.init!r} is unknown; choose one of {', '.join(C3A_INITS)}")
        parse_groups(self.targets)

    def tag(self) -> str:
        return f"c3a-b{self.block_size or 'max'}{_targets_suffix(self.targets, default='qkv')}"


@dataclass
class FourierFTSettings:
    """FourierFT (PEFT): ΔW = scaling · Re(IDFT2(S)), S sparse with n_frequency trained entries at random places."""

    n_frequency: int = 352  # per adapted matrix: 72 × 352 = 25,344, exactly DCFT d=8's count on DeBERTaV3-base
    scaling: float = 150.0  # PEFT's default (its docs: 100-150 for RoBERTa on GLUE)
    random_loc_seed: int = 777  # where the frequencies sit (PEFT's default)
    targets: str | list[str] = "all"

    def __post_init__(self) -> None:
        _check_positive_int("fourierft", "n_frequency", self.n_frequency)
        _check(_is_number(self.scaling) and self.scaling > 0, f"fourierft: scaling={self.scaling!r} must be > 0")
        _check(_is_int(self.random_loc_seed), f"fourierft: random_loc_seed={self.random_loc_seed!r} must be an integer")
        parse_groups(self.targets)

    def tag(self) -> str:
        return f"fourierft-n{self.n_frequency}{_targets_suffix(self.targets)}"


@dataclass
class WaveFTSettings:
    """WaveFT (PEFT): ΔW = scaling · IDWT of a sparse wavelet-coefficient matrix (n_frequency trained entries)."""

    n_frequency: int = 352  # per adapted matrix, as FourierFT: 25,344 on DeBERTaV3-base
    scaling: float = 25.0  # PEFT's default
    wavelet_family: str = "db1"
    random_loc_seed: int = 777
    targets: str | list[str] = "all"

    def __post_init__(self) -> None:
        _check_positive_int("waveft", "n_frequency", self.n_frequency)
        _check(_is_number(self.scaling) and self.scaling > 0, f"waveft: scaling={self.scaling!r} must be > 0")
        _check(isinstance(self.wavelet_family, str) and bool(self.wavelet_family),
               f"waveft: wavelet_family={self.wavelet_family!r} must name a wavelet (e.g. db1)")
        _check(_is_int(self.random_loc_seed), f"waveft: random_loc_seed={self.random_loc_seed!r} must be an integer")
        parse_groups(self.targets)

    def tag(self) -> str:
        return f"waveft-n{self.n_frequency}{_targets_suffix(self.targets)}"
