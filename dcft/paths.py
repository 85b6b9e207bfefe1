"""Where things live: the packaged Hydra configs, and the layout of a results folder. Standard library only,
so every layer (the torch-free tables included) reads the layout from here.

    <results_dir>/outputs/<cell>/      a run's directory: config, metrics.jsonl, record.json, adapter/, checkpoints/
    <results_dir>/runs/<cell>.json     the record store the tables are built from
    <results_dir>/cache/               tokenised datasets
    <results_dir>/tables/, figures/, bench/
    <results_dir>/<model>/schedule-check/  a study's doubled-schedule runs: a results root of its own (runs/, ...)
    <cell> = <model>/<task>/<method tag>/<settings id>/lr<lr>/seed<seed>   (dcft.cells)
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR / "conf"  # the Hydra config tree, shipped inside the package (works from a wheel)
SHIPPED_GLUE = PACKAGE_DIR.parent / "data" / "glue"  # RTE, CoLA, STS-B in a checkout (data/README.md); not in a wheel

OUTPUTS, RUNS, CACHE, TABLES, FIGURES, BENCH = "outputs", "runs", "cache", "tables", "figures", "bench"


def cell_path(model: str, task: str, method_tag: str, settings_id: str, lr: float, seed: int) -> PurePosixPath:
    """A cell's relative path: one per (model, task, method, settings, lr, seed)."""
    return PurePosixPath(model, task, method_tag, settings_id, f"lr{float(lr):g}", f"seed{seed}")


def outputs_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / OUTPUTS


def runs_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / RUNS


def cache_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / CACHE


def tables_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / TABLES


def figures_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / FIGURES


def bench_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / BENCH


def schedule_checks_dir(results_dir: str | Path, model: str) -> Path:
    """The results root of a study's doubling checks (make study-checks): apart from `runs/`, so the tables never
    mix the doubled runs with the study's; the model's summary reports them."""
    return Path(results_dir) / model / "schedule-check"


def run_dir(results_dir: str | Path, cell: PurePosixPath) -> Path:
    return outputs_dir(results_dir) / cell


def record_path(results_dir: str | Path, cell: PurePosixPath) -> Path:
    return runs_dir(results_dir) / cell.parent / f"{cell.name}.json"
