"""The CPU thread policy (dcft/threads.py): cores shared among the harness jobs running side by side, a fixed
count (trainer.threads, else OMP_NUM_THREADS) kept, a SLURM job's cores all its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from dcft.threads import ThreadBudget, default_threads, fixed_threads, live_jobs

CORES = len(os.sched_getaffinity(0))


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    before = torch.get_num_threads()
    yield tmp_path / "jobs"
    torch.set_num_threads(before)


def test_live_jobs_count_running_processes_and_drop_stale_entries(registry):
    registry.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (registry / f"{os.getpid()}.pid").touch()
        (registry / f"{sleeper.pid}.pid").touch()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        stale = registry / f"{int(dead.stdout)}.pid"
        stale.touch()
        assert live_jobs(registry) == 2 and not stale.exists()
        assert default_threads(registry) == max(1, CORES // 2)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert live_jobs(registry) == 1 and default_threads(registry) == CORES


def test_a_budget_registers_while_open_and_follows_the_jobs_beside_it(registry):
    with ThreadBudget(None, registry) as budget:
        assert (registry / f"{os.getpid()}.pid").exists()
        assert budget.threads == CORES == torch.get_num_threads()
        (registry / "1.pid").touch()  # pid 1 is always alive: a second job
        assert budget.refresh() == max(1, CORES // 2) == torch.get_num_threads()
    assert not (registry / f"{os.getpid()}.pid").exists()


def test_a_fixed_count_is_kept_and_still_counted_by_the_others(registry, monkeypatch):
    assert fixed_threads(3) == 3 and fixed_threads(None) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert fixed_threads(None) == 1 and fixed_threads(2) == 2  # trainer.threads wins over the environment
    with ThreadBudget(None, registry) as budget:
        (registry / "1.pid").touch()
        assert budget.refresh() == 1 == torch.get_num_threads()
        assert live_jobs(registry) == 2  # it is counted by jobs that share
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert fixed_threads(None) is None


def test_a_slurm_job_uses_every_core_it_was_given(registry, monkeypatch):
    registry.mkdir()
    (registry / "1.pid").touch()
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert default_threads(registry) == CORES
