"""Every user mistake in README's table: one line on stderr, exit status 2, no traceback, nothing left behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, compose_and_run, short_run, write_rte

from dcft.paths import CONF_DIR


def run_in_process(overrides, capsys):
    """What run.py does after Hydra composed the config: returns (exit code, stderr)."""
    from hydra import compose, initialize_config_dir

    from dcft.cli import run_from_hydra

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with pytest.raises(SystemExit) as exit_info:
        run_from_hydra(cfg)
    return exit_info.value.code, capsys.readouterr().err


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


@pytest.fixture
def setup(tmp_path, minilm_dir):
    data = write_rte(tmp_path / "glue")
    return tmp_path, data, tmp_path / "results", minilm_dir


CASES = {
    "stride above kernel": (["method=dcft", "kernel=4", "stride=5"], "stride=5 is invalid for kernel=4"),
    "kernel larger than the layers": (["method=dcft", "kernel=64"], "kernel=64 is larger than"),
    "rank below 1": (["method=dcft", "method.rank=0"], "rank=0 is invalid"),
    "kernel not a number": (["method=dcft", "kernel=abc"], "kernel='abc' is invalid"),
    "unknown target group": (["method=dcft", "method.targets=zz"], "unknown group 'zz'"),
    "missing data dir": (["data.dir=/nonexistent/glue"], "/nonexistent/glue"),
    "unreadable model path": (["model.random_init=false", "model.path=/nonexistent/model"], "is not a directory"),
    "bad mixed precision": (["trainer.mixed_precision=fp8"], "mixed_precision"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_line_error_and_nothing_left(setup, capsys, case):
    tmp_path, data, results, minilm = setup
    extra, fragment = CASES[case]
    code, err = run_in_process(short_run(minilm, data, results, *extra), capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert "Traceback" not in err
    assert [f for f in files_under(results) if not f.startswith("cache")] == []


def test_malformed_tsv_row_names_file_and_line(setup, capsys):
    tmp_path, data, results, minilm = setup
    train = data / "RTE" / "train.tsv"
    train.write_text(train.read_text() + "99\tonly two columns\n")
    code, err = run_in_process(short_run(minilm, data, results), capsys)
    assert code == 2 and "train.tsv" in err and ":26" in err and len(err.strip().splitlines()) == 1


def test_wrong_layout_is_named(setup, capsys):
    tmp_path, data, results, minilm = setup
    (data / "RTE" / "train.tsv").write_text("gj04\t1\t\tOur friends won't buy this analysis.\n")  # a CoLA file
    code, err = run_in_process(short_run(minilm, data, results), capsys)
    assert code == 2 and "train.tsv" in err and len(err.strip().splitlines()) == 1


def test_unwritable_results_dir(setup, capsys):
    tmp_path, data, results, minilm = setup
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run_in_process(short_run(minilm, data, blocker / "results"), capsys)
    assert code == 2 and "not writable" in err


def test_a_changed_setting_is_a_new_cell_and_leaves_the_interrupted_one_alone(setup):
    """Resuming with other settings cannot mix two computations: they are two cells."""
    tmp_path, data, results, minilm = setup
    args = short_run(minilm, data, results, "trainer.checkpoint_every=1", "trainer.max_steps=2",
                     "trainer.keep_checkpoints_when_finished=true")
    _, first = compose_and_run(args)
    for path in results.rglob("seed6.json"):  # fake an interrupted cell: no record, checkpoints left
        path.unlink()
    (Path(first.run_dir) / "record.json").unlink()
    kept = sorted(p.name for p in (Path(first.run_dir) / "checkpoints").iterdir())
    record, second = compose_and_run([*args, "trainer.weight_decay=0.5"])
    assert record["status"] == "finished" and second.run_dir != first.run_dir
    assert sorted(p.name for p in (Path(first.run_dir) / "checkpoints").iterdir()) == kept
    assert not (Path(first.run_dir) / "record.json").exists()


@pytest.mark.parametrize(
    "override,fragment",
    [("method.kernal=3", "Could not override 'method.kernal'"), ("kernel=abc", "kernel='abc' is invalid"),
     ("method.targets=zz", "targets: unknown group 'zz'"),
     ("method=lora kernel=2", "kernel=2 is a DCFT setting; method=lora does not use it")],
)
def test_setting_mistakes_are_reported_without_a_traceback(tmp_path, override, fragment):
    out = subprocess.run([sys.executable, "run.py", *override.split(), f"results_dir={tmp_path}", "dry_run=true"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and fragment in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "override,fragment",
    [("task=foo", "Could not find 'task/foo'"), ("method=lorax", "Could not find 'method/lorax'"),
     ("model=gpt9", "Could not find 'model/gpt9'")],
)
def test_unknown_choices_list_the_options(tmp_path, override, fragment):
    out = subprocess.run([sys.executable, "run.py", override, f"results_dir={tmp_path}", "dry_run=true"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and fragment in out.stderr and "Available options" in out.stderr
    assert "Traceback" not in out.stderr and not any(tmp_path.iterdir())


def test_unreachable_hub_while_offline(setup, capsys, monkeypatch):
    tmp_path, data, results, minilm = setup
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    args = [a for a in short_run(minilm, data, results) if not a.startswith("data.dir")]
    code, err = run_in_process(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("error: ") and "data.dir" in lines[-1], err
    assert lines[:-1] == ["loading dataset nyu-mll/glue/rte from the local cache (hub unreachable or HF_HUB_OFFLINE=1)"]
    assert os.environ["HF_HUB_OFFLINE"] == "1"
