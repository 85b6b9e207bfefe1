"""SoRA: the gated low-rank layer, the proximal gate step, its optimizer groups and the sparsity it records."""

import pytest
import torch
from conftest import tiny_model

from dcft.methods import apply_method
from dcft.methods.sora import ProximalAdamW, SoRALinear, released_threshold_, soft_threshold_

VALUES = [-3.0, -0.75, -0.5, -0.375, -0.25, -0.125, 0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 3.0]


def test_layer_is_lora_with_a_gate_and_merges():
    torch.manual_seed(0)
    base = torch.nn.Linear(6, 5)
    layer = SoRALinear(base, r_max=3, alpha=12.0)
    with torch.no_grad():
        layer.sora_B.normal_()
    x = torch.randn(4, 6)
    # their LowRankLinear.forward: ((x @ A.T).mul(gate) @ B.T) * scaling, beside the frozen layer
    expected = x @ base.weight.T + base.bias + ((x @ layer.sora_A.T).mul(layer.sora_gate) @ layer.sora_B.T) * 4.0
    torch.testing.assert_close(layer(x), expected)
    layer.merge()
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)
    assert not base.weight.requires_grad and layer.sora_gate.shape == (3,)


def test_init_as_released():
    layer = SoRALinear(torch.nn.Linear(64, 32), r_max=8, alpha=16.0)
    assert not layer.sora_B.any() and layer.sora_gate.std() > 0.3  # B = 0, gate ~ N(0, 1)
    assert layer.sora_A.abs().max() <= 1 / 64**0.5  # kaiming_uniform(a=√5): U(±1/√in)


def test_soft_threshold_is_the_papers_operator():
    p = torch.tensor(VALUES)
    soft_threshold_(p, 0.25)  # sign(g)·max(|g| − ξ, 0)
    assert p.tolist() == [-2.75, -0.5, -0.25, -0.125, 0.0, 0.0, 0.0, 0.0, 0.0, 0.125, 0.25, 0.5, 2.75]


def test_released_threshold_zeroes_below_twice_xi():
    """Their SparseAdamW shrinks by ξ and then zeroes what is left below ξ: |g| < 2ξ ends at 0 (|g| = ξ stays)."""
    p = torch.tensor(VALUES)
    released_threshold_(p, 0.25)
    assert p.tolist() == [-2.75, -0.5, -0.25, 0.0, -0.25, 0.0, 0.0, 0.0, 0.25, 0.0, 0.25, 0.5, 2.75]


@pytest.mark.parametrize("rule", ["released", "soft"])
def test_proximal_adamw_is_adamw_then_the_threshold_on_gate_groups_only(rule):
    torch.manual_seed(1)
    w, g = torch.nn.Parameter(torch.randn(20)), torch.nn.Parameter(torch.randn(20) * 1e-3)
    w_ref, g_ref = torch.nn.Parameter(w.detach().clone()), torch.nn.Parameter(g.detach().clone())
    opt = ProximalAdamW([{"params": [w], "weight_decay": 0.1},
                         {"params": [g], "weight_decay": 0.0, "prox_threshold": 1e-3, "prox_rule": rule}], lr=1e-2)
    ref = torch.optim.AdamW([{"params": [w_ref], "weight_decay": 0.1}, {"params": [g_ref], "weight_decay": 0.0}],
                            lr=1e-2)
    for _ in range(3):
        grad_w, grad_g = torch.randn(20), torch.randn(20)
        w.grad, g.grad, w_ref.grad, g_ref.grad = grad_w, grad_g, grad_w.clone(), grad_g.clone()
        opt.step()
        ref.step()
        with torch.no_grad():
            {"released": released_threshold_, "soft": soft_threshold_}[rule](g_ref, 1e-3)
        assert torch.equal(w, w_ref) and torch.equal(g, g_ref)
    assert (g == 0).any()


def test_optimizer_groups_keep_the_harness_groups_and_isolate_the_gates():
    adapted = apply_method(tiny_model("bert"), "sora", {"r_max": 4, "xi": 0.02, "gate_lr": 0.5, "prox": "soft"})
    named = adapted.trainable_named_parameters()
    decay = [p for n, p in named if "sora_gate" not in n]
    gates = [p for n, p in named if "sora_gate" in n]
    opt = adapted.make_optimizer(lr=0.1, weight_decay=0.01, betas=(0.8, 0.9), eps=1e-7,
                                 param_groups=[{"params": [p for _, p in named], "weight_decay": 0.01}])
    assert isinstance(opt, ProximalAdamW) and len(opt.param_groups) == 2
    main, gate = opt.param_groups
    assert {id(p) for p in main["params"]} == {id(p) for p in decay} and main["lr"] == 0.1
    assert main["weight_decay"] == 0.01 and main["betas"] == (0.8, 0.9) and main["eps"] == 1e-7
    assert {id(p) for p in gate["params"]} == {id(p) for p in gates} and len(gates) == 12
    assert gate["lr"] == 0.5 and gate["weight_decay"] == 0.0 and gate["eps"] == 1e-6
    assert gate["prox_threshold"] == 0.02 and gate["prox_rule"] == "soft"


def test_regularizer_is_the_mean_absolute_gate():
    adapted = apply_method(tiny_model("roberta"), "sora", {"l1_coef": 3.0})
    gates = torch.cat([p.detach() for n, p in adapted.trainable_named_parameters() if "sora_gate" in n])
    torch.testing.assert_close(adapted.regularizer(), gates.abs().mean())
    assert adapted.regularizer_coef == 3.0
    assert apply_method(tiny_model("roberta"), "sora", {"l1_coef": 0.0}).regularizer is None


def test_training_prunes_ranks_and_records_the_nonzero_count():
    adapted = apply_method(tiny_model("bert"), "sora", {"r_max": 4, "xi": 0.05})
    model = adapted.model
    opt = adapted.make_optimizer(lr=0.05, weight_decay=0.0)
    for step in range(6):
        ids = torch.randint(5, 1000, (4, 9))
        loss = model(input_ids=ids, labels=torch.randint(0, 2, (4,))).loss + adapted.regularizer_coef * \
            adapted.regularizer()
        loss.backward()
        opt.step()
        adapted.after_step(step)
        opt.zero_grad()
    state = adapted.final_state()
    layers = {n: m for n, m in model.named_modules() if isinstance(m, SoRALinear)}
    ranks = {n: int((m.sora_gate != 0).sum()) for n, m in layers.items()}
    assert state["effective_rank"] == ranks and min(ranks.values()) < 4
    assert state["nonzero_params"] == sum(4 + ranks[n] * (m.in_features + m.out_features) for n, m in layers.items())
    assert state["dense_params"] == adapted.counts()["trainable_params"] > state["nonzero_params"]
    history = state["nonzero_params_history"]
    assert history[0] == [0, state["dense_params"]] and history[-1][1] == state["nonzero_params"]
    assert all(1 <= s <= 6 for s, _ in history[1:])
    # the history is the resumable state beyond the parameters
    fresh = apply_method(tiny_model("bert"), "sora", {"r_max": 4, "xi": 0.05})
    tensors, facts = adapted.get_method_state()
    fresh.set_method_state(tensors, facts)
    assert fresh.final_state()["nonzero_params_history"] == history
