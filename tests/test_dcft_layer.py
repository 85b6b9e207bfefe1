"""DCFTLinear: fast == reference == an independent definition, for every kernel/stride/rank/shape."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dcft import DCFTLinear
from dcft.methods.dcft_layer import subspace_length


def definition_delta_t(B: np.ndarray, A: np.ndarray, C: np.ndarray, s: int, n_in: int, n_out: int) -> np.ndarray:
    """The definition in docs/method.md: ΔWᵀ[p, q] = Σ_{i,j} F[i, j] · C[p − s·i, q − s·j], cropped to in × out."""
    Fm = B @ A
    d = C.shape[0]
    out = np.zeros((n_in, n_out))
    for i, j in itertools.product(range(Fm.shape[0]), range(Fm.shape[1])):
        for a, b in itertools.product(range(d), range(d)):
            p, q = s * i + a, s * j + b
            if p < n_in and q < n_out:
                out[p, q] += Fm[i, j] * C[a, b]
    return out


def make_layer(n_in, n_out, d, s, k, impl="fast", scaling=1.0, seed=0):
    torch.manual_seed(seed)
    base = nn.Linear(n_in, n_out).double()
    layer = DCFTLinear(base, d, s, k, scaling=scaling, impl=impl).double()
    with torch.no_grad():  # larger values than the 0.02 init so differences are visible
        for p in layer.adapter_parameters().values():
            p.normal_()
    return layer


SHAPES = [(16, 16), (17, 9), (9, 23), (24, 12), (13, 13)]
CASES = [(n_in, n_out, d, s, k) for (n_in, n_out) in SHAPES for d in range(1, 10) for s in range(1, d + 1)
         for k in (1, 2, 3) if d <= min(n_in, n_out) and (d + s + k + n_in) % 3 == 0]
CASES += [(20, 20, 12, s, 1) for s in (1, 5, 12)] + [(30, 26, 11, 4, 2), (12, 12, 12, 12, 1)]


@pytest.mark.parametrize("n_in,n_out,d,s,k", CASES)
def test_delta_weight_matches_definition_and_conv_transpose(n_in, n_out, d, s, k):
    layer = make_layer(n_in, n_out, d, s, k)
    B, A, C = (layer.adapter_parameters()[n].detach().numpy() for n in ("dcft_B", "dcft_A", "dcft_C"))
    expected = definition_delta_t(B, A, C, s, n_in, n_out)
    conv = F.conv_transpose2d(torch.from_numpy(B @ A)[None, None], torch.from_numpy(C)[None, None], stride=s)
    assert conv.shape[-2] >= n_in and conv.shape[-1] >= n_out
    np.testing.assert_allclose(conv[0, 0, :n_in, :n_out].numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.delta_weight().detach().numpy(), expected.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_in,n_out,d,s,k", CASES)
def test_fast_equals_reference_forward_and_gradients(n_in, n_out, d, s, k):
    x = torch.randn(2, 3, n_in, dtype=torch.double)
    grads, outs = {}, {}
    for impl in ("fast", "reference"):
        layer = make_layer(n_in, n_out, d, s, k, impl=impl, scaling=1.7)
        xi = x.clone().requires_grad_(True)
        y = layer.delta_output(xi)
        (y * torch.linspace(-1, 1, n_out, dtype=torch.double)).sum().backward()
        outs[impl] = y.detach()
        grads[impl] = {n: p.grad.clone() for n, p in layer.adapter_parameters().items()} | {"x": xi.grad.clone()}
    scale = outs["reference"].abs().max()
    assert (outs["fast"] - outs["reference"]).abs().max() <= 1e-10 * scale
    for name, g in grads["reference"].items():
        assert (grads["fast"][name] - g).abs().max() <= 1e-10 * max(g.abs().max(), 1e-30), name


def test_forward_is_base_plus_scaled_delta():
    layer = make_layer(24, 12, 4, 2, 2, scaling=3.0)
    x = torch.randn(5, 24, dtype=torch.double)
    expected = layer.base_layer(x) + 3.0 * x @ layer.delta_weight().T
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


def test_parameters_shapes_init_and_frozen_base():
    torch.manual_seed(0)
    base = nn.Linear(768, 3072)
    layer = DCFTLinear(base, 8)
    assert layer.stride == 8
    assert layer.dcft_B.shape == (96, 1) and layer.dcft_A.shape == (1, 384) and layer.dcft_C.shape == (8, 8)
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert all(p.requires_grad for p in layer.adapter_parameters().values())
    assert abs(layer.dcft_A.std().item() - 0.02) < 0.004  # N(0, 0.02²) as released
    assert layer.delta_weight().abs().sum() > 0  # unlike LoRA, ΔW ≠ 0 at step 0
    assert subspace_length(17, 4, 3) == 6 and subspace_length(768, 8, 8) == 96


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_merge_unmerge_round_trip(impl):
    layer = make_layer(24, 20, 5, 3, 2, impl=impl, scaling=2.0)
    x = torch.randn(4, 24, dtype=torch.double)
    before = layer(x)
    w0 = layer.base_layer.weight.detach().clone()
    layer.merge()
    assert layer.merged
    assert not torch.equal(layer.base_layer.weight, w0)  # merged ≠ base
    torch.testing.assert_close(layer(x), before, rtol=1e-12, atol=1e-12)  # merged ≈ unmerged
    torch.testing.assert_close(layer(x), layer.base_layer(x))  # merged = a plain linear layer
    layer.unmerge()
    torch.testing.assert_close(layer.base_layer.weight, w0, rtol=0, atol=1e-14)  # unmerge restores
    torch.testing.assert_close(layer(x), before, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"kernel_size": 4, "stride": 5}, "1 <= stride <= kernel"),
        ({"kernel_size": 0}, ">= 1"),
        ({"kernel_size": 17}, "allowed 1 <= kernel <= 16"),
        ({"kernel_size": 4, "rank": 0}, "rank"),
        ({"kernel_size": 4, "stride": 0}, "stride=0"),
        ({"kernel_size": 4, "impl": "magic"}, "impl"),
    ],
)
def test_invalid_settings_name_layer_value_and_range(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        DCFTLinear(nn.Linear(16, 32), name="encoder.layer.3.attention.self.query", **kwargs)
    message = str(err.value)
    assert message.startswith("encoder.layer.3.attention.self.query:") and fragment in message


# -- the fused kernels (dcft_fused.py): exact against the reference, fused and unfused routes -------------------
ROUTES = ["fused", "hooked"]  # a hook on the base layer forces the unfused fallback
SHAPES = [(16, 16, 4, 4, 1), (24, 40, 8, 8, 1), (24, 40, 8, 8, 2), (17, 9, 3, 3, 1), (20, 12, 6, 4, 2),
          (16, 32, 8, 1, 1), (32, 16, 2, 2, 1), (13, 13, 5, 2, 3)]


@pytest.mark.parametrize("route,shape", list(itertools.product(ROUTES, SHAPES)))
def test_fast_forward_and_all_gradients_equal_reference(route, shape):
    n_in, n_out, d, s, k = shape
    torch.manual_seed(0)
    ref = DCFTLinear(nn.Linear(n_in, n_out).double(), d, s, k, scaling=2.5, impl="reference").double()
    fast = DCFTLinear(nn.Linear(n_in, n_out).double(), d, s, k, scaling=2.5, impl="fast").double()
    with torch.no_grad():
        for p in ref.adapter_parameters().values():
            p.normal_()
    fast.load_state_dict(ref.state_dict())
    if route == "hooked":
        fast.base_layer.register_forward_hook(lambda *_: None)
    x = torch.randn(3, 2, n_in, dtype=torch.double)
    weights = torch.linspace(-1, 1, n_out, dtype=torch.double)
    got = {}
    for name, layer in (("ref", ref), ("fast", fast)):
        layer.base_layer.requires_grad_(True)  # weight and bias gradients are exact too
        xi = x.clone().requires_grad_(True)
        y = layer(xi)
        (y * weights).sum().backward()
        got[name] = [y.detach(), xi.grad, *(p.grad for p in layer.parameters())]
    for a, b in zip(got["fast"], got["ref"], strict=True):
        assert (a - b).abs().max() <= 1e-10 * max(b.abs().max(), 1e-30)


def test_fast_path_falls_back_under_autocast():
    layer = DCFTLinear(nn.Linear(32, 48), 8)
    x = torch.randn(4, 32)
    expected = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=0.05, atol=0.05)
