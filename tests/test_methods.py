"""apply_method: exactly the intended parameters train, for every method and architecture family."""

import pytest
import torch
from conftest import tiny_model

from dcft import DCFTLinear, apply_method, orthogonality_regularizer
from dcft.adapters import load_adapter, save_adapter
from dcft.heads import attach_method, head_parameter_names
from dcft.methods import METHODS, method_settings, method_tag
from dcft.methods.groups import GROUP_SETS, parse_groups, targets_name
from dcft.methods.targets import resolve_targets

FAMILIES = ["deberta-v2", "roberta", "bert"]
HEAD_PREFIXES = {
    "deberta-v2": ("pooler.", "classifier."), "roberta": ("classifier.",), "bert": ("classifier.", "bert.pooler."),
}

# method -> (options, predicate over the trainable non-head parameter names)
EXPECTED = {
    "dcft": ({"kernel": 4}, lambda n: n.rsplit(".", 1)[-1] in ("dcft_A", "dcft_B", "dcft_C")),
    "lora": ({}, lambda n: "lora_A" in n or "lora_B" in n),
    "dora": ({}, lambda n: "lora_A" in n or "lora_B" in n or "lora_magnitude_vector" in n),
    "lora_fa": ({}, lambda n: "lora_B" in n),
    "adalora": ({"tinit": 2, "tfinal": 2}, lambda n: any(k in n for k in ("lora_A", "lora_B", "lora_E"))),
    "ia3": ({}, lambda n: "ia3_l" in n),
    "vera": ({"r": 8}, lambda n: "vera_lambda" in n),
    "full": ({}, lambda n: True),
    "bitfit": ({}, lambda n: n.endswith(".bias")),
    "hadapter": ({}, lambda n: ".bottleneck." in n),
    "padapter": ({}, lambda n: ".bottleneck." in n),
    "sora": ({"r_max": 4}, lambda n: n.rsplit(".", 1)[-1] in ("sora_A", "sora_B", "sora_gate")),
    "c3a": ({}, lambda n: "c3a_kernel" in n),
    "fourierft": ({"n_frequency": 40}, lambda n: "fourierft_spectrum" in n),
    "waveft": ({"n_frequency": 40}, lambda n: "waveft_spectrum" in n),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_exactly_adapter_and_head_train(family, method):
    model = tiny_model(family)
    head_names = head_parameter_names(model)
    assert head_names and all(n.startswith(HEAD_PREFIXES[family]) for n in head_names)
    options, is_adapter = EXPECTED[method]
    adapted = attach_method(model, method, options, total_steps=20)
    head_ids = adapted.head_ids
    trained = [(n, p) for n, p in adapted.model.named_parameters() if p.requires_grad]
    assert {id(p) for _, p in trained} >= head_ids, "the task head must train in every method"
    adapter = [n for n, p in trained if id(p) not in head_ids]
    assert adapter, f"{method} trains nothing besides the head"
    assert all(is_adapter(n) for n in adapter), [n for n in adapter if not is_adapter(n)]
    frozen = [n for n, p in adapted.model.named_parameters() if not p.requires_grad]
    assert not any(is_adapter(n) for n in frozen) or method in ("lora_fa",), "an adapter tensor is frozen"
    counts = adapted.counts()
    assert counts["trainable_params"] == sum(p.numel() for _, p in trained if id(p) not in head_ids)
    assert counts["head_params"] == sum(p.numel() for p in model.parameters() if id(p) in head_ids)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_the_method_alone_trains_only_its_own_tensors(method):
    """apply_method is the library: it decides nothing about the head (the harness's policy, dcft.heads)."""
    options, is_adapter = EXPECTED[method]
    adapted = apply_method(tiny_model("bert"), method, options, total_steps=20)
    trained = [n for n, _ in adapted.trainable_named_parameters()]
    assert trained and all(is_adapter(n) for n in trained), [n for n in trained if not is_adapter(n)]
    if method not in ("full", "bitfit"):  # BitFit trains every bias, a classifier's too
        assert not any(n.startswith(("classifier.", "bert.pooler.")) for n in trained), "the head is not the method's"
    assert adapted.head_ids == set() and adapted.counts()["head_params"] == 0


def test_a_berts_pooler_can_stay_frozen():
    """model.train_pooler=false: the head is the classifier alone (the pooler keeps its pretrained weights)."""
    adapted = attach_method(tiny_model("bert"), "dcft", {"kernel": 4}, train_pooler=False)
    trained = {n for n, _ in adapted.trainable_named_parameters()}
    assert {"classifier.weight", "classifier.bias"} <= trained and not any("pooler" in n for n in trained)
    assert adapted.counts()["head_params"] == 32 * 2 + 2


@pytest.mark.parametrize("family", FAMILIES)
def test_targets_cover_six_groups_per_layer(family):
    model = tiny_model(family)
    chosen = resolve_targets(model, "all")
    assert len(chosen) == 6 * 2  # six matrices in each of the two layers
    assert sorted(set(chosen.values())) == sorted(parse_groups("all"))
    paper = resolve_targets(model, "qkvo_paper")
    assert sum(g == "FFN_OUT" for g in paper.values()) == 2  # the paper's "O" caught both outputs
    assert set(resolve_targets(model, "qk").values()) == {"Q", "K"}
    with pytest.raises(ValueError, match="unknown group"):
        resolve_targets(model, "q,z")


def test_named_group_sets_are_valid():
    for name in GROUP_SETS:
        assert parse_groups(name)
    assert parse_groups("Q, v") == ("Q", "V")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method,options", [("dcft", {"kernel": 4, "stride": 2, "rank": 2}), ("lora", {"r": 2}),
                                            ("adalora", {"tinit": 1, "tfinal": 1}), ("bitfit", {}), ("ia3", {}),
                                            ("hadapter", {}), ("padapter", {"bottleneck": 4}), ("sora", {"r_max": 4}),
                                            ("c3a", {"block_size": 16}), ("fourierft", {"n_frequency": 50}),
                                            ("waveft", {"n_frequency": 50})])
