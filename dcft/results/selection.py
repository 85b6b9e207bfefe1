"""Which runs a table cell shows: one settings group per (model, task, method tag), then the best lr.

A (model, task, method tag) can hold runs made with different settings (an old short schedule and a new
long one): records carry `settings_id` (`<hparams set>-<digest>`, dcft.cells), and runs with different
ids are never averaged together. The group shown is the one with the most finished runs; ties go to the
newest record format (schema), then to the smallest settings id, so the choice depends on the records only.
Records without a settings id (schema 1) form one group of their own. The other groups are kept on the
selection so the tables can list them and say what differs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dcft.results.stats import Stat, aggregate, most_common
from dcft.results.store import (
    DIVERGED,
    FAILED_STATUSES,
    FINISHED,
    RUNNING,
    Record,
    hours,
    integer,
    metric,
    settings_of,
    total_params,
    trainable_params,
)
from dcft.results.units import fmt_lr

VARIES = "(varies)"  # a setting that differs between the records of one group (schema-1 records only)


@dataclass(frozen=True)
class SettingsGroup:
    """The runs of one (model, task, method tag) made with one settings id (None: schema-1 records)."""

    settings_id: str | None
    records: tuple[Record, ...]

    @property
    def finished(self) -> int:
        return sum(r["status"] == FINISHED for r in self.records)

    @property
    def schema(self) -> int:
        return max((integer(r.get("schema")) or 1 for r in self.records), default=1)

    @property
    def hparams_set(self) -> str | None:
        sets = Counter(r["hparams_set"] for r in self.records if isinstance(r.get("hparams_set"), str))
        return min(sets, key=lambda s: (-sets[s], s)) if sets else None

    @property
    def name(self) -> str:
        return self.settings_id or "no settings id (schema-1 records)"

    def settings(self) -> dict[str, Any]:
        """The group's flat settings; a key whose value differs between its records reads `(varies)`."""
        flats = [settings_of(r) for r in self.records]
        keys = sorted(set().union(*flats)) if flats else []
        out = {}
        for key in keys:
            values = [f.get(key) for f in flats]
            out[key] = values[0] if all(v == values[0] for v in values) else VARIES
        return out

    def describe(self) -> str:
        """`released-1a2b3c4d (released set; 3 finished, 1 failed)`."""
        counts = Counter(r["status"] for r in self.records)
        runs = ", ".join(f"{counts[s]} {s}" for s in sorted(counts))
        hp = f"{self.hparams_set} set; " if self.hparams_set else ""
        return f"{self.name} ({hp}{runs})"

    def order_key(self) -> tuple:
        """Most finished runs first; ties: the newest record format, then the smallest settings id."""
        return (-self.finished, -len(self.records), -self.schema, self.settings_id or "")


