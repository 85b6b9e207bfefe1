"""Run records: where they live, what they hold, and the cell lock that keeps two writers apart."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from dcft.errors import UserError
from dcft.io_utils import atomic_write_json

SCHEMA = 1
STATUSES = ("running", "finished", "failed", "diverged", "preempted")


def store_path(results_dir: str, model: str, task: str, tag: str, lr: float, seed: int) -> Path:
    """The record store tables are built from: runs/<model>/<task>/<method_tag>/lr<lr>/seed<k>.json."""
    return Path(results_dir) / "runs" / model / task / tag / f"lr{lr:g}" / f"seed{seed}.json"


def read_record(path: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_record(record: dict[str, Any], *paths: Path) -> None:
    for path in paths:
        atomic_write_json(path, record)


def failed_record(cfg: Any, error: str) -> dict[str, Any]:
    """What a sweep keeps of a job that could not start (bad setting, missing data): status and reason."""
    return {
        "schema": SCHEMA, "status": "failed", "model": cfg.model.name, "task": cfg.task, "method": cfg.method,
        "method_tag": cfg.method_tag, "method_settings": cfg.method_options, "seed": cfg.seed, "lr": cfg.trainer.lr,
        "params": {}, "best": None, "final": None, "error": error, "run_dir": cfg.run_dir,
    }


def environment() -> dict[str, Any]:
    """Library versions, device and git commit: what a reader needs to trust a number."""
    import accelerate
    import datasets
    import peft
    import torch
    import transformers

    versions = {
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "accelerate": accelerate.__version__, "datasets": datasets.__version__,
    }
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or 'x86'})"
    return {"versions": versions, "device": device, "git_commit": _git_commit(), "command": _command()}


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _command() -> str:
    return " ".join(["python", *[os.path.basename(sys.argv[0]) if i == 0 else a for i, a in enumerate(sys.argv)]])


class CellLock:
    """An exclusive, non-blocking lock on a run directory: a second writer is refused, not interleaved."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self.handle = None

    def __enter__(self) -> CellLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")  # noqa: SIM115 (held for the whole run)
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise UserError(
                f"{self.path.parent} is being written by another process; wait for it or pick another seed"
            ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
