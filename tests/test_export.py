"""`python -m dcft.export`: a plain transformers directory that reproduces the run's dev predictions."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import METHOD_OVERRIDES, ROOT, compose_and_run, short_run, write_rte
from transformers import AutoModelForSequenceClassification

from dcft.export import main
from dcft.setup import build_data

MERGING = {m: o for m, o in METHOD_OVERRIDES.items() if m not in ("hadapter", "padapter")}  # adapters can't merge
FAST = ("dcft", "lora", "sora")


@pytest.fixture(scope="module")
def rte(tmp_path_factory):
    return write_rte(tmp_path_factory.mktemp("glue"))


def train(minilm_dir, rte, results, overrides):
    # lr large enough that the adapter moves away from its init within 3 steps
    return compose_and_run(short_run(minilm_dir, rte, results, "trainer.lr=0.02", "trainer.warmup_steps=0",
                                     *overrides))


def plain_predictions(cfg, out_dir):
    """The exported model, loaded by transformers alone, scored on the run's dev features with the task's rule."""
    model = AutoModelForSequenceClassification.from_pretrained(out_dir).eval()
    task, data, _, loaders = build_data(cfg, 1)
    with torch.no_grad():
        logits = np.concatenate([model(**{k: v for k, v in b.items() if k != "labels"}).logits.numpy()
                                 for b in loaders[0]])
    return task.score(data.evals[0], {"logits": logits})[1], logits


@pytest.mark.parametrize("method", [pytest.param(m, marks=() if m in FAST else pytest.mark.slow) for m in MERGING])
def test_export_reproduces_the_runs_dev_predictions(tmp_path, minilm_dir, rte, method, capsys):
    record, cfg = train(minilm_dir, rte, tmp_path / "r", MERGING[method])
    out = tmp_path / "exported"
    assert main([cfg.run_dir, str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    run_dir = Path(cfg.run_dir)
    expected = [json.loads(line) for line in (run_dir / "predictions_validation.jsonl").read_text().splitlines()]
    predictions, logits = plain_predictions(cfg, out)
    assert predictions == expected
    fresh = AutoModelForSequenceClassification.from_config(
        AutoModelForSequenceClassification.from_pretrained(out).config)
    exported = AutoModelForSequenceClassification.from_pretrained(out)
    assert set(exported.state_dict()) == set(fresh.state_dict())  # the plain architecture, nothing left over
    assert exported.config.id2label == {0: "entailment", 1: "not_entailment"}
    assert (out / "tokenizer_config.json").exists()


def test_exported_directory_loads_without_project_code(tmp_path, minilm_dir, rte):
    """A fresh interpreter that never imports dcft gets the same logits."""
    record, cfg = train(minilm_dir, rte, tmp_path / "r", MERGING["dcft"])
    out = tmp_path / "exported"
    assert main([cfg.run_dir, str(out)]) == 0
    _, logits = plain_predictions(cfg, out)
    task, data, _, loaders = build_data(cfg, 1)
    batches = [{k: v.tolist() for k, v in b.items() if k != "labels"} for b in loaders[0]]
    (tmp_path / "batches.json").write_text(json.dumps(batches))
    script = ("import json, sys, torch; from transformers import AutoModelForSequenceClassification as A\n"
              f"m = A.from_pretrained({str(out)!r}).eval()\n"
              f"bs = json.load(open({str(tmp_path / 'batches.json')!r}))\n"
              "with torch.no_grad(): out = [m(**{k: torch.tensor(v) for k, v in b.items()}).logits.tolist() "
              "for b in bs]\n"
              "assert 'dcft' not in sys.modules\nprint(json.dumps(out))")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    again = np.concatenate([np.array(b, dtype=np.float32) for b in json.loads(done.stdout.splitlines()[-1])])
    np.testing.assert_array_equal(again, logits)


@pytest.mark.parametrize("method", ["hadapter", "padapter"])
def test_methods_that_cannot_merge_are_one_line_errors(tmp_path, minilm_dir, rte, method, capsys):
    _, cfg = train(minilm_dir, rte, tmp_path / "r", [f"method={method}"])
    capsys.readouterr()  # the run's progress
    assert main([cfg.run_dir, str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: method {method} cannot be exported as a plain BertForSequenceClassification: its "
                   "adapters add modules the architecture lacks; only methods that merge into the weights export")
    assert not (tmp_path / "out").exists()


def test_bad_run_dirs_and_a_full_out_dir_are_one_line_errors(tmp_path, minilm_dir, rte, capsys):
    def error(*argv):
        capsys.readouterr()  # earlier runs' progress
        assert main([str(a) for a in argv]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        return lines[0]

    assert "is not a directory" in error(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    assert "has no config.yaml" in error(tmp_path / "empty", tmp_path / "out")
    _, cfg = train(minilm_dir, rte, tmp_path / "r", ["method=lora", "trainer.save_adapter=false"])
    assert "has no adapter/" in error(cfg.run_dir, tmp_path / "out")
    _, cfg = train(minilm_dir, rte, tmp_path / "r2", ["method=lora"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert "exists and is not empty; pass --overwrite" in error(cfg.run_dir, tmp_path / "full")
    assert main([cfg.run_dir, str(tmp_path / "full"), "--overwrite"]) == 0
    assert not (tmp_path / "full" / "x").exists()


def test_cli_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "dcft.export", str(tmp_path / "missing"), str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: run_dir=")
    assert len(done.stderr.strip().splitlines()) == 1
