"""`DCFTLinear`: a frozen linear layer plus the deconvolution increment of SPEC §1.

ΔWᵀ = crop(ConvT2d(B·A, C, stride s)) to in × out. Two implementations share one set of
parameters: ``reference`` materialises ΔW with ``conv_transpose2d`` (the authors' way);
``fast`` never builds an in × out tensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

IMPLS = ("fast", "reference")


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
        if stride != kernel_size:  # strided windows: precomputed gather indices (no weights, not saved)
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
        if self.stride == self.kernel_size:
            return self._kronecker_delta(x)
        return self._strided_delta(x)

    def _kronecker_delta(self, x: torch.Tensor) -> torch.Tensor:
        """s = d: ΔWᵀ = F ⊗ C, so view x as (…, L_in, d) and never build ΔW."""
        d = self.kernel_size
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (N, in)
        pad_in = self.len_in * d - self.in_features
        if pad_in:
            x2 = F.pad(x2, (0, pad_in))
        windows = x2.view(-1, self.len_in, d)  # (N, L_in, d)
        t = torch.matmul(windows.transpose(1, 2), self.dcft_B)  # (N, d, k)
        u = torch.matmul(self.dcft_C.T * self.scaling, t)  # (N, d, k): u[b,k] = Σ_a C[a,b] t[a,k]
        z = torch.matmul(u, self.dcft_A)  # (N, d, L_out)
        y = z.transpose(1, 2).reshape(-1, self.len_out * d)  # (N, L_out·d), y[j·d + b]
        if y.shape[1] != self.out_features:  # crop what the padded windows overhang
            y = y[:, : self.out_features]
        return y.reshape(*lead, self.out_features)

    def _strided_delta(self, x: torch.Tensor) -> torch.Tensor:
        """s < d: overlapping windows. Expand B and A into (in, d·k) and (d·k, out) gather matrices
        (weight-sized work only), then two thin GEMMs of inner size d·k."""
        d, k = self.kernel_size, self.rank
        expand_in = self.dcft_B[self._in_index] * self._in_valid[..., None]  # (in, d, k): B[(p−a)/s]
        expand_out = self.dcft_A.T[self._out_index] * self._out_valid[..., None]  # (out, d, k)
        # right factor: P[(a,k), q] = Σ_b C[a,b] · A[k, (q−b)/s]
        right = torch.einsum("ab,qbk->akq", self.dcft_C * self.scaling, expand_out).reshape(d * k, -1)
        return (x @ expand_in.reshape(self.in_features, d * k)) @ right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base_layer(x)
        if self.merged:
            return out
        return out + self.delta_output(x)

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


def _validate(name: str, in_f: int, out_f: int, kernel: int, stride: int, rank: int, impl: str) -> None:
    """Reject settings the method cannot use, naming the layer, the value and the allowed range."""
    if not isinstance(kernel, int) or kernel < 1:
        raise ValueError(f"{name}: kernel={kernel!r} is invalid; the kernel size must be an integer >= 1")
    if not isinstance(stride, int) or not 1 <= stride <= kernel:
        raise ValueError(
            f"{name}: stride={stride!r} is invalid for kernel={kernel}; allowed 1 <= stride <= kernel "
            "(a stride above the kernel would leave kernel entries unused)"
        )
    smallest = min(in_f, out_f)
    if kernel > smallest:
        raise ValueError(
            f"{name}: kernel={kernel} is larger than the layer's smallest dimension ({in_f}x{out_f}); "
            f"allowed 1 <= kernel <= {smallest}"
        )
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"{name}: rank={rank!r} is invalid; the subspace rank must be an integer >= 1")
    if impl not in IMPLS:
        raise ValueError(f"{name}: impl={impl!r} is unknown; choose one of {IMPLS}")
