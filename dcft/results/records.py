"""Run records in, per-cell selections out: read, validate, group, pick the best lr, aggregate seeds.

A record is the trainer's JSON for one run (`<results>/runs/<model>/<task>/<method_tag>/lr<lr>/seed<s>.json`).
Only `finished` records give numbers; `failed`/`diverged`/`preempted` are counted as failed, `running`
as running. No torch here: this module must import in milliseconds.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINISHED = "finished"
RUNNING = "running"
FAILED_STATUSES = ("failed", "diverged", "preempted")
STATUSES = (FINISHED, RUNNING, *FAILED_STATUSES)
RULES = ("best", "final")  # best = best dev step (the paper's rule); final = last evaluation
AGGREGATIONS = ("mean", "median")
REQUIRED = {"model": str, "task": str, "method_tag": str, "status": str, "seed": int, "lr": (int, float)}

Record = dict[str, Any]
Warn = Callable[[str], None]


def warn_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def check_record(data: Any) -> str | None:
    """Why `data` is not a usable record, or None if it is."""
    if not isinstance(data, dict):
        return f"top level is {type(data).__name__}, expected an object"
    for key, kind in REQUIRED.items():
        if key not in data:
            return f"missing field {key!r}"
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            return f"field {key!r} = {data[key]!r} has the wrong type"
    if data["status"] not in STATUSES:
        return f"status {data['status']!r} is not one of {', '.join(STATUSES)}"
    return None


def load_records(results_dir: str | Path, warn: Warn | None = None) -> list[Record]:
    """All valid records under `<results_dir>/runs/**/*.json`, sorted by path; each bad one -> one warning."""
    warn = warn or warn_stderr
    root = Path(results_dir) / "runs"
    records: list[Record] = []
    for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            warn(f"warning: skipping unreadable record {path}: {type(err).__name__}: {err}")
            continue
        problem = check_record(data)
        if problem:
            warn(f"warning: skipping invalid record {path}: {problem}")
            continue
        data["_path"] = str(path.relative_to(root.parent))
        records.append(data)
    return records


def metric(record: Record, key: str, rule: str) -> float | None:
    """The record's value of `key` under the reporting rule (`best` or `final` step), or None."""
    if rule not in RULES:
        raise ValueError(f"rule={rule!r}: choose one of {', '.join(RULES)}")
    return _number(((record.get(rule) or {}).get("metrics") or {}).get(key))


def hours(record: Record) -> float | None:
    """Training time in hours (from `train_time_s`), or None."""
    seconds = _number(record.get("train_time_s"))
    return None if seconds is None else seconds / 3600.0


def _number(value: Any) -> float | None:
    """A finite float, or None (NaN/inf, null, strings and booleans never reach a table)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class Stat:
    """An aggregate over seeds: centre (mean or median), sample std (None for n=1), n."""

    value: float
    std: float | None
    n: int


def aggregate(values: Sequence[float], agg: str) -> Stat | None:
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg={agg!r}: choose one of {', '.join(AGGREGATIONS)}")
    values = sorted(values)
    if not values:
        return None
    centre = statistics.fmean(values) if agg == "mean" else statistics.median(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(float(centre), std, len(values))


@dataclass(frozen=True)
class Selection:
    """One (model, task, method_tag): which lr won and the finished runs at that lr.

    status: "finished" (numbers available), "running", "failed", "no metric" (finished runs lack the
    selection metric) or "missing" (no record at all).
    """

    model: str
    task: str
    method_tag: str
    status: str
    lr: float | None = None
    lrs: tuple[float, ...] = ()  # every lr with finished runs, ascending
    runs: tuple[Record, ...] = ()  # finished runs at the winning lr, by seed
    failed: tuple[Record, ...] = ()  # failed/diverged/preempted runs, any lr
    running: tuple[Record, ...] = ()
    params: int | None = None  # params.trainable (most common over all records of the group)
    total: int | None = None  # params.total

    def stat(self, key: str, rule: str, agg: str) -> Stat | None:
        return aggregate([v for r in self.runs if (v := metric(r, key, rule)) is not None], agg)

    def hours(self, agg: str) -> Stat | None:
        return aggregate([h for r in self.runs if (h := hours(r)) is not None], agg)


def most_common(values: Iterable[Any]) -> int | None:
    """The most frequent integer (ties: the smallest), ignoring non-integers; None if there is none."""
    counts = Counter(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    return min(counts, key=lambda v: (-counts[v], v)) if counts else None


# Override keys that name a cell (set by the suggested command itself, never copied from other runs).
CELL_KEYS = {"model", "task", "method", "kernel", "stride", "seed", "method.targets", "method.kernel",
             "method.stride", "method.rank", "method.r", "method.lr", "trainer.lr", "results_dir", "overwrite"}


class RecordIndex:
    """Records grouped by (model, task, method_tag) for cell lookups."""

    def __init__(self, records: Iterable[Record]):
        self.records = list(records)
        self._groups: dict[tuple[str, str, str], list[Record]] = {}
        for record in self.records:
            key = (record["model"], record["task"], record["method_tag"])
            self._groups.setdefault(key, []).append(record)

    def group(self, model: str, task: str, method_tag: str) -> list[Record]:
        return self._groups.get((model, task, method_tag), [])

    def seeds(self, model: str) -> list[int]:
        """Seeds used by any run of `model` (to suggest commands that match the existing runs)."""
        return sorted({r["seed"] for r in self.records if r["model"] == model})

    def shared_overrides(self, model: str) -> list[str]:
        """Command-line settings every run of `model` used (data.dir, a short schedule, an +experiment …),
        minus what names a cell, so suggested commands fill cells the same way as the existing runs."""
        lists = [r.get("overrides") or [] for r in self.records if r["model"] == model]
        if not lists:
            return []
        shared = [o for o in lists[0] if all(o in other for other in lists[1:])]
        return [o for o in shared if o.split("=", 1)[0].lstrip("+~") not in CELL_KEYS]

    def select(self, model: str, task: str, method_tag: str, key: str, rule: str, agg: str) -> Selection:
        """Pick the lr whose aggregated `key` is highest (ties: more seeds, then smaller lr)."""
        group = self.group(model, task, method_tag)
        base = dict(model=model, task=task, method_tag=method_tag)
        if not group:
            return Selection(status="missing", **base)
        by_seed = lambda rs: tuple(sorted(rs, key=lambda r: (r["seed"], r["lr"], r.get("_path", ""))))
        failed = by_seed(r for r in group if r["status"] in FAILED_STATUSES)
        running = by_seed(r for r in group if r["status"] == RUNNING)
        params = most_common((r.get("params") or {}).get("trainable") for r in group)
        total = most_common((r.get("params") or {}).get("total") for r in group)
        extra = dict(failed=failed, running=running, params=params, total=total)
        finished = [r for r in group if r["status"] == FINISHED]
        if not finished:
            return Selection(status=RUNNING if running else "failed", **base, **extra)
        lrs = sorted({float(r["lr"]) for r in finished})
        scored = []
        for lr in lrs:
            runs = [r for r in finished if float(r["lr"]) == lr]
            stat = aggregate([v for r in runs if (v := metric(r, key, rule)) is not None], agg)
            if stat is not None:
                scored.append(((-stat.value, -stat.n, lr), lr, runs))
        if not scored:
            return Selection(status="no metric", lrs=tuple(lrs), **base, **extra)
        _, lr, runs = min(scored, key=lambda item: item[0])
        return Selection(status=FINISHED, lr=lr, lrs=tuple(lrs), runs=by_seed(runs), **base, **extra)


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write via a temp file in the same folder + os.replace, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
