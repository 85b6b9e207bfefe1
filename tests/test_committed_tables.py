"""The committed tables are what `make tables` renders from the committed records: nobody hand-edits a number,
and a record committed without rerunning `make tables` (or a table left from records since removed) fails here."""

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

from dcft.paths import SHIPPED_GLUE
from dcft.results import render

RENDERED_TEXT = (".md", ".csv", ".tex")  # figures are images: their bytes depend on the matplotlib build


def tracked(pattern: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", pattern], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: which records are committed is unknown")
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def test_committed_tables_are_make_tables_of_the_committed_records(tmp_path):
    # only committed records (a study running in this checkout is ignored): the runs, and the studies' doubling checks
    for record in tracked("results/runs") + tracked("results/*/schedule-check/runs/*"):
        copy = tmp_path / "results" / record.relative_to(ROOT / "results")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record, copy)
    render(tmp_path / "results", tmp_path / "out", data_dir=SHIPPED_GLUE)  # as `make tables` (figures named)
    fresh = {p.name: p.read_text() for p in (tmp_path / "out" / "tables").iterdir() if p.suffix in RENDERED_TEXT}
    committed = {p.name: p.read_text() for p in tracked("results/tables") if p.suffix in RENDERED_TEXT}
    assert sorted(committed) == sorted(fresh), "run `make tables` and commit results/tables"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"results/tables/{stale} differ from `make tables` of the committed records: rerun and commit"
