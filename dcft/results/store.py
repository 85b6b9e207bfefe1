"""Reading run records: the record store under `<results_dir>/runs` (dcft.paths), validation, and the values
the tables take from a record (a metric under a reporting rule, hours, parameter counts, settings).

A record is the trainer's JSON for one run (dcft.run_record.build_record). Only `finished` records give
numbers; `failed`/`diverged`/`preempted` count as failed, `running` as running. No torch here.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcft.cells import NOT_COMPUTING, flatten
from dcft.paths import runs_dir

FINISHED = "finished"
RUNNING = "running"
DIVERGED = "diverged"
FAILED_STATUSES = ("failed", DIVERGED, "preempted")
STATUSES = (FINISHED, RUNNING, *FAILED_STATUSES)  # every status a record can have
RULES = ("best", "final")  # best = best dev step (the paper's rule); final = last evaluation
RULE_TEXT = {"best": "best dev step of each run, the paper's rule", "final": "last evaluation of each run"}
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
    settings_id = data.get("settings_id")
    if settings_id is not None and (not isinstance(settings_id, str) or not settings_id):
        return f"field 'settings_id' = {settings_id!r} must be a non-empty string"
    return None


def load_records(results_dir: str | Path, warn: Warn | None = None) -> list[Record]:
    """All valid records under `<results_dir>/runs/**/*.json`, sorted by path; each bad one -> one warning."""
    warn = warn or warn_stderr
    root = runs_dir(results_dir)
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
        data["_path"] = path.relative_to(root.parent).as_posix()
        records.append(data)
    return records


def number(value: Any) -> float | None:
    """A finite float, or None (NaN/inf, null, strings and booleans never reach a table)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def metric(record: Record, key: str, rule: str) -> float | None:
    """The record's value of `key` under the reporting rule (`best` or `final` step), or None."""
    if rule not in RULES:
        raise ValueError(f"rule={rule!r}: choose one of {', '.join(RULES)}")
    return number(((record.get(rule) or {}).get("metrics") or {}).get(key))


def hours(record: Record) -> float | None:
    """Training time in hours (from `train_time_s`), or None."""
    seconds = number(record.get("train_time_s"))
    return None if seconds is None else seconds / 3600.0


def trainable_params(record: Record) -> int | None:
    """The count a table prints: `method_state.nonzero_params` where the method reports one (SoRA prunes its
    gates; the paper prints the nonzero count), else `params.trainable` (the task head excluded)."""
    nonzero = integer((record.get("method_state") or {}).get("nonzero_params"))
    return nonzero if nonzero is not None else integer((record.get("params") or {}).get("trainable"))


def total_params(record: Record) -> int | None:
    return integer((record.get("params") or {}).get("total"))


def settings_of(record: Record) -> dict[str, Any]:
    """The flat settings that changed the computation: `computing` (schema 2); for older records, what they
    still say (the trainer and the method's settings), named the same way."""
    if isinstance(record.get("computing"), dict):
        return dict(record["computing"])
    legacy = flatten({"trainer": record.get("trainer") or {}, "method": record.get("method_settings") or {}})
    return {k: v for k, v in sorted(legacy.items()) if k not in NOT_COMPUTING}
