"""Measurement helpers: threads, allocator, interleaved timing, machine facts, peak memory.

Timing interleaves the cases (A B C A B C ...) so machine drift hits all of them alike, and reports
medians. Peak memory is measured two ways: live tensor bytes (a dispatch mode that sees every
allocation of a step, exact and allocator-independent; on CUDA the allocator's own peak) and, on
Linux, the peak resident set of a fresh process per case (`probe.py`).
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import statistics
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from dcft.hardware import cpu_model

GLIBC_M_TRIM_THRESHOLD, GLIBC_M_MMAP_THRESHOLD = -1, -3


def configure_threads(threads: int | None) -> tuple[int, str]:
    """Set torch's intra-op threads and return (threads, why).

    Default: the cores this process may use that other processes leave idle (cores − 1-minute load,
    rounded, at least 1). On a shared machine an OpenMP thread whose core is taken stalls every
    parallel op for a scheduler slice (~20 ms measured for a 64×64 linear), which would swamp the
    differences the benchmark is after.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads is not None:
        why = "set explicitly"
    else:
        load = load_average()
        idle = cores - (load[0] if load else 0.0)
        threads = max(1, min(cores, round(idle)))
        why = f"default: {cores} core(s) minus 1-minute load average {load[0] if load else 'unknown'}, at least 1"
    torch.set_num_threads(int(threads))
    return torch.get_num_threads(), why


def tune_cpu_allocator() -> str:
    """Keep freed memory in glibc's heap (blocks up to 32 MiB, no trimming) so steps do not page-fault.

    Without it every large activation is a fresh mmap and the step time includes kernel page zeroing
    that varies run to run. Applies to all cases alike; returns what was set (recorded in run_info).
    """
    if not sys.platform.startswith("linux"):
        return "default"
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(GLIBC_M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(GLIBC_M_TRIM_THRESHOLD, 1 << 30)
    except OSError:
        return "default"
    return "glibc mallopt: mmap_threshold=32MiB, trim_threshold=1GiB" if ok else "default"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleave(
    steps: dict[str, Callable[[], Any]], rounds: int, warmup: int, device: torch.device
) -> dict[str, list[dict[str, float]]]:
    """Run every case once per round, the start rotating each round; time rounds after `warmup`.

    Returns per case a list of {"wall_s", "cpu_s"} (cpu = this process's CPU time; with several threads
    it includes their spin-waits). Automatic garbage collection is off during the rounds.
    """
    names = list(steps)
    samples: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(warmup + rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            gc.enable()
            gc.collect()  # once per round, between steps; never inside a timed step
            gc.disable()
            for name in order:
                synchronize(device)
                wall, cpu = time.perf_counter(), time.process_time()
                steps[name]()
                synchronize(device)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if r >= warmup:
                    samples[name].append({"wall_s": wall, "cpu_s": cpu})
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def summarize(samples: list[dict[str, float]]) -> dict[str, float | int | None]:
    """Median, min and max of the wall time, and the median CPU time."""
    if not samples:
        return {"median_s": None, "min_s": None, "max_s": None, "cpu_median_s": None, "n": 0}
    wall = [s["wall_s"] for s in samples]
    return {
        "median_s": statistics.median(wall), "min_s": min(wall), "max_s": max(wall),
        "cpu_median_s": statistics.median(s["cpu_s"] for s in samples), "n": len(wall),
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info(device: torch.device, threads: int) -> dict[str, Any]:
    """What the numbers ran on; `slug` names the result file."""
    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, Any] = {
        "device": str(device), "cpu": cpu, "cores_available": cores, "torch_threads": threads,
        "memory_gib": _memory_gib(), "platform": platform.platform(),
        "mkldnn": torch.backends.mkldnn.is_available(), "mkl": torch.backends.mkl.is_available(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["slug"] = _slug(info["gpu"])
    else:
        info["slug"] = _slug(f"cpu-{cpu}-{threads}t")
    return info


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(part for part in keep.split("-") if part)[:60]


# -- memory ------------------------------------------------------------------------------------------
class PeakTensorMemory(TorchDispatchMode):
    """High-water mark of live tensor storage bytes on one device type while the mode is active.

    Seeded with the tensors that already exist (parameters, optimizer state, inputs); every op output
    is tracked until its storage is freed. Views share a storage and are counted once.
    """

    def __init__(self, device_type: str, existing: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.device_type = device_type
        self._live: dict[int, int] = {}
        self.current = self.peak = 0
        for t in existing:
            self._track(t)
        self.baseline = self.current

    def _track(self, t: Any) -> None:
        if not isinstance(t, torch.Tensor) or t.device.type != self.device_type or t.is_sparse:
            return
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return
        key = storage.data_ptr()
        if key == 0 or key in self._live:
            return
        self._live[key] = storage.nbytes()
        self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            self._track(t)
        return out


def reset_peak_rss() -> bool:
    """Reset this process's peak resident set (Linux: /proc/self/clear_refs), so later peaks are the step's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """Peak resident set since start or the last reset, in MiB (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of distinct storages among `tensors` (views and shared tensors counted once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor):
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())
