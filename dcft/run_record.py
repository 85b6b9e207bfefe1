"""A run's record: one builder for every status (running, finished, failed, diverged, preempted), where it is
written, and the cell lock that keeps two writers apart. The tables read these files (dcft.results)."""

from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import socket
import subprocess
import sys
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from dcft.errors import UserError
from dcft.hardware import device_description
from dcft.io_utils import atomic_write_json, jsonable
from dcft.threads import pid_alive

SCHEMA = 2  # 2: cells carry a settings id; records hold `settings_id`, `hparams_set` and `computing`


def read_record(path: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_record(record: dict[str, Any], *paths: str | Path) -> None:
    for path in paths:
        atomic_write_json(path, record)


def build_record(cfg: Any, status: str, *, error: str | None = None, run: Any = None) -> dict[str, Any]:
    """The record of `cfg`'s cell. `run` (the trainer, once it started) adds what the run measured; without it
    (a job that failed before training) the record still names its cell, settings and command."""
    cell = cfg.cell
    record: dict[str, Any] = {
        "schema": SCHEMA, "status": status, "model": cfg.model.name, "model_source": cfg.model.source,
        "task": cfg.task, "method": cfg.method, "method_tag": cell.method_tag, "settings_id": cell.settings_id,
        "hparams_set": cfg.hparams_set, "method_settings": cfg.method_options, "seed": cfg.seed, "lr": cell.lr,
        "params": {}, "main_metric": None, "reporting_rule": cfg.trainer.reporting_rule, "reported": None,
        "best": None, "final": None, "run_dir": cfg.run_dir, "trainer": asdict(cfg.trainer),
        "computing": cfg.computing, "overrides": _overrides(), "error": error, **environment(),
    }
    if run is not None:
        record.update(run.measurements(status))
    if status == "running":
        record["process"] = writer_process()
    return json.loads(json.dumps(record, default=jsonable))  # exactly what readers of the file will see


def downsample(points: list, limit: int = 500) -> list:
    """At most ~`limit` points of a curve, always keeping the last one."""
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    return points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])


def writer_process() -> dict[str, Any]:
    """Who writes a running record: a job killed outright (kill -9, a lost node) never rewrites its `running`,
    and this lets a reader tell such a record from a live run."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job": os.environ.get("SLURM_JOB_ID")}


def live_status(record: dict[str, Any]) -> str:
    """A record's status as it stands now: `running` whose writer is gone from this host reads `stopped` (it
    resumes from its last checkpoint when relaunched); a writer on another host cannot be checked from here."""
    status = record.get("status", "unreadable")
    process = record.get("process") or {}
    if status != "running" or process.get("host") != socket.gethostname() or not process.get("pid"):
        return status
    return "running" if _python_alive(int(process["pid"])) else "stopped"


def _python_alive(pid: int) -> bool:
    """A live python process has this pid (a pid reused by another program does not count)."""
    if not pid_alive(pid):
        return False
    try:
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS), or another user's process: alive is all we know


def environment() -> dict[str, Any]:
    """Library versions, device and code version: what a reader needs to trust a number."""
    versions = {"python": platform.python_version()}
    for package in ("dcft-harness", "torch", "transformers", "peft", "accelerate", "datasets"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"versions": versions, "device": device_description(), "git_commit": _git_commit(), "command": _command()}


def _git_commit() -> str | None:
    """The checkout's commit, or None for an installed package (versions['dcft-harness'] names the code)."""
    try:
        root = Path(__file__).resolve().parents[1]
        if not (root / ".git").exists():
            return None
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _command() -> str:
    return " ".join(["python", *[os.path.basename(sys.argv[0]) if i == 0 else a for i, a in enumerate(sys.argv)]])


def _overrides() -> list[str]:
    from dcft.config import hydra_overrides

    return hydra_overrides()


class CellBusy(UserError):
    """Another process holds the cell: its record is that process's to write."""


class CellLock:
    """An exclusive, non-blocking lock on a run directory: a second writer is refused, not interleaved."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self.handle = None

    def __enter__(self) -> CellLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")  # noqa: SIM115 (held for the whole run)
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise CellBusy(
                f"{self.path.parent} is being written by another process; wait for it or pick another seed"
            ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
