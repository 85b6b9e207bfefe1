"""Statistics over seeds: centre ± sample std, the paired difference of two methods, the most common count."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

AGGREGATIONS = ("mean", "median")


@dataclass(frozen=True)
class Stat:
    """An aggregate over seeds: centre (mean or median), sample std (None for n=1), n."""

    value: float
    std: float | None
    n: int


def aggregate(values: Sequence[float], agg: str = "mean") -> Stat | None:
    """Mean or median of `values` with the sample std (n - 1); None for no values."""
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg={agg!r}: choose one of {', '.join(AGGREGATIONS)}")
    values = sorted(values)
    if not values:
        return None
    centre = statistics.fmean(values) if agg == "mean" else statistics.median(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(float(centre), std, len(values))


def paired_difference(a: dict[int, float], b: dict[int, float], agg: str = "mean") -> Stat | None:
    """a − b over the seeds both have ({seed: value}): centre and sample std of the per-seed differences."""
    return aggregate([a[seed] - b[seed] for seed in sorted(set(a) & set(b))], agg)


def most_common(values: Iterable[Any]) -> int | None:
    """The most frequent integer (ties: the smallest), ignoring non-integers; None if there is none."""
    counts = Counter(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    return min(counts, key=lambda v: (-counts[v], v)) if counts else None
