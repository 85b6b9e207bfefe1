"""HAdapter / PAdapter against their defining equations, at the right place in every supported family."""

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model
from transformers import AutoConfig, AutoModelForSequenceClassification

from dcft.methods import apply_method
from dcft.methods.bottleneck_adapters import AdaptedOutputBlock

FAMILIES = ["deberta-v2", "roberta", "bert"]
ACT = {"hadapter": F.silu, "padapter": F.relu}


def adapter_fn(block, act):
    """A(u) = W_up·act(W_down·u + b_down) + b_up, written out from the block's tensors."""
    down, up = block.bottleneck.down, block.bottleneck.up
    return lambda u: act(u @ down.weight.T + down.bias) @ up.weight.T + up.bias


def perturb(model):
    """Adapters start near identity; make them matter."""
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.3)


def layer_norm(ln, x):
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["hadapter", "padapter"])
def test_block_output_is_the_defining_equation(family, method):
    adapted = apply_method(tiny_model(family), method, {"bottleneck": 5})
    perturb(adapted.model)
    blocks = {n: m for n, m in adapted.model.named_modules() if isinstance(m, AdaptedOutputBlock)}
    for name, block in blocks.items():
        z = torch.randn(2, 7, block.dense.in_features)
        x = torch.randn(2, 7, block.dense.out_features)
        h = z @ block.dense.weight.T + block.dense.bias  # dropout is the identity in eval mode
        adapter = adapter_fn(block, ACT[method])
        if method == "hadapter":  # Houlsby: LN(x + h + A(h))
            expected = layer_norm(block.LayerNorm, x + h + adapter(h))
        else:  # Pfeiffer: LN(x + h + A(LN(x + h))), the block's LayerNorm twice
            expected = layer_norm(block.LayerNorm, x + h + adapter(layer_norm(block.LayerNorm, x + h)))
        torch.testing.assert_close(block(z, x), expected, rtol=1e-5, atol=1e-5, msg=name)


@pytest.mark.parametrize("family", FAMILIES)
def test_placement_houlsby_after_both_outputs_pfeiffer_after_the_ffn(family):
    h_blocks = [n for n, m in apply_method(tiny_model(family), "hadapter").model.named_modules()
                if isinstance(m, AdaptedOutputBlock)]
    p_blocks = [n for n, m in apply_method(tiny_model(family), "padapter").model.named_modules()
                if isinstance(m, AdaptedOutputBlock)]
    assert len(h_blocks) == 4 and sum(n.endswith("attention.output") for n in h_blocks) == 2
    assert len(p_blocks) == 2 and all(n.endswith(".output") and "attention" not in n for n in p_blocks)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["hadapter", "padapter"])
def test_whole_model_matches_hooks_on_the_plain_model(family, method):
    """An independent reference: the unadapted model with forward hooks doing what the adapter should."""
    adapted = apply_method(tiny_model(family, seed=3), method, {"bottleneck": 4})
    perturb(adapted.model)
    plain = tiny_model(family, seed=3)
    blocks = {n: m for n, m in adapted.model.named_modules() if isinstance(m, AdaptedOutputBlock)}
    for name, block in blocks.items():
        adapter = adapter_fn(block, ACT[method])
        original = plain.get_submodule(name)
        if method == "hadapter":  # the adapter sits after dropout, before the residual: h -> h + A(h)
            original.dropout.register_forward_hook(lambda m, args, out, a=adapter: a(out) + out)
        else:  # the block's output LN(x + h) -> LN(x + h + A(LN(x + h)))
            def hook(m, args, out, a=adapter):
                z, x = args
                h = m.dropout(m.dense(z))
                return m.LayerNorm(a(out) + h + x)
            original.register_forward_hook(hook)
    ids = torch.randint(5, 1000, (3, 9))
    torch.testing.assert_close(adapted.model(input_ids=ids).logits, plain(input_ids=ids).logits,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["hadapter", "padapter"])
def test_zero_up_projection_is_the_plain_model_and_backbone_keys_are_kept(method):
    plain = tiny_model("deberta-v2", seed=2)
    adapted = apply_method(tiny_model("deberta-v2", seed=2), method)
    with torch.no_grad():
        for block in adapted.model.modules():
            if isinstance(block, AdaptedOutputBlock):
                block.bottleneck.up.weight.zero_()
                block.bottleneck.up.bias.zero_()
    ids = torch.randint(5, 1000, (2, 6))
    assert torch.equal(adapted.model(input_ids=ids).logits, plain(input_ids=ids).logits)
    keys = set(adapted.model.state_dict())
    assert set(plain.state_dict()) <= keys  # the backbone's weights keep their names
    assert all(".bottleneck." in k for k in keys - set(plain.state_dict()))


def test_up_projection_starts_near_zero():
    adapted = apply_method(tiny_model("bert"), "hadapter", {"init_std": 0.01})
    ups = [m.bottleneck.up for m in adapted.model.modules() if isinstance(m, AdaptedOutputBlock)]
    assert all(u.weight.abs().max() <= 0.02 and not u.bias.any() for u in ups)  # truncated at 2σ, zero bias


def test_a_model_without_output_blocks_is_one_clear_error():
    config = AutoConfig.for_model("distilbert", dim=32, n_layers=2, n_heads=4, hidden_dim=64, vocab_size=1000)
    model = AutoModelForSequenceClassification.from_config(config)
    with pytest.raises(ValueError, match="distilbert-style layers have no post-LN output block"):
        apply_method(model, "padapter")
