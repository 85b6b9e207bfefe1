"""Resumable training state: accelerate's save_state with only the trained tensors, plus our counters.

A checkpoint is built in a temporary directory and renamed into place, so a crash leaves either the
previous checkpoint or the new one. Loading never unpickles arbitrary objects (safetensors and
`weights_only` loads, JSON for our own state).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

REQUEUE_EXIT_CODE = 75  # EX_TEMPFAIL: "try again later", what a requeueing launcher looks for
STATE_FILE = "trainer_state.json"


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of the current epoch already consumed
    samples: int = 0
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    main_metric: str | None = None
    best: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    train_loss: list = field(default_factory=list)
    eval_curve: list = field(default_factory=list)
    last_checkpoint: str | None = None


def register_trainable_only(accelerator: Accelerator) -> None:
    """Checkpoints hold the trained tensors only (adapter + head), not a copy of the frozen backbone."""

    def keep_trainable(models, weights, output_dir) -> None:
        for i, model in enumerate(models):
            trained = {n for n, p in model.named_parameters() if p.requires_grad}
            weights[i] = {k: v for k, v in weights[i].items() if k in trained}

    accelerator.register_save_state_pre_hook(keep_trainable)


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def latest(run_dir: Path) -> Path | None:
    found = [p for p in checkpoint_dir(run_dir).glob("step-*") if re.fullmatch(r"step-\d+", p.name)]
    found = [p for p in found if (p / STATE_FILE).exists()]
    return max(found, key=lambda p: int(p.name.split("-")[1]), default=None)


METHOD_TENSORS, METHOD_FACTS = "method_state.safetensors", "method_state.json"


def save(accelerator: Accelerator, run_dir: Path, state: TrainState, keep: int, adapted=None) -> Path:
    """Write step-N atomically (temp dir + rename) and keep the last `keep` checkpoints."""
    root = checkpoint_dir(run_dir)
    final = root / f"step-{state.step}"
    tmp = root / f".step-{state.step}.tmp"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if accelerator.is_main_process:
        state.last_checkpoint = str(final)
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state), default=float))
        if adapted is not None and adapted.get_method_state is not None:
            from safetensors.torch import save_file

            tensors, facts = adapted.get_method_state()
            save_file(tensors, str(tmp / METHOD_TENSORS))
            (tmp / METHOD_FACTS).write_text(json.dumps(facts))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        done = sorted((p for p in root.glob("step-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))
        for old in done[: max(len(done) - keep, 0)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def remove_all(run_dir: Path) -> None:
    """Delete a finished run's checkpoints (a finished cell is skipped, never resumed; the adapter is kept apart)."""
    shutil.rmtree(checkpoint_dir(run_dir), ignore_errors=True)


def load(accelerator: Accelerator, path: Path, adapted=None) -> TrainState:
    accelerator.load_state(str(path), strict=False)
    if adapted is not None and adapted.set_method_state is not None and (path / METHOD_TENSORS).exists():
        from safetensors.torch import load_file

        adapted.set_method_state(load_file(str(path / METHOD_TENSORS)), json.loads((path / METHOD_FACTS).read_text()))
    return TrainState(**json.loads((path / STATE_FILE).read_text()))


def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class PreemptionGuard:
    """SIGTERM / SIGUSR1 ask for a checkpoint at the next step boundary; only SIGUSR1 asks for a requeue.

    SIGUSR1 is SLURM's warning before the time limit (--signal=USR1@N): the job would end there and not
    come back, so the run requeues it. SIGTERM means the job is being ended now: by scancel (it must
    stay cancelled), by preemption (SLURM requeues it itself) or by the time limit.
    """

    REQUEUE_SIGNALS = (signal.SIGUSR1,)

    def __init__(self) -> None:
        self.requested = False
        self.requeue = False
        self.signal_name = ""
        self._previous = {}
        self._install(signal.SIGUSR1)  # from the start: its default action would kill a run still setting up

    def arm(self) -> None:
        """Training has started: SIGTERM checkpoints too (before, there was nothing to save: it did as before)."""
        self._install(signal.SIGTERM)

    def _install(self, sig: signal.Signals) -> None:
        try:
            self._previous.setdefault(sig, signal.signal(sig, self._handle))
        except ValueError:  # not the main thread: leave signals alone
            pass

    def _handle(self, signum, frame) -> None:
        self.requested = True
        self.requeue = self.requeue or signum in self.REQUEUE_SIGNALS
        self.signal_name = signal.Signals(signum).name
        print(f"received {self.signal_name}: checkpointing at the next step", file=sys.stderr, flush=True)

    @staticmethod
    def request_requeue() -> None:
        """Under SLURM, put this job back in the queue (it resumes from the checkpoint just written)."""
        job = os.environ.get("SLURM_JOB_ID", "")
        if job.isdigit() and shutil.which("scontrol"):
            subprocess.run(["scontrol", "requeue", job], check=False, timeout=60)  # argument list: no shell

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