def test_adapter_files_round_trip_logits_exactly(tmp_path, family, method, options):
    adapted = attach_method(tiny_model(family, seed=1), method, options, total_steps=10)
    with torch.no_grad():  # make the adapter non-trivial (LoRA's B starts at zero)
        for _, p in adapted.trainable_named_parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.randint(5, 1000, (3, 11))
    expected = adapted.model(input_ids=x).logits
    save_adapter(adapted, tmp_path / "adapter")
    files = sorted(p.name for p in (tmp_path / "adapter").iterdir())
    assert files == ["adapter.safetensors", "adapter_config.json", "head.safetensors"]
    fresh = tiny_model(family, seed=1)  # same base weights, fresh head/adapter
    loaded = load_adapter(fresh, tmp_path / "adapter")
    torch.testing.assert_close(loaded.model(input_ids=x).logits, expected, rtol=0, atol=0)


def test_dcft_adapter_file_is_small(tmp_path):
    from dcft.models import build_model
    from dcft.params import model_spec_from_conf

    spec = model_spec_from_conf("deberta-v3-base")
    spec.arch["num_hidden_layers"] = 12
    spec.arch["vocab_size"] = 1000  # the embedding size does not matter for the adapter file
    spec.random_init = True
    adapted = attach_method(build_model(spec, "sequence_classification", 2), "dcft", {"kernel": 8})
    save_adapter(adapted, tmp_path / "a")
    size = (tmp_path / "a" / "adapter.safetensors").stat().st_size
    assert 4 * 25_344 <= size < 4 * 25_344 + 40_000  # ~120 KB: 25,344 floats + a header naming 216 tensors
    head = (tmp_path / "a" / "head.safetensors").stat().st_size
    assert 4 * 592_130 <= head < 4 * 592_130 + 2_000  # pooler + classifier; the backbone would be ~700 MB


