"""Fused autograd kernels for `DCFTLinear`'s fast path: base GEMM and deconvolution increment in one op.

On CPU an adapter's cost is memory traffic over the (tokens × out) activations, not FLOPs. These
kernels (1) accumulate the increment into the base GEMM's output buffer (β = 1) instead of adding a
separate tensor, (2) accumulate the input gradient into the base backward GEMM the same way, and
(3) for s = d write the Kronecker structure ΔWᵀ = F ⊗ C with broadcasts whose inner loop is long.
No in × out tensor is ever built; scripts/bench.py measures the effect against LoRA and the reference.
"""

from __future__ import annotations

import torch
from torch.autograd import Function


def inner_group(length: int, kernel: int, cap: int = 128) -> int:
    """Windows written per broadcast row: the largest divisor m of `length` with m·d <= cap (at least 1)."""
    return max(m for m in range(1, length + 1) if length % m == 0 and m * kernel <= max(cap, kernel))


def _kron_rows(vec: torch.Tensor, small: torch.Tensor, group: int, bias: torch.Tensor | None) -> torch.Tensor:
    """out[n, i·d + a] = vec[i] · small[n, 0, a] (+ bias), for vec (L, 1) and small (N, 1, d).

    Written as (1, L/m, m·d) ⊙ (N, 1, m·d): the inner loop runs over m·d contiguous values instead of d.
    """
    length, (n, _, d) = vec.shape[0], small.shape
    rows = length // group
    vec_t = vec.reshape(rows, group, 1).expand(rows, group, d).reshape(1, rows, group * d)  # weight-sized
    small_t = small.reshape(n, 1, 1, d).expand(n, 1, group, d).reshape(n, 1, group * d)  # (N, 1, m·d)
    if bias is None:
        return torch.mul(vec_t, small_t).view(n, length * d)
    return torch.addcmul(bias.view(1, rows, group * d), vec_t, small_t).view(n, length * d)


class KroneckerLinear(Function):
    """y = x Wᵀ + b + x (F ⊗ Cs) for s = d with d | in and d | out; W, b may be None (increment only).

    Shapes: x2 (N, in), B (L_in, k), A (k, L_out), Cs = scaling·C (d, d). Per token the increment costs
    O(k·(in + d² + out)): t = Bᵀ x (N, k, d), u = t Cs, y[j·d + b] = Σ_k A[k, j] u[k, b].
    """

    @staticmethod
    def forward(ctx, x2, weight, bias, B, A, Cs, groups):
        n, d = x2.shape[0], Cs.shape[0]
        len_in, k = B.shape
        len_out = A.shape[1]
        t = torch.bmm(B.t().expand(n, k, len_in), x2.view(n, len_in, d))  # (N, k, d)
        u = torch.matmul(t, Cs)  # (N, k, d)
        if k == 1:
            out = _kron_rows(A.reshape(len_out, 1), u, groups[1], bias)  # (N, out)
        else:
            out = torch.bmm(A.t().expand(n, len_out, k), u).view(n, len_out * d)
            if bias is not None:
                out += bias
        if weight is not None:
            out.addmm_(x2, weight.t())  # the base GEMM accumulates onto the increment
        ctx.save_for_backward(x2, weight, B, A, Cs, t, u)
        ctx.groups = groups
        return out

    @staticmethod
    def backward(ctx, grad):
        x2, weight, B, A, Cs, t, u = ctx.saved_tensors
        need = ctx.needs_input_grad
        grad = grad.contiguous()
        n, d = x2.shape[0], Cs.shape[0]
        len_in, k = B.shape
        len_out = A.shape[1]
        g3 = grad.view(n, len_out, d)
        gu = torch.bmm(A.expand(n, k, len_out), g3)  # (N, k, d)
        g_a = torch.bmm(u, g3.transpose(1, 2)).sum(0) if need[4] else None  # (k, L_out)
        g_cs = t.reshape(-1, d).t() @ gu.reshape(-1, d) if need[5] else None  # (d, d)
        gt = torch.matmul(gu, Cs.t())  # (N, k, d)
        g_b = torch.bmm(gt, x2.view(n, len_in, d).transpose(1, 2)).sum(0).t() if need[3] else None  # (L_in, k)
        g_x = None
        if need[0]:
            if k == 1:
                g_x = _kron_rows(B, gt, ctx.groups[0], None)  # (N, in)
            else:
                g_x = torch.bmm(B.expand(n, len_in, k), gt).view(n, len_in * d)
            if weight is not None:
                g_x.addmm_(grad, weight)  # the base backward GEMM accumulates onto the increment's
        g_w = grad.t() @ x2 if weight is not None and need[1] else None
        g_bias = grad.sum(0) if need[2] else None
        return g_x, g_w, g_bias, g_b, g_a, g_cs, None


class LowRankLinear(Function):
    """y = x Wᵀ + b + (x leftᵀ) right, for any stride: ΔWᵀ = leftᵀ·right has rank <= d·k.

    left (d·k, in) and right (d·k, out) are weight-sized expansions of B and of C, A (built by the layer).
    """

    @staticmethod
    def forward(ctx, x2, weight, bias, left, right):
        t_t = left @ x2.t()  # (d·k, N): this layout keeps both backward GEMMs copy-free
        out = torch.addmm(bias, t_t.t(), right) if bias is not None else t_t.t() @ right  # (N, out)
        if weight is not None:
            out.addmm_(x2, weight.t())
        ctx.save_for_backward(x2, weight, left, right, t_t)
        return out

    @staticmethod
    def backward(ctx, grad):
        x2, weight, left, right, t_t = ctx.saved_tensors
        need = ctx.needs_input_grad
        grad = grad.contiguous()
        gt_t = right @ grad.t()  # (d·k, N)
        g_right = t_t @ grad if need[4] else None
        g_left = gt_t @ x2 if need[3] else None
        g_x = None
        if need[0]:
            g_x = gt_t.t() @ left
            if weight is not None:
                g_x.addmm_(grad, weight)
        g_w = grad.t() @ x2 if weight is not None and need[1] else None
        g_bias = grad.sum(0) if need[2] else None
        return g_x, g_w, g_bias, g_left, g_right
