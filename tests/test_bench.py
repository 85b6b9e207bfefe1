"""The benchmark suite: a one-step smoke run on a tiny DeBERTa writes every field; targets, markdown,
README refresh and the memory tracker on hand-made inputs (the fused path's exactness: test_dcft_layer.py)."""

from __future__ import annotations

import json

import pytest
import torch

from dcft.bench import BenchConfig, report, run_bench
from dcft.bench import cases as C
from dcft.bench.timing import PeakTensorMemory, interleave, summarize
from dcft.params import model_spec_from_conf

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, vocab_size=1000,
            max_position_embeddings=64, position_buckets=16, pooler_hidden_size=32)
CASE_FIELDS = ("name", "method", "settings", "step_time_median_s", "step_time_min_s", "step_time_max_s",
               "cpu_time_median_s", "ratio_to_lora", "peak_memory_mb", "peak_memory_ratio_to_lora",
               "optimizer_state_bytes", "optimizer_state_ratio_to_lora", "adapter_bytes", "adapter_ratio_to_lora",
               "trainable_params", "trainable_params_ratio_to_lora")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    readme = out / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold\n{report.README_END}\nrest\n")
    cfg = BenchConfig(batch=2, seq=16, steps=1, warmup=1, focus_steps=1, layer_steps=1, eval_steps=1, threads=1,
                      device="cpu", quick=True, rss="lora-r1", out=str(out), arch=TINY, readme=str(readme))
    results, json_path, md_path = run_bench(cfg)
    return results, json_path, md_path, out


@pytest.mark.slow
def test_smoke_run_writes_every_field(smoke):
    results, json_path, md_path, out = smoke
    data = json.loads(json_path.read_text())
    assert json_path.parent == out and json_path.name.startswith(data["run_info"]["machine"]["slug"])
    for key in ("command", "date", "machine", "versions", "threads", "allocator", "config"):
        assert data["run_info"][key] is not None, key
    names = [c["name"] for c in data["cases"]]
    assert names == [c.name for c in C.training_cases(quick=True)]
    for case in data["cases"]:
        assert "error" not in case, case.get("error")
        missing = [f for f in CASE_FIELDS if case.get(f) is None]
        assert not missing, (case["name"], missing)
    lora = next(c for c in data["cases"] if c["name"] == "lora-r1")
    assert lora["ratio_to_lora"] == 1.0 and lora["peak_rss_mb"] > 0  # the probe ran in its own process
    assert next(c for c in data["cases"] if c["name"] == "dcft-fast-d8-s8")["timed_steps"] == 2  # + focus round
    assert {(r["in_features"], r["out_features"]) for r in data["layer_cases"]} == {(32, 32), (32, 64), (64, 32)}
    assert all(r["step_time_median_s"] and r["ratio_to_lora"] for r in data["layer_cases"])
    assert {e["name"] for e in data["eval_cases"]} >= {"plain", "dcft-fast-d8-merged"}
    assert all(e["tokens_per_s"] and e["ratio_to_plain"] for e in data["eval_cases"])
    assert [t["id"] for t in data["targets"]] == [t[0] for t in report.TARGETS]
    assert all(t["measured"] is not None and isinstance(t["passed"], bool) for t in data["targets"])
    text = md_path.read_text()
    assert "## Targets" in text and "dcft-reference-d8-s8" in text and (out / "latest.md").read_text() == text
    readme = (out / "README.md").read_text()
    assert readme.startswith("intro\n") and readme.endswith("rest\n")
    assert "\nold\n" not in readme and "## Targets" in readme


def test_targets_pass_fail_and_not_measured():
    def case(name, t, mem=10.0):
        return {"name": name, "step_time_median_s": t, "peak_memory_mb": mem}

    cases = [case("lora-r1", 1.0), case("dcft-fast-d8-s8", 0.9, 9.0), case("dcft-fast-d2-s2", 1.2),
             case("dcft-reference-d8-s8", 1.8)]
    evals = [{"name": "plain", "step_time_median_s": 1.0}, {"name": "dcft-fast-d8-merged", "step_time_median_s": 1.02}]
    info = {"date": "2026-01-01T00:00:00", "machine": {"slug": "m", "cpu": "c"}, "threads": 1, "command": "x",
            "versions": {"torch": "t"}, "config": {"model": "m", "batch": 1, "seq": 1, "steps": 1, "warmup": 1},
            "allocator": "default", "frozen_baseline": "f"}
    results = report.assemble(info, cases, [], evals)
    got = {t["id"]: t for t in results["targets"]}
    assert got["fast_d8_s8_step_vs_lora"]["passed"] and got["fast_d8_s8_step_vs_lora"]["stretch_passed"]
    assert got["fast_d2_step_vs_lora"]["passed"] is False
    assert got["fast_s1_step_vs_lora"]["passed"] is None  # no such case in this run
    assert got["fast_vs_reference_d8"]["measured"] == pytest.approx(2.0) and got["fast_vs_reference_d8"]["passed"]
    assert got["fast_d8_peak_memory_vs_lora"]["measured"] == pytest.approx(0.9)
    assert got["merged_eval_vs_plain"]["passed"]
    assert cases[1]["ratio_to_lora"] == pytest.approx(0.9)
    assert "not measured" in report.to_markdown(results) and "FAIL" in report.to_markdown(results)


def test_readme_without_markers_is_untouched(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("no markers\n")
    assert report.update_readme(path, "# Benchmark\n") is False and path.read_text() == "no markers\n"


def test_peak_tensor_memory_counts_live_storages_once():
    keep = torch.zeros(1000)
    with PeakTensorMemory("cpu", [keep]) as tracker:
        a = torch.ones(2000)
        view = a[:10]  # a view: no new storage
        b = a * 2  # 8000 bytes more, then both freed
        del a, b, view
        c = torch.ones(500)
    assert tracker.baseline == 4000
    assert tracker.peak == 4000 + 8000 + 8000
    assert tracker.current == 4000 + 2000 and c.numel() == 500


def test_interleave_rotates_and_skips_warmup():
    order = []
    samples = interleave({n: (lambda n=n: order.append(n)) for n in "abc"}, rounds=2, warmup=1,
                         device=torch.device("cpu"))
    assert order == list("abcbcacab") and all(len(v) == 2 for v in samples.values())
    assert summarize(samples["a"])["n"] == 2 and summarize([])["median_s"] is None


def test_cases_share_frozen_weights_and_own_what_they_train():
    spec = model_spec_from_conf("deberta-v3-base")
    spec.random_init = True
    spec.arch.update(TINY)
    backbone = C.build_backbone(spec, torch.device("cpu"))
    batch = C.make_batch(1000, 2, 8, torch.device("cpu"))
    tc = C.build_training_case(C.CaseSpec("frozen", "frozen"), spec, backbone, batch)
    shared = {t.untyped_storage().data_ptr() for t in backbone.state_dict().values()}
    model = tc.adapted.model
    frozen_w = model.deberta.encoder.layer[0].attention.self.query_proj.weight
    assert frozen_w.untyped_storage().data_ptr() in shared
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.untyped_storage().data_ptr() not in shared for p in trainable)
    before = backbone.state_dict()["deberta.embeddings.LayerNorm.weight"].clone()
    tc.prime_optimizer()
    tc.step()
    assert torch.equal(backbone.state_dict()["deberta.embeddings.LayerNorm.weight"], before)  # backbone untouched
    assert model.deberta.embeddings.word_embeddings.weight.grad is None  # backward ran, only the bottom norm trains
