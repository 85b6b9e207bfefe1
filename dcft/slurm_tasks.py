"""One SLURM job step with several tasks is one multi-process run.

srun starts the tasks and describes them in SLURM_* variables; accelerate (like torchrun's env://)
reads RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT, which SLURM does not set. Without
them every task would train the same cell alone. Standard library only.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping

PORT_RANGE = (20000, 60000)  # the master port is derived from the job id: the same for every task


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: 'gpu[03-04,07],cpu1' -> 'gpu03'."""
    match = re.match(r"([^,\[]+)(?:\[([^\],-]+))?", nodelist.strip())
    if not match:
        raise ValueError(f"unreadable SLURM node list {nodelist!r}")
    return match.group(1) + (match.group(2) or "")


def export_torch_distributed_env(environ: MutableMapping[str, str] | None = None) -> bool:
    """Set torch's distributed variables from srun's when this process is one of several tasks of a step.

    Returns whether it did. Leaves everything alone outside srun, for a single task, and when a launcher
    (torchrun, `accelerate launch`) already set WORLD_SIZE.
    """
    env = os.environ if environ is None else environ
    tasks = int(env.get("SLURM_STEP_NUM_TASKS") or 1)  # only srun sets it: the batch script itself is no task
    if tasks <= 1 or "WORLD_SIZE" in env or "SLURM_PROCID" not in env:
        return False
    nodes = int(env.get("SLURM_STEP_NUM_NODES") or 1)
    job = int(env.get("SLURM_JOB_ID") or 0)
    low, high = PORT_RANGE
    env["RANK"] = env["SLURM_PROCID"]
    env["WORLD_SIZE"] = str(tasks)
    env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
    env["LOCAL_WORLD_SIZE"] = str(tasks // nodes)
    env.setdefault("MASTER_ADDR", first_host(env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST", "")))
    env.setdefault("MASTER_PORT", str(low + job % (high - low)))
    return True
