"""Reliability: SIGKILL + resume equals an uninterrupted run, SIGTERM checkpoints, atomic files, divergence."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, compose_and_run, short_run, write_rte

from dcft import io_utils
from dcft.train import Diverged

# dropout on: RNG state must be restored too. Checkpoints every 2 steps, evaluations every 8.
LONG = ["trainer.max_steps=32", "trainer.eval_steps=8", "trainer.checkpoint_every=2", "trainer.batch_size=4",
        "trainer.cls_dropout=0.1"]
METHODS = {"dcft": ["method=dcft", "kernel=4"],
           "adalora": ["method=adalora", "method.tinit=1", "method.tfinal=2", "method.init_r=3"],
           # gates pruned during the run: the proximal optimizer state and the nonzero-count history must resume
           "sora": ["method=sora", "method.r_max=4", "method.xi=0.01", "trainer.lr=0.05"]}


def cell(results: Path) -> Path:
    return next((results / "outputs").rglob("seed6"))


def steps(results: Path) -> list[dict]:
    return [json.loads(x) for x in (cell(results) / "metrics.jsonl").read_text().splitlines()]


def comparable(record: dict) -> dict:
    return {k: record[k] for k in ("status", "best", "final", "step", "params")}


def run_signalled(signal_name: str, step: int, args: list[str]) -> subprocess.CompletedProcess:
    """run.py with these overrides, sent `signal_name` by itself right after it logs `step` (see signal_at_step.py)."""
    return subprocess.run([sys.executable, str(ROOT / "tests" / "signal_at_step.py"), signal_name, str(step), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def references(tmp_path_factory, minilm_dir):
    """The uninterrupted run (per method) every interrupted one must reproduce."""
    cache = {}

    def get(method):
        if method not in cache:
            tmp = tmp_path_factory.mktemp(f"ref-{method}")
            data = write_rte(tmp / "glue", n_train=40)
            record, _ = compose_and_run(short_run(minilm_dir, data, tmp / "r", *LONG, *METHODS[method]))
            cache[method] = (data, record, steps(tmp / "r"))
        return cache[method]

    return get


@pytest.mark.slow
@pytest.mark.parametrize(("method", "kill_step"), [
    ("dcft", 1),  # before the first checkpoint: the rerun starts over
    ("dcft", 9),  # after an evaluation and its checkpoint (8), with one step logged past it
    ("adalora", 4),  # step 4 logged, its checkpoint not yet written: resumes from 2, inside the budget schedule
    ("sora", 19),  # gates already pruned
])
def test_sigkill_at_any_step_then_resume_reproduces_the_record(tmp_path, minilm_dir, references, method, kill_step):
    data, ref_record, ref_steps = references(method)
    results = tmp_path / "r"
    args = short_run(minilm_dir, data, results, *LONG, *METHODS[method])
    killed = run_signalled("SIGKILL", kill_step, args)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    record_file = next(results.rglob("record.json"))
    assert json.loads(record_file.read_text())["status"] == "running"  # what a killed run leaves
    record, _ = compose_and_run(args)  # the same command again: resumes from the latest checkpoint
    assert comparable(record) == comparable(ref_record)
    if method in ("adalora", "sora"):
        assert record["method_state"] == ref_record["method_state"]  # the same ranks were pruned
    got = steps(results)
    assert [e["step"] for e in got] == [e["step"] for e in ref_steps]  # each step once
    assert [e.get("loss") for e in got] == [e.get("loss") for e in ref_steps]  # CPU: the same numbers exactly


@pytest.mark.slow
def test_sigterm_checkpoints_exits_for_requeue_and_resumes(tmp_path, minilm_dir, references):
    data, ref_record, _ = references("dcft")
    results = tmp_path / "r"
    args = short_run(minilm_dir, data, results, *[a for a in LONG if "checkpoint_every" not in a], *METHODS["dcft"])
    stopped = run_signalled("SIGTERM", 5, args)  # no periodic checkpoints: the one written on SIGTERM is all there is
    assert stopped.returncode == 75, stopped.stdout[-2000:] + stopped.stderr[-2000:]
    record = json.loads(next(results.rglob("record.json")).read_text())
    assert record["status"] == "preempted" and record["last_checkpoint"].endswith("step-5")
    resumed, _ = compose_and_run(args)
    assert comparable(resumed) == comparable(ref_record)


def test_crash_between_temp_write_and_rename_keeps_the_old_record(tmp_path, monkeypatch):
    path = tmp_path / "record.json"
    io_utils.atomic_write_json(path, {"status": "finished", "value": 1})

    def crash(*args, **kwargs):
        raise OSError("killed before rename")

    monkeypatch.setattr(io_utils.os, "replace", crash)
    with pytest.raises(OSError):
        io_utils.atomic_write_json(path, {"status": "running", "value": 2})
    assert json.loads(path.read_text()) == {"status": "finished", "value": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temp file left behind


def test_a_diverging_run_stops_with_status_diverged(tmp_path, minilm_dir):
    data = write_rte(tmp_path / "glue")
    args = short_run(minilm_dir, data, tmp_path / "r", "method=full", "trainer.lr=1e30", "trainer.max_grad_norm=null",
                     "trainer.max_steps=6", "trainer.checkpoint_every=1", "trainer.warmup_steps=0")
    with pytest.raises(Diverged, match="loss became"):
        compose_and_run(args)
    record = json.loads(next((tmp_path / "r").rglob("record.json")).read_text())
    assert record["status"] == "diverged" and record["step"] < 6 and "step" in record["error"]
    assert record["last_checkpoint"] is None or "step-" in record["last_checkpoint"]


def test_checkpoints_hold_only_trained_tensors_and_load_safely(tmp_path, minilm_dir):
    from safetensors.torch import load_file

    data = write_rte(tmp_path / "glue")
    compose_and_run(short_run(minilm_dir, data, tmp_path / "r", "trainer.checkpoint_every=1", "method=lora",
                              "trainer.keep_checkpoints_when_finished=true"))
    ckpts = sorted((tmp_path / "r").rglob("checkpoints/step-*"))
    assert [c.name for c in ckpts] == ["step-1", "step-2"]  # keep_checkpoints=2; the last step needs none
    tensors = load_file(str(ckpts[-1] / "model.safetensors"))
    assert tensors and all("lora_" in k or "classifier" in k or "pooler" in k for k in tensors)


def test_a_finished_run_deletes_its_checkpoints_and_keeps_its_result(tmp_path, minilm_dir):
    """A finished cell is skipped, never resumed: its checkpoints (Full FT: the whole model and optimizer) go."""
    data = write_rte(tmp_path / "glue")
    record, cfg = compose_and_run(short_run(minilm_dir, data, tmp_path / "r", "trainer.checkpoint_every=1"))
    run_dir = Path(cfg.run_dir)
    assert record["status"] == "finished" and record["last_checkpoint"] is None
    assert not (run_dir / "checkpoints").exists()
    assert json.loads((run_dir / "record.json").read_text())["status"] == "finished"
    assert (run_dir / "adapter").is_dir()  # the trained method is kept apart from the checkpoints
