"""Was a run long enough? The study's criterion, on the run's evaluations: the mean dev score over the last third
of its steps is at most `PLATEAU_TOLERANCE` above the mean over the middle third (more: still climbing, the
schedule was too short for the number to mean much). Means, not maxima: on a noisy metric (CoLA's MCC moves by
several points between neighbouring evaluations) the best of a few evaluations is mostly noise, so a max-based
check fails or passes by luck. Reported beside it: how far below its overall best the last third stayed (a
passing peak: the best-step rule keeps the peak, the final rule does not; a longer schedule cannot remove it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean

from dcft.results.store import Record, integer, number

PLATEAU_TOLERANCE = 0.5  # metric points (the records' metrics are x100)


@dataclass(frozen=True)
class Plateau:
    gain: float  # mean of the last third's evaluations − mean of the middle third's (negative: it declined)
    shortfall: float  # best overall − best of the last third: how far below its best the run stayed
    late_mean: float  # mean of the last third's evaluations

    @property
    def long_enough(self) -> bool:
        return self.gain <= PLATEAU_TOLERANCE


def plateau(record: Record, key: str) -> Plateau | None:
    """None when the record lacks an evaluation of `key` in its middle or its last third of steps."""
    total = integer(record.get("total_steps"))
    evals = [(integer(step), number((metrics or {}).get(key)))
             for step, metrics in (record.get("curves") or {}).get("eval") or []]
    evals = [(step, value) for step, value in evals if step is not None and value is not None]
    if not total:
        return None
    middle = [value for step, value in evals if total / 3 < step <= total * 2 / 3]
    late = [value for step, value in evals if step > total * 2 / 3]
    if not middle or not late:
        return None
    best = max(value for _, value in evals)
    return Plateau(gain=fmean(late) - fmean(middle), shortfall=best - max(late), late_mean=fmean(late))


def plateau_text(records: Iterable[Record], key: str) -> str:
    """Over the runs: `no (+2.85 in the last third)` when one still climbed (the largest gain), else
    `yes (+0.12)` (the largest gain, signed: negative when every run's last third sat lower), with
    `; 1.30 below its best at the end` when a run's last third stayed more than the tolerance below its best;
    `—` without evaluations."""
    found = [p for r in records if (p := plateau(r, key)) is not None]
    if not found:
        return "—"
    gain, shortfall = max(p.gain for p in found), max(p.shortfall for p in found)
    if not all(p.long_enough for p in found):
        return f"no ({gain:+.2f} in the last third)"
    peak = f"; {shortfall:.2f} below its best at the end" if shortfall > PLATEAU_TOLERANCE else ""
    return f"yes ({gain:+.2f}{peak})"
