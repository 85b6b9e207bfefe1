"""How many CPU threads a run uses: the cores it may use, shared among the harness jobs running beside it.

Two OpenMP teams of two threads on a 2-core machine run several times slower per step than two 1-thread jobs.
Under SLURM a job's cpuset is its own: all the cores it may use are ours. Otherwise the cores this process may
use are divided by the live harness jobs on the machine, counted through one small file per job in a per-user
folder, and the count is refreshed while training (jobs come and go). Other programs' load is not counted:
set trainer.threads for that. A thread count the user fixed (trainer.threads, else OMP_NUM_THREADS, which torch
itself honours and torchrun / accelerate set for multi-process runs) is kept as it is.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

REGISTRY = Path(tempfile.gettempdir()) / f"dcft-jobs-{os.getuid()}"


def pid_alive(pid: int) -> bool:
    """A process with this pid exists on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_jobs(registry: Path = REGISTRY) -> int:
    """Harness jobs running on this machine (this one included); stale entries are removed."""
    count = 0
    for entry in registry.glob("*.pid") if registry.is_dir() else []:
        try:
            pid = int(entry.stem)
        except ValueError:
            continue
        if pid_alive(pid):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return max(count, 1)


def fixed_threads(setting: int | None) -> int | None:
    """trainer.threads, else a positive OMP_NUM_THREADS, else None (share the cores)."""
    if setting:
        return setting
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else None


def default_threads(registry: Path = REGISTRY) -> int:
    usable = len(os.sched_getaffinity(0))
    if os.environ.get("SLURM_JOB_ID"):  # the scheduler gave this job its own cores
        return usable
    return max(1, usable // live_jobs(registry))


class ThreadBudget:
    """Sets torch's thread count now and on `refresh()`; a fixed count (trainer.threads or OMP_NUM_THREADS)
    turns the sharing off."""

    def __init__(self, setting: int | None = None, registry: Path = REGISTRY) -> None:
        self.fixed, self.registry = fixed_threads(setting), registry
        self.entry = registry / f"{os.getpid()}.pid"  # counted by the others even when its own count is fixed
        registry.mkdir(parents=True, exist_ok=True)
        self.entry.touch()
        self.threads = 0
        self.refresh()

    def refresh(self) -> int:
        threads = self.fixed or default_threads(self.registry)
        if threads != self.threads:
            torch.set_num_threads(threads)
            self.threads = threads
        return threads

    def close(self) -> None:
        self.entry.unlink(missing_ok=True)

    def __enter__(self) -> ThreadBudget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
