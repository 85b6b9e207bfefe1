"""The edge between Hydra and the harness: typed config in, one-line errors out."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from dcft.config import from_hydra
from dcft.errors import UserError


def _in_multirun() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode == RunMode.MULTIRUN
    except Exception:
        return False


def _remove_if_empty(run_dir: Path, stop: Path) -> None:
    """Leave nothing partial behind a run that failed before it wrote anything."""
    path = run_dir
    while path != stop and path.is_dir() and stop in path.parents:
        if any(path.iterdir()):
            return
        path.rmdir()
        path = path.parent


def quiet_libraries() -> None:
    """Keep the console for our progress bar and errors: no per-dataset bars or load reports."""
    import warnings

    import datasets
    import huggingface_hub
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    huggingface_hub.utils.logging.set_verbosity_error()  # offline: no retry warnings before our one line
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """`python run.py ...`, `python -m dcft ...` and the `dcft-run` command (see README)."""
    run_from_hydra(cfg)


def run_from_hydra(cfg: DictConfig) -> None:
    """Run one job. User mistakes: one line on stderr, exit status 2 (in a sweep: the job fails, the sweep goes on)."""
    quiet_libraries()
    run_dir = Path(str(cfg.get("run_dir", "."))).resolve() if "run_dir" in cfg else None
    existed = run_dir is not None and run_dir.exists() and any(run_dir.iterdir())
    run_cfg = None
    try:
        run_cfg = from_hydra(cfg)
        if run_cfg.dry_run:
            from dcft.dry_run import dry_run

            dry_run(run_cfg)
            _cleanup(run_dir, existed, run_cfg.results_dir)
            return
        from dcft.slurm_tasks import export_torch_distributed_env

        export_torch_distributed_env()  # several srun tasks of one SLURM job: one multi-process run
        from dcft.train import Diverged, run

        try:
            record = run(run_cfg)
            _print_summary(record)
        except Diverged as exc:
            if _in_multirun():
                raise
            print(f"diverged: {exc}", file=sys.stderr)
            sys.exit(3)
    except UserError as exc:
        if run_dir is not None:
            _cleanup(run_dir, existed, str(cfg.get("results_dir", ".")))
        if _in_multirun():  # the job fails with its reason on record; the sweep goes on
            from dcft.run_record import CellBusy

            if run_cfg is not None and not isinstance(exc, CellBusy):  # a busy cell's record is its owner's
                _record_failure(run_cfg, str(exc))
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def _print_summary(record: dict) -> None:
    reported, metric = record.get("reported") or {}, record.get("main_metric")
    value = (reported.get("metrics") or {}).get(metric)
    if value is not None and record.get("status") == "finished":
        print(f"{record['model']} {record['task']} {record['method_tag']} seed {record['seed']}: "
              f"{metric} {value:.2f} at step {reported['step']} ({record['reporting_rule']} dev score); "
              f"record: {record.get('run_dir')}/record.json")


def _record_failure(cfg, error: str) -> None:
    from dcft.run_record import build_record, read_record, write_record

    previous = read_record(cfg.record_path)
    if previous and previous.get("status") == "finished":
        return  # never replace a finished result
    write_record(build_record(cfg, "failed", error=error), cfg.record_path)


def _cleanup(run_dir: Path | None, existed: bool, results_dir: str) -> None:
    if run_dir is None or existed:
        return
    stop = Path(results_dir).resolve()
    hydra_dir = run_dir / ".hydra"
    if hydra_dir.is_dir():
        shutil.rmtree(hydra_dir)
    for name in (".lock", "config.yaml", "config.json"):  # what a run writes before its first record
        if (run_dir / name).is_file() and not (run_dir / "record.json").exists():
            (run_dir / name).unlink()
    _remove_if_empty(run_dir, stop)