def test_dcft_merge_on_model_keeps_logits():
    adapted = apply_method(tiny_model("bert"), "dcft", {"kernel": 4, "stride": 3, "scaling": 5.0})
    x = torch.randint(5, 1000, (2, 7))
    before = adapted.model(input_ids=x).logits
    layers = [m for m in adapted.model.modules() if isinstance(m, DCFTLinear)]
    for layer in layers:
        layer.merge()
    torch.testing.assert_close(adapted.model(input_ids=x).logits, before, rtol=1e-5, atol=1e-5)


def test_orthogonality_regularizer_matches_formula():
    adapted = apply_method(tiny_model("roberta"), "dcft", {"kernel": 4, "rank": 2, "orth_coef": 0.1})
    layers = [m for m in adapted.model.modules() if isinstance(m, DCFTLinear)]
    eye = torch.eye(2)
    terms = []
    for m in layers:
        terms += [torch.linalg.norm(m.dcft_B.T @ m.dcft_B - eye), torch.linalg.norm(m.dcft_A @ m.dcft_A.T - eye)]
    expected = torch.stack(terms).mean()
    torch.testing.assert_close(orthogonality_regularizer(adapted.model), expected)
    assert adapted.regularizer is not None and adapted.regularizer_coef == 0.1
    assert apply_method(tiny_model("roberta"), "dcft", {"kernel": 4}).regularizer is None  # γ = 0 costs nothing


def test_adalora_ranks_shrink_when_the_schedule_runs():
    adapted = apply_method(tiny_model("bert"), "adalora", {"init_r": 4, "target_r": 1, "tinit": 2, "tfinal": 2,
                                                            "delta_t": 1}, total_steps=12)
    model = adapted.model
    opt = torch.optim.AdamW([p for _, p in adapted.trainable_named_parameters()], lr=1e-2)
    budget = 4 * 12  # init_r × adapted layers
    for step in range(12):
        x = torch.randint(5, 1000, (4, 9))
        loss = model(input_ids=x, labels=torch.randint(0, 2, (4,))).loss
        loss.backward()
        opt.step()
        adapted.after_step(step)
        opt.zero_grad()
    assert model.peft_config["default"].rank_pattern, "the final budget was never fixed"
    end = sum(adapted.final_state()["rank_pattern"].values())
    assert 0 < end < budget, (end, budget)


def test_adalora_schedule_is_scaled_to_short_runs():
    with pytest.warns(UserWarning, match="scaled"):
        adapted = apply_method(tiny_model("bert"), "adalora", {"tinit": 600, "tfinal": 1800}, total_steps=50)
    assert adapted.settings["tinit"] + adapted.settings["tfinal"] < 50 and adapted.settings["schedule_scaled"]


def test_unknown_method_and_setting_say_what_is_valid():
    with pytest.raises(ValueError, match="choose one of"):
        method_settings("lorax")
    with pytest.raises(ValueError, match="valid: kernel, stride"):
        method_settings("dcft", {"kernal": 3})


@pytest.mark.parametrize("options,message", [
    ({"kernel": 4, "stride": 5}, "dcft: stride=5 is invalid for kernel=4; allowed 1 <= stride <= kernel"),
    ({"kernel": 0}, "dcft: kernel=0 is invalid; the kernel size must be an integer >= 1"),
    ({"kernel": "abc"}, "dcft: kernel='abc' is invalid"),
    ({"rank": 0}, "dcft: rank=0 is invalid; the subspace rank must be an integer >= 1"),
    ({"impl": "cuda"}, "dcft: impl='cuda' is unknown; choose one of fast, reference"),
    ({"targets": "q,z"}, "targets: unknown group 'z'"),
])
def test_dcft_settings_are_checked_when_built(options, message):
    """As PEFT's configs: a bad setting fails before any model is touched, with the layer check's wording."""
    with pytest.raises(ValueError) as err:
        method_settings("dcft", options)
    assert str(err.value).startswith(message)


