"""Has a run plateaued? The study's criterion: the best dev score over the last third of training is within
`PLATEAU_TOLERANCE` of the run's best. A run still climbing at its end says its schedule was too short for its
number to mean much; the summary shows the check for every run it reports."""

from __future__ import annotations

from collections.abc import Iterable

from dcft.results.store import Record, integer, number

PLATEAU_TOLERANCE = 0.5  # metric points (the records' metrics are x100)


def plateau_gap(record: Record, key: str) -> float | None:
    """The run's best `key` minus the best over its evaluations in the last third of its steps (0 = the best
    is there); None when the record has no evaluation of `key` in the last third."""
    total = integer(record.get("total_steps"))
    evals = [(integer(step), number((metrics or {}).get(key)))
             for step, metrics in (record.get("curves") or {}).get("eval") or []]
    evals = [(step, value) for step, value in evals if step is not None and value is not None]
    if not total or not evals:
        return None
    late = [value for step, value in evals if step > total * 2 / 3]
    if not late:
        return None
    return max(value for _, value in evals) - max(late)


def plateau_text(records: Iterable[Record], key: str) -> str:
    """`yes (≤0.12)`: every run's gap is within the tolerance (the largest gap shown); `no (1.30)`; or `—`."""
    gaps = [g for r in records if (g := plateau_gap(r, key)) is not None]
    if not gaps:
        return "—"
    worst = max(gaps)
    return f"yes (≤{worst:.2f})" if worst <= PLATEAU_TOLERANCE else f"no ({worst:.2f})"