def settings_diff(shown: dict[str, Any], other: dict[str, Any], limit: int = 6) -> str:
    """`trainer.epochs: 1 -> 20, data.max_train_samples: 2000 -> None` (shown -> other), at most `limit`."""
    missing = "(not recorded)"
    keys = [k for k in sorted(set(shown) | set(other)) if shown.get(k, missing) != other.get(k, missing)]
    parts = [f"{k}: {shown.get(k, missing)} -> {other.get(k, missing)}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"and {len(keys) - limit} more")
    return ", ".join(parts) or "no recorded setting differs"


@dataclass(frozen=True)
class Selection:
    """One (model, task, method_tag): the settings group shown, which lr won and the finished runs at it.

    status: "finished" (numbers available), "running", "failed", "no metric" (finished runs lack the
    selection metric) or "missing" (no record in an eligible settings group).
    """

    model: str
    task: str
    method_tag: str
    status: str
    lr: float | None = None
    lrs: tuple[float, ...] = ()  # every lr with finished runs, ascending
    diverged_lrs: tuple[float, ...] = ()  # lrs tried whose runs all diverged (loss NaN/inf): no score, an answer
    runs: tuple[Record, ...] = ()  # finished runs at the winning lr, by seed
    failed: tuple[Record, ...] = ()  # failed/diverged/preempted runs, any lr
    running: tuple[Record, ...] = ()
    params: int | None = None  # trainable (or nonzero) parameters, most common over the group's records
    total: int | None = None  # params.total
    group: SettingsGroup | None = None  # the settings group shown
    others: tuple[SettingsGroup, ...] = ()  # groups not shown (ordered as the choice ranked them)

    def values(self, key: str, rule: str) -> dict[int, float]:
        """{seed: value} of the runs at the winning lr (for differences paired by seed)."""
        return {r["seed"]: v for r in self.runs if (v := metric(r, key, rule)) is not None}

    def stat(self, key: str, rule: str, agg: str) -> Stat | None:
        return aggregate([v for r in self.runs if (v := metric(r, key, rule)) is not None], agg)

    def hours(self, agg: str) -> Stat | None:
        return aggregate([h for r in self.runs if (h := hours(r)) is not None], agg)

    @property
    def edge(self) -> str | None:
        """'lowest' / 'highest' when the winning lr sits on the edge of a grid of two or more lrs (an lr tried
        beyond the winner counts even when it diverged: the grid did go past it)."""
        grid = self.grid
        if self.lr is None or len(grid) < 2:
            return None
        return "lowest" if self.lr == grid[0] else "highest" if self.lr == grid[-1] else None

    @property
    def grid(self) -> tuple[float, ...]:
        """Every lr tried with an answer (finished, or diverged), ascending."""
        return tuple(sorted({*self.lrs, *self.diverged_lrs}))

    def grid_text(self) -> str:
        """`0.001, 0.003, 0.01, 0.03 (diverged)`."""
        return ", ".join(fmt_lr(x) + (" (diverged)" if x in self.diverged_lrs else "") for x in self.grid)

    def lr_text(self) -> str:
        """`lr 0.01 won (tried 0.003, 0.01; highest tried: the grid may be too narrow)`."""
        tried = self.grid_text()
        edge = f"; {self.edge} tried: the grid may be too narrow" if self.edge else ""
        return f"lr {fmt_lr(self.lr)} won (tried {tried}{edge})"


def by_seed(records: Iterable[Record]) -> tuple[Record, ...]:
    return tuple(sorted(records, key=lambda r: (r["seed"], r["lr"], r.get("_path", ""))))


class RecordIndex:
    """Records grouped by (model, task, method_tag) and settings id; `hparams_set` keeps only the groups
    run with that hyper-parameter set eligible (the others are still listed as not shown)."""

    def __init__(self, records: Iterable[Record], hparams_set: str | None = None):
        self.records = list(records)
        self.hparams_set = hparams_set
        self._groups: dict[tuple[str, str, str], dict[str | None, list[Record]]] = {}
        for record in self.records:
            key = (record["model"], record["task"], record["method_tag"])
            self._groups.setdefault(key, {}).setdefault(record.get("settings_id"), []).append(record)

    def models(self) -> list[str]:
        return sorted({r["model"] for r in self.records})

    def keys(self, model: str | None = None) -> list[tuple[str, str, str]]:
        """(model, task, method_tag) triples that have records, sorted."""
        return sorted(k for k in self._groups if model is None or k[0] == model)

    def groups(self, model: str, task: str, method_tag: str) -> list[SettingsGroup]:
        """Every settings group of a cell, the one shown first."""
        found = self._groups.get((model, task, method_tag), {})
        groups = [SettingsGroup(sid, by_seed(rs)) for sid, rs in found.items()]
        eligible = lambda g: self.hparams_set is None or g.hparams_set == self.hparams_set
        return sorted(groups, key=lambda g: (not eligible(g), g.order_key()))

    def _pick(self, groups: list[SettingsGroup]) -> SettingsGroup | None:
        if groups and (self.hparams_set is None or groups[0].hparams_set == self.hparams_set):
            return groups[0]
        return None

    def chosen(self, model: str, task: str, method_tag: str) -> SettingsGroup | None:
        """The settings group a cell shows, or None (no records, or none of the `hparams_set` asked for)."""
        return self._pick(self.groups(model, task, method_tag))

    def select(self, model: str, task: str, method_tag: str, key: str, rule: str, agg: str) -> Selection:
        """Pick the settings group, then the lr whose aggregated `key` is highest over the seeds every lr has
        (ties: more seeds, then the smaller lr); the selection then holds all of the winner's seeds.

        Comparing lrs on their shared seeds is the study protocol (pick the lr on one seed, add seeds at the
        winner): a mean over three seeds at the winner would otherwise lose to one lucky run at a neighbour.
        Without a seed shared by every lr, each lr's own seeds are used."""
        groups = self.groups(model, task, method_tag)
        group = self._pick(groups)
        others = tuple(g for g in groups if g is not group)
        base = dict(model=model, task=task, method_tag=method_tag, others=others)
        if group is None:
            return Selection(status="missing", **base)
        runs = group.records
        extra = dict(
            failed=by_seed(r for r in runs if r["status"] in FAILED_STATUSES),
            running=by_seed(r for r in runs if r["status"] == RUNNING),
            params=most_common(trainable_params(r) for r in runs),
            total=most_common(total_params(r) for r in runs),
            group=group,
        )
        finished = [r for r in runs if r["status"] == FINISHED]
        if not finished:
            return Selection(status=RUNNING if extra["running"] else "failed", **base, **extra)
        lrs = sorted({float(r["lr"]) for r in finished})
        extra["diverged_lrs"] = tuple(sorted({float(r["lr"]) for r in runs if r["status"] == DIVERGED} - set(lrs)))
        with_metric = {lr: {r["seed"]: v for r in finished if float(r["lr"]) == lr
                            and (v := metric(r, key, rule)) is not None} for lr in lrs}
        seed_sets = [set(values) for values in with_metric.values() if values]
        shared = set.intersection(*seed_sets) if seed_sets else set()
        scored = []
        for lr, values in with_metric.items():
            compared = [v for seed, v in values.items() if seed in shared] if shared else list(values.values())
            if (stat := aggregate(compared, agg)) is not None:
                scored.append(((-stat.value, -len(values), lr), lr))
        if not scored:
            return Selection(status="no metric", lrs=tuple(lrs), **base, **extra)
        _, lr = min(scored, key=lambda item: item[0])
        at_lr = [r for r in finished if float(r["lr"]) == lr]
        return Selection(status=FINISHED, lr=lr, lrs=tuple(lrs), runs=by_seed(at_lr), **base, **extra)


# Override keys that name a cell or the set (set by the suggested command itself, never copied from runs).
CELL_KEYS = {"model", "task", "method", "kernel", "stride", "seed", "hparams_set", "method.targets",
             "method.kernel", "method.stride", "method.rank", "method.r", "method.lr", "trainer.lr",
             "results_dir", "overwrite"}


def shared_overrides(records: Sequence[Record], method_keys: bool = False) -> list[str]:
    """Command-line settings every one of `records` used (data.dir, a short schedule, an +experiment ...),
    minus what names a cell, so suggested commands fill cells the same way as the existing runs.
    `method_keys`: only the `method.*` settings (pass one method's records), else everything but those."""
    lists = [r.get("overrides") or [] for r in records]
    if not lists:
        return []
    shared = [o for o in lists[0] if all(o in other for other in lists[1:])]
    keys = [(o, o.split("=", 1)[0].lstrip("+~")) for o in shared]
    return [o for o, k in keys if k not in CELL_KEYS and k.startswith("method.") == method_keys]
