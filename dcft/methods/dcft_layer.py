"""`DCFTLinear`: a frozen linear layer plus the deconvolution increment (docs/method.md).

ΔWᵀ = crop(ConvT2d(B·A, C, stride s)) to in × out. Two implementations share one set of
parameters: ``reference`` materialises ΔW with ``conv_transpose2d`` (the authors' way);
``fast`` never builds an in × out tensor and fuses the increment into the base GEMM
(`dcft_fused`: Kronecker kernels for s = d, a rank-(d·k) factorisation otherwise).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dcft.methods.dcft_fused import KroneckerLinear, LowRankLinear, inner_group
from dcft.methods.settings import DCFT_IMPLS, check_dcft_shape


def subspace_length(dim: int, kernel: int, stride: int) -> int:
    """L(D) = ceil((D − d) / s) + 1: rows (or columns) of the subspace feature F for a dimension D."""
    return math.ceil((dim - kernel) / stride) + 1


def _window_index(dim: int, kernel: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every position p < dim and kernel offset a: the subspace row i with s·i + a = p, and validity."""
    p = torch.arange(dim).unsqueeze(1)  # (dim, 1)
    a = torch.arange(kernel).unsqueeze(0)  # (1, d)
    shifted = p - a
    length = subspace_length(dim, kernel, stride)
    valid = (shifted >= 0) & (shifted % stride == 0) & (shifted // stride < length)
    index = torch.where(valid, shifted // stride, torch.zeros_like(shifted))
    return index, valid  # (dim, d), (dim, d)


class DCFTLinear(nn.Module):
    """Wraps a frozen ``nn.Linear`` and learns ΔW through B (L(in)×k), A (k×L(out)) and C (d×d)."""

    def __init__(
        self,
        base_layer: nn.Linear,
        kernel_size: int,
        stride: int | None = None,
        rank: int = 1,
        scaling: float = 1.0,
        impl: str = "fast",
        name: str = "layer",
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise TypeError(f"{name}: DCFTLinear wraps nn.Linear, got {type(base_layer).__name__}")
        stride = kernel_size if stride is None else stride
        in_f, out_f = base_layer.in_features, base_layer.out_features
        _validate(name, in_f, out_f, kernel_size, stride, rank, impl)
        self.base_layer = base_layer
        self.base_layer.requires_grad_(False)
        self.in_features, self.out_features = in_f, out_f
        self.kernel_size, self.stride, self.rank = kernel_size, stride, rank
        self.scaling = float(scaling)
        self.impl = impl
        self.merged = False
        self.len_in = subspace_length(in_f, kernel_size, stride)
        self.len_out = subspace_length(out_f, kernel_size, stride)
        factory = {"device": base_layer.weight.device, "dtype": base_layer.weight.dtype}
        self.dcft_B = nn.Parameter(torch.empty(self.len_in, rank, **factory))  # (L_in, k)
        self.dcft_A = nn.Parameter(torch.empty(rank, self.len_out, **factory))  # (k, L_out)
        self.dcft_C = nn.Parameter(torch.empty(kernel_size, kernel_size, **factory))  # (d, d)
        for p in self.adapter_parameters().values():
            nn.init.normal_(p, mean=0.0, std=init_std)
        # s = d with d | in and d | out: the Kronecker kernels; otherwise the gather-built factorisation
        self._kron = stride == kernel_size and in_f % kernel_size == 0 and out_f % kernel_size == 0
        self._groups = (inner_group(self.len_in, kernel_size), inner_group(self.len_out, kernel_size))
        if not self._kron:  # window gather indices (no weights, not saved)
            device = base_layer.weight.device
            for side, dim in (("in", in_f), ("out", out_f)):
                index, valid = _window_index(dim, kernel_size, stride)
                self.register_buffer(f"_{side}_index", index.to(device), persistent=False)
                self.register_buffer(f"_{side}_valid", valid.to(device), persistent=False)

    # -- what the trainer and the adapter files need --------------------------------------------
    def adapter_parameters(self) -> dict[str, nn.Parameter]:
        """The trainable tensors, by name: the single source of truth for what DCFT trains."""
        return {"dcft_B": self.dcft_B, "dcft_A": self.dcft_A, "dcft_C": self.dcft_C}

    @property
    def weight(self) -> torch.Tensor:  # code that inspects `module.weight` (e.g. HF init) sees the base
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base_layer.bias

    # -- the maths ------------------------------------------------------------------------------
    def subspace_feature(self) -> torch.Tensor:
        return self.dcft_B @ self.dcft_A  # (L_in, L_out)

    def delta_weight(self) -> torch.Tensor:
        """ΔW in nn.Linear layout (out × in), without scaling: crop(ConvT2d(B·A, C, s))ᵀ."""
        feature = self.subspace_feature()[None, None]  # (1, 1, L_in, L_out)
        full = F.conv_transpose2d(feature, self.dcft_C[None, None], stride=self.stride)[0, 0]
        return full[: self.in_features, : self.out_features].T  # (out, in)

    def delta_output(self, x: torch.Tensor) -> torch.Tensor:
        """scaling · x · ΔWᵀ, by the chosen implementation."""
        if self.impl == "reference":
            return self.scaling * F.linear(x, self.delta_weight())
        if not self._fusable(x):
            left, right = self._factors()
            return F.linear(F.linear(x, left), right.t())
        if self._kron:
            return self._kronecker_delta(x)
        return self._strided_delta(x)

    def _kronecker_delta(self, x: torch.Tensor, base: nn.Linear | None = None) -> torch.Tensor:
        """s = d: ΔWᵀ = F ⊗ C, never built; with `base`, its GEMM is fused in (x Wᵀ + b + increment)."""
        x2 = x.reshape(-1, self.in_features).contiguous()  # (N, in)
        weight, bias = (base.weight, base.bias) if base is not None else (None, None)
        out = KroneckerLinear.apply(
            x2, weight, bias, self.dcft_B, self.dcft_A, self.dcft_C * self.scaling, self._groups
        )
        return out.view(*x.shape[:-1], self.out_features)

    def _strided_delta(self, x: torch.Tensor, base: nn.Linear | None = None) -> torch.Tensor:
        """Any stride: ΔWᵀ = leftᵀ·right with inner size d·k (weight-sized factors, two thin GEMMs)."""
        x2 = x.reshape(-1, self.in_features).contiguous()  # (N, in)
        weight, bias = (base.weight, base.bias) if base is not None else (None, None)
        out = LowRankLinear.apply(x2, weight, bias, *self._factors())
        return out.view(*x.shape[:-1], self.out_features)

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """left (d·k, in) and right (d·k, out) with ΔWᵀ = scaling · leftᵀ · right.

        left[(a,k), p] = B[(p−a)/s, k]; right[(a,k), q] = scaling · Σ_b C[a,b] · A[k, (q−b)/s]
        (zero where the window index is not an integer in range). Weight-sized work only.
        """
        d, k = self.kernel_size, self.rank
        if self._kron:  # the gather indices of s = d are plain reshapes
            eye = torch.eye(d, dtype=self.dcft_B.dtype, device=self.dcft_B.device)
            left = eye[:, None, None, :] * self.dcft_B.t()[None, :, :, None]  # (d, k, L_in, d): B[i,k]·δ(a,a')
            right = (self.dcft_C * self.scaling)[:, None, None, :] * self.dcft_A[None, :, :, None]  # (d, k, L_out, d)
            return left.reshape(d * k, self.in_features), right.reshape(d * k, self.out_features)
        expand_in = self.dcft_B[self._in_index] * self._in_valid[..., None]  # (in, d, k): B[(p−a)/s]
        expand_out = self.dcft_A.T[self._out_index] * self._out_valid[..., None]  # (out, d, k)
        left = expand_in.permute(1, 2, 0).reshape(d * k, self.in_features)
        right = torch.einsum("ab,qbk->akq", self.dcft_C * self.scaling, expand_out).reshape(d * k, -1)
        return left, right

    def _fusable(self, x: torch.Tensor) -> bool:
        """The fused kernels need a plain nn.Linear (no hooks to skip), one dtype and no autocast."""
        base = self.base_layer
        if type(base) is not nn.Linear or base._forward_hooks or base._forward_pre_hooks:
            return False
        if not (x.dtype == base.weight.dtype == self.dcft_B.dtype) or x.device != base.weight.device:
            return False
        return not _autocast_on(x.device.type)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base_layer(x)
        if self.impl == "fast" and self._fusable(x):  # one op: base GEMM + increment, fused
            return self._kronecker_delta(x, self.base_layer) if self._kron else self._strided_delta(x, self.base_layer)
        return self.base_layer(x) + self.delta_output(x)

    # -- merging --------------------------------------------------------------------------------
    @torch.no_grad()
    def merge(self) -> None:
        """Fold scaling·ΔW into the base weight: inference then costs a plain linear layer."""
        if not self.merged:
            self.base_layer.weight += self.scaling * self.delta_weight().to(self.base_layer.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base_layer.weight -= self.scaling * self.delta_weight().to(self.base_layer.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, out={self.out_features}, kernel={self.kernel_size}, "
            f"stride={self.stride}, rank={self.rank}, scaling={self.scaling:g}, impl={self.impl}"
        )


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no per-device query
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _validate(name: str, in_f: int, out_f: int, kernel: int, stride: int, rank: int, impl: str) -> None:
    """Reject settings the layer cannot use, naming the layer, the value and the allowed range."""
    check_dcft_shape(name, kernel, stride, rank)
    smallest = min(in_f, out_f)
    if kernel > smallest:
        raise ValueError(
            f"{name}: kernel={kernel} is larger than the layer's smallest dimension ({in_f}x{out_f}); "
            f"allowed 1 <= kernel <= {smallest}"
        )
    if impl not in DCFT_IMPLS:
        raise ValueError(f"{name}: impl={impl!r} is unknown; choose one of {DCFT_IMPLS}")
