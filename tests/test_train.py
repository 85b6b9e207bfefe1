"""The training loop on tiny random-init models: every method runs, records are complete, cells behave."""

import json
from pathlib import Path

import pytest
import torch
from conftest import METHOD_OVERRIDES, compose_and_run, short_run, write_rte


@pytest.fixture
def rte_dir(tmp_path):
    return write_rte(tmp_path / "glue")


@pytest.mark.parametrize("method", sorted(METHOD_OVERRIDES))
def test_every_method_trains_and_writes_a_complete_record(tmp_path, rte_dir, minilm_dir, method):
    results = tmp_path / "results"
    record, cfg = compose_and_run(short_run(minilm_dir, rte_dir, results, *METHOD_OVERRIDES[method]))
    assert record["status"] == "finished" and record["step"] == 3 and record["method"] == method
    assert record["best"]["step"] in (2, 3) and record["final"]["step"] == 3
    assert 0 <= record["final"]["metrics"]["accuracy"] <= 100
    assert record["params"]["trainable"] > 0 and record["params"]["head"] > 0
    for key in ("train_time_s", "eval_time_s", "samples_per_s", "peak_memory_mb", "versions", "device", "command",
                "threads", "computing"):
        assert record[key] is not None, key
    assert record["versions"]["dcft-harness"] and record["versions"]["torch"]  # the code's version, git or not
    # the CPU and its kernel level: same libraries on CPUs with other kernels differ in the last bits
    assert record["device"].startswith("cpu (") and torch.backends.cpu.get_cpu_capability() in record["device"]
    assert record["settings_id"] == cfg.cell.settings_id and record["hparams_set"] == "released"
    run_dir = Path(cfg.run_dir)
    store = results / "runs" / "bert-base" / "rte" / cfg.method_tag / cfg.cell.settings_id / f"lr{cfg.trainer.lr:g}"
    assert json.loads((store / "seed6.json").read_text()) == json.loads((run_dir / "record.json").read_text())
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in steps if "loss" in e] == [1, 2, 3]
    assert [e["step"] for e in steps if "eval" in e] == [2, 3]
    predictions = (run_dir / "predictions_validation.jsonl").read_text().splitlines()
    assert len(predictions) == 10 and {"idx", "prediction", "label"} <= set(json.loads(predictions[0]))
    assert (run_dir / "adapter" / "adapter.safetensors").exists() and (run_dir / "config.yaml").exists()
    if method == "adalora":
        assert record["method_state"]["rank_pattern"]
    if method == "sora":  # the table's #Params: nonzero_params; the record's params.trainable: every rank on
        state = record["method_state"]
        assert state["dense_params"] == record["params"]["trainable"] > state["nonzero_params"] > 0
        assert len(state["effective_rank"]) == 12 and min(state["effective_rank"].values()) < 4
        assert state["nonzero_params_history"][0] == [0, state["dense_params"]]
        assert state["nonzero_params_history"][-1][1] == state["nonzero_params"]
    if method == "dcft":
        assert "regularizer" in steps[0]  # γ·R is logged apart from the task loss


def test_finished_cell_is_skipped_unless_overwrite(tmp_path, rte_dir, minilm_dir, capsys):
    args = short_run(minilm_dir, rte_dir, tmp_path / "r", "method=lora")
    first, cfg = compose_and_run(args)
    mtime = (Path(cfg.run_dir) / "record.json").stat().st_mtime_ns
    again, _ = compose_and_run(args)
    assert "already finished" in capsys.readouterr().out
    assert again == first and (Path(cfg.run_dir) / "record.json").stat().st_mtime_ns == mtime
    rerun, _ = compose_and_run([*args, "overwrite=true"])
    assert rerun["status"] == "finished" and (Path(cfg.run_dir) / "record.json").stat().st_mtime_ns != mtime


def test_grad_accumulation_counts_optimizer_steps(tmp_path, rte_dir, minilm_dir):
    record, cfg = compose_and_run(short_run(minilm_dir, rte_dir, tmp_path / "r", "trainer.grad_accum=2",
                                            "trainer.max_steps=null", "trainer.epochs=2"))
    # 24 examples / batch 8 = 3 micro-batches per epoch -> 2 optimizer steps per epoch (the last one partial)
    assert record["total_steps"] == 4 and record["step"] == 4


def test_wandb_runs_offline_without_a_key(tmp_path, rte_dir, minilm_dir, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    args = [a for a in short_run(minilm_dir, rte_dir, tmp_path / "r") if a != "logger=none"]
    record, cfg = compose_and_run([*args, "logger=wandb"])
    assert record["status"] == "finished"
    offline = list((Path(cfg.run_dir) / "wandb").glob("offline-run-*"))
    assert offline, "W&B should have written an offline run"


def test_bf16_mixed_precision_runs_on_cpu(tmp_path, rte_dir, minilm_dir):
    record, _ = compose_and_run(short_run(minilm_dir, rte_dir, tmp_path / "r", "trainer.mixed_precision=bf16"))
    assert record["status"] == "finished" and record["trainer"]["mixed_precision"] == "bf16"
