"""Two CPU processes (accelerate launch, gloo) for every method: DDP works and dev counts match one process."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, short_run, write_rte

METHODS = ["dcft", "lora", "dora", "lora_fa", "adalora", "ia3", "vera", "full", "bitfit", "hadapter", "padapter",
           "sora", "c3a", "fourierft", "waveft"]


@pytest.mark.slow
def test_every_method_runs_on_two_processes(tmp_path, minilm_dir):
    data, results = write_rte(tmp_path / "glue", n_train=24, n_dev=11), tmp_path / "r"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "run.py", "-m", *short_run(minilm_dir, data, results), f"method={','.join(METHODS)}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    records = {r["method"]: r for r in (json.loads(p.read_text()) for p in (results / "runs").rglob("*.json"))}
    assert sorted(records) == sorted(METHODS)
    for method, record in records.items():
        assert record["status"] == "finished" and record["num_processes"] == 2, method
        run_dir = Path(record["run_dir"])
        predictions = run_dir / "predictions_validation.jsonl"
        # 11 dev examples do not split evenly over 2 processes: gather_for_metrics must drop the padding
        assert len(predictions.read_text().splitlines()) == 11, method
    assert records["adalora"]["method_state"]["rank_pattern"]
    assert records["sora"]["method_state"]["nonzero_params"] > 0