def test_tags_name_every_structural_setting():
    """One tag per method structure: rank, targets, kernel, stride all show; target spellings do not."""
    assert method_tag("dcft", {"kernel": 8}) == "dcft-d8-s8"
    assert method_tag("dcft", {"kernel": 8, "stride": 2, "rank": 2, "targets": "Q,K,V,O,FFN_OUT"}) == \
        "dcft-d8-s2-k2-qkvo_paper"
    assert method_tag("lora", {"r": 8, "targets": "qv"}) == method_tag("lora", {"r": 8, "targets": ["V", "Q"]}) \
        == "lora-r8-qv"
    assert method_tag("lora", {"r": 1}) == "lora-r1" and method_tag("dora", {"r": 2}) == "dora-r2"
    assert method_tag("lora_fa", {"r": 1, "targets": "q,k,v"}) == "lora_fa-r1-qkv"
    assert method_tag("ia3", {}) == "ia3" and method_tag("ia3", {"targets": "all"}) == "ia3-all"
    assert method_tag("adalora", {"init_r": 3, "target_r": 1}) == "adalora-r3-t1"
    assert targets_name("q,ffn_in") == "q+ffn_in"
    assert method_tag("hadapter", {}) == "hadapter-b8" and method_tag("padapter", {}) == "padapter-b16"
    assert method_tag("padapter", {"bottleneck": 8, "activation": "gelu"}) == "padapter-b8"
    assert method_tag("sora", {}) == "sora-r8" and method_tag("sora", {"r_max": 4, "targets": "qv"}) == "sora-r4-qv"
    assert method_tag("c3a", {}) == "c3a-bmax" and method_tag("c3a", {"block_size": 256, "targets": "all"}) == \
        "c3a-b256-all"
    assert method_tag("fourierft", {}) == "fourierft-n352" and method_tag("waveft", {"n_frequency": 208}) == \
        "waveft-n208"


@pytest.mark.parametrize("method,options,message", [
    ("hadapter", {"bottleneck": 0}, "hadapter: bottleneck=0 must be an integer >= 1"),
    ("padapter", {"activation": "elu"}, "padapter: activation='elu' is unknown; choose one of relu, gelu"),
    ("sora", {"prox": "hard"}, "sora: prox='hard' is unknown; choose one of released, soft"),
    ("sora", {"xi": -1}, "sora: xi=-1 must be >= 0"),
    ("sora", {"gate_lr": 0}, "sora: gate_lr=0 must be > 0 or null"),
    ("c3a", {"block_size": 0}, "c3a: block_size=0 must be an integer >= 1"),
    ("c3a", {"init": "ones"}, "c3a: init='ones' is unknown"),
    ("fourierft", {"n_frequency": 2.5}, "fourierft: n_frequency=2.5 must be an integer >= 1"),
    ("waveft", {"wavelet_family": ""}, "waveft: wavelet_family='' must name a wavelet"),
])
def test_new_methods_settings_are_checked_when_built(method, options, message):
    with pytest.raises(ValueError) as err:
        method_settings(method, options)
    assert str(err.value).startswith(message)


def test_c3a_block_size_that_does_not_fit_says_which_does():
    with pytest.raises(ValueError, match=r"c3a: block_size=12 does not divide .* divisor of 32"):
        apply_method(tiny_model("bert"), "c3a", {"block_size": 12})
    adapted = apply_method(tiny_model("bert"), "c3a", {"targets": "all"})  # 32x32 and 32x64 layers: b = 32
    assert adapted.final_state() == {"block_size": 32}
    assert adapted.counts()["trainable_params"] == 2 * (4 * 32 * 32 + 2 * 32 * 64) // 32


def test_the_method_library_imports_with_torch_only():
    """`dcft.methods` and the layer can be lifted out: PEFT, transformers and accelerate load on first use only."""
    import subprocess
    import sys

    code = ("import sys; import dcft.methods; from dcft.methods import DCFTLinear, method_tag; "
            "from dcft.methods.dcft_layer import DCFTLinear as L; method_tag('lora', {'r': 2}); "
            "print(sorted(m for m in ('peft', 'transformers', 'accelerate', 'hydra', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
