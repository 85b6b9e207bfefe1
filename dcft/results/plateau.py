"""Has a run plateaued? The study's criterion, on the run's evaluations: over the last third of its steps it
neither gained more than `PLATEAU_TOLERANCE` on its best of the first two thirds (still climbing: the schedule
was too short for the number to mean much) nor ended more than that below its overall best (its best was a
passing peak)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dcft.results.store import Record, integer, number

PLATEAU_TOLERANCE = 0.5  # metric points (the records' metrics are x100)


@dataclass(frozen=True)
class Plateau:
    gain: float  # best overall − best of the first two thirds: what the last third added
    shortfall: float  # best overall − best of the last third: how far below its best the run stayed

    @property
    def gap(self) -> float:
        return max(self.gain, self.shortfall)


def plateau(record: Record, key: str) -> Plateau | None:
    """None when the record lacks an evaluation of `key` in either part of its steps."""
    total = integer(record.get("total_steps"))
    evals = [(integer(step), number((metrics or {}).get(key)))
             for step, metrics in (record.get("curves") or {}).get("eval") or []]
    evals = [(step, value) for step, value in evals if step is not None and value is not None]
    if not total:
        return None
    early = [value for step, value in evals if step <= total * 2 / 3]
    late = [value for step, value in evals if step > total * 2 / 3]
    if not early or not late:
        return None
    best = max(early + late)
    return Plateau(gain=best - max(early), shortfall=best - max(late))


def plateau_text(records: Iterable[Record], key: str) -> str:
    """`yes (≤0.12)` when every run is within the tolerance (its largest gap shown), else the worst run's
    reason: `no (+2.85 in the last third)` or `no (1.30 below its best in the last third)`; `—` without evaluations."""
    found = [p for r in records if (p := plateau(r, key)) is not None]
    if not found:
        return "—"
    worst = max(found, key=lambda p: p.gap)
    if worst.gap <= PLATEAU_TOLERANCE:
        return f"yes (≤{worst.gap:.2f})"
    if worst.gain >= worst.shortfall:
        return f"no (+{worst.gain:.2f} in the last third)"
    return f"no ({worst.shortfall:.2f} below its best in the last third)"
