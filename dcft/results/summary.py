"""The study summary of one model: every (task, method) it has runs for, under both reporting rules, the
paired differences by seed (DCFT − LoRA r=1, − Full FT, − its PEFT rivals: layouts.STUDY_PAIRS) and the schedule checks
(twice the steps at a winner still climbing: scripts/study_schedule_checks.py); written as
`tables/summary_<model>.md` and two csv files.

Per task x method: the settings group shown, #Params, the lrs tried, and per rule the lr that won (flagged
when it sits on the grid's edge) with mean ± sample std over its seeds. A paired difference takes each
method at its own chosen lr and subtracts per seed, over the seeds both have.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from dcft.results.columns import TASK_COLUMNS, select_key, task_label, task_sort_key
from dcft.results.layouts import STUDY_PAIRS
from dcft.results.plateau import PLATEAU_TOLERANCE, plateau, plateau_text
from dcft.results.selection import RecordIndex, Selection, settings_diff
from dcft.results.stats import Stat, paired_difference
from dcft.results.store import FINISHED, RULE_TEXT, RULES, Record, integer, metric
from dcft.results.units import DASH, fmt, fmt_diff, fmt_lr, format_params

AGG = "mean"  # the summary reports mean ± sample std (the tables' --agg does not apply)


@dataclass(frozen=True)
class Line:
    """One (task, method): its selection under each rule (same settings group, maybe different lrs)."""

    task: str
    tag: str
    by_rule: dict[str, Selection]

    @property
    def any(self) -> Selection:
        return self.by_rule[RULES[0]]


@dataclass(frozen=True)
class Paired:
    task: str
    compared: str  # method tag
    reference: str
    metric: str
    by_rule: dict[str, Stat | None]


@dataclass(frozen=True)
class Check:
    """A doubling check: a study run and the same cell with twice its steps (None: the study run is gone)."""

    task: str
    tag: str
    study: Record | None
    doubled: Record


@dataclass(frozen=True)
class Summary:
    model: str
    lines: list[Line]
    paired: list[Paired]
    settings_notes: list[str]
    checks: tuple[Check, ...] = ()
    majority: dict[str, float] = field(default_factory=dict)  # task -> the majority-class floor (results.chance)


def file_stem(model: str) -> str:
    """`summary_<model>` with anything but letters, digits, `.`, `_`, `-` replaced by `_`."""
    return "summary_" + re.sub(r"[^A-Za-z0-9._-]", "_", model)


def build_summary(index: RecordIndex, model: str, checks: Iterable[Record] = (),
                  majority: dict[str, float] | None = None) -> Summary:
    """`checks`: the doubled runs (any model's; this model's are kept), each paired with the study's run of the
    same task, method, lr and seed that had half its steps. `majority`: task -> the score of always answering the
    train set's majority label (dcft.results.chance), kept for the tasks shown."""
    lines = [
        Line(task, tag, {rule: index.select(model, task, tag, select_key(task), rule, AGG) for rule in RULES})
        for _, task, tag in sorted(index.keys(model), key=lambda k: (task_sort_key(k[1]), k[2]))
        if task in TASK_COLUMNS
    ]
    found = {(line.task, line.tag): line for line in lines}
    paired = []
    for task in dict.fromkeys(line.task for line in lines):
        for method, reference in STUDY_PAIRS:
            mine, ref = found.get((task, method.tag)), found.get((task, reference.tag))
            if mine is None or ref is None:
                continue
            key = select_key(task)
            diffs = {rule: paired_difference(mine.by_rule[rule].values(key, rule), ref.by_rule[rule].values(key, rule))
                     for rule in RULES}
            paired.append(Paired(task, method.tag, reference.tag, key, diffs))
    notes = []
    for line in lines:
        sel = line.any
        for other in sel.others:
            shown = sel.group.describe() if sel.group else "none (other hyper-parameter set)"
            differs = f"; differs: {settings_diff(sel.group.settings(), other.settings())}" if sel.group else ""
            notes.append(f"{task_label(line.task)} / `{line.tag}`: shows {shown}; not shown: {other.describe()}"
                         f"{differs}")
    shown = {line.task for line in lines}
    floors = {task: value for task, value in (majority or {}).items() if task in shown}
    return Summary(model, lines, paired, notes, pair_checks(index, model, checks), floors)


def pair_checks(index: RecordIndex, model: str, checks: Iterable[Record]) -> tuple[Check, ...]:
    def cell(r: Record) -> tuple:
        return r["task"], r["method_tag"], float(r["lr"]), r["seed"]

    halves = {}
    for r in index.records:
        if r["model"] == model and r["status"] == FINISHED and (steps := integer(r.get("total_steps"))):
            halves.setdefault((*cell(r), 2 * steps), r)
    found = [Check(r["task"], r["method_tag"], halves.get((*cell(r), integer(r.get("total_steps")))), r)
             for r in checks if r["model"] == model and r["status"] == FINISHED and r["task"] in TASK_COLUMNS]
    return tuple(sorted(found, key=lambda c: (task_sort_key(c.task), c.tag, float(c.doubled["lr"]),
                                              c.doubled["seed"])))


def stat_text(stat: Stat | None, signed: bool = False) -> str:
    if stat is None:
        return DASH
    value = fmt_diff(stat.value) if signed else fmt(stat.value)
    return value + ("" if stat.std is None else f" ± {fmt(stat.std)}") + f" (n={stat.n})"


def lr_text(sel: Selection) -> str:
    """`0.01 (highest of 2)`, `0.003 (lowest of 3)`, `0.005`, `0.01 (only lr)`, or — without a winner."""
    if sel.lr is None:
        return DASH
    if len(sel.grid) == 1:
        return f"{fmt_lr(sel.lr)} (only lr)"
    return fmt_lr(sel.lr) + (f" ({sel.edge} of {len(sel.grid)})" if sel.edge else "")


def metrics_text(sel: Selection, task: str, rule: str) -> str:
    if sel.status != "finished":
        return sel.status if sel.status != "missing" else DASH
    columns = TASK_COLUMNS[task]
    if len(columns) == 1:
        return stat_text(sel.stat(columns[0].key, rule, AGG))
    return "; ".join(f"{c.label.split()[-1]} {stat_text(sel.stat(c.key, rule, AGG))}" for c in columns)


def to_markdown(summary: Summary) -> str:
    lines = [
        f"# Study summary: {summary.model}",
        "",
        "Every task x method with runs. Per method: the settings group with the most finished runs (the others "
        "are listed below), its learning rates, and per reporting rule the lr with the best mean main metric "
        "over the seeds every lr has (then shown over all of its seeds) "
        f"(flagged when it is the lowest or highest tried: the grid may be too narrow). Rules: best = "
        f"{RULE_TEXT['best']}; final = {RULE_TEXT['final']}. Values: mean ± sample std over seeds (n). MNLI mm "
        "under rule best is the mismatched accuracy at the best matched step; under rule final, at the end. "
        "Plateau (was the schedule long enough?): at the best rule's lr, every run's mean over the evaluations of "
        f"the last third of its steps is at most {PLATEAU_TOLERANCE} above its mean over the middle third (the "
        "largest gain shown; negative: it declined); a last third whose best stayed "
        f"more than {PLATEAU_TOLERANCE} below the run's best is named too (a passing peak: the final rule reads "
        "lower).",
        "",
        "| Task | Method | Settings | #Params | lrs tried | lr (best) | best | lr (final) | final | Plateau |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for line in summary.lines:
        sel = line.any
        params = DASH if sel.params is None else f"{format_params(sel.params)} ({sel.params:,})"
        cells = [task_label(line.task), f"`{line.tag}`", sel.group.name if sel.group else DASH, params,
                 sel.grid_text() or DASH]
        for rule in RULES:
            cells += [lr_text(line.by_rule[rule]), metrics_text(line.by_rule[rule], line.task, rule)]
        cells.append(plateau_text(line.by_rule[RULES[0]].runs, select_key(line.task)))
        lines.append("| " + " | ".join(cells) + " |")
    if not summary.lines:
        lines.append("| " + " | ".join([DASH] * 10) + " |")
    if summary.majority:
        floors = "; ".join(f"{task_label(task)} {fmt(value)}" for task, value in
                           sorted(summary.majority.items(), key=lambda item: task_sort_key(item[0])))
        lines += ["", f"Majority class (every dev example gets the train set's most frequent label, scored like the "
                      f"runs; a run at or near it has learnt nothing): {floors}."]
    lines += ["", "## Paired differences (by seed, each method at its chosen lr)", ""]
    if summary.paired:
        lines += ["| Task | Difference | Metric | best rule | final rule |", "|---|---|---|---|---|"]
        for p in summary.paired:
            cells = [task_label(p.task), f"`{p.compared}` − `{p.reference}`", p.metric]
            lines.append("| " + " | ".join(cells + [stat_text(p.by_rule[r], signed=True) for r in RULES]) + " |")
    else:
        pairs = ", ".join(f"{a.label} and {b.label}" for a, b in STUDY_PAIRS)
        lines.append(f"No task has runs of both methods of a pair yet ({pairs}).")
    if summary.checks:
        lines += ["", "## Schedule checks (the same run with twice the steps)", "",
                  "A winner whose deciding run was still climbing (Plateau: no) is rerun with twice the optimizer "
                  "steps, lr, seed and warm-up fraction unchanged (`make study-checks`; records in "
                  "`<results>/<model>/schedule-check`, never mixed with the study's). Each cell: the study's run → "
                  "the doubled one; the change is the doubled run's minus the study's.", "",
                  "| Task | Method | lr | seed | steps | best | final | last third's mean | last-third gain |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [check_row(c) for c in summary.checks]
    if summary.settings_notes:
        lines += ["", "## Runs with other settings (not shown)", ""] + [f"- {n}" for n in summary.settings_notes]
    return "\n".join(lines) + "\n"


def check_row(check: Check) -> str:
    """`study → doubled (change)` per quantity; a dash where the study run is gone or lacks the value."""
    key = select_key(check.task)
    runs = [check.study, check.doubled]
    late = [plateau(r, key) if r is not None else None for r in runs]

    def pair(study: float | None, doubled: float | None) -> str:
        if doubled is None:
            return DASH
        if study is None:
            return f"{DASH} → {fmt(doubled)}"
        return f"{fmt(study)} → {fmt(doubled)} ({fmt_diff(doubled - study)})"

    def steps(record: Record | None) -> str:
        count = integer(record.get("total_steps")) if record is not None else None
        return f"{count:,}" if count else DASH

    cells = [task_label(check.task), f"`{check.tag}`", fmt_lr(float(check.doubled["lr"])), str(check.doubled["seed"]),
             f"{steps(check.study)} → {steps(check.doubled)}",
             *(pair(*(metric(r, key, rule) if r is not None else None for r in runs)) for rule in RULES),
             pair(*(p.late_mean if p else None for p in late)),
             " → ".join(fmt_diff(p.gain) if p else DASH for p in late)]
    return "| " + " | ".join(cells) + " |"


# fmt: off
CSV_FIELDS = ["model", "task", "method_tag", "settings_id", "hparams_set", "params", "lrs", "n_other_settings",
              "rule", "lr", "lr_edge", "status", "metric", "mean", "std", "n", "plateau_gain", "plateau_shortfall"]
PAIRED_FIELDS = ["model", "task", "compared", "reference", "metric", "rule", "mean", "std", "n_pairs"]
# fmt: on


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"


def to_csv(summary: Summary) -> str:
    """One line per task x method x rule x metric."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for line in summary.lines:
        for rule in RULES:
            sel = line.by_rule[rule]
            for column in TASK_COLUMNS[line.task]:
                stat = sel.stat(column.key, rule, AGG) if sel.status == "finished" else None
                found = [p for r in sel.runs if (p := plateau(r, column.key)) is not None]
                writer.writerow({
                    "model": summary.model, "task": line.task, "method_tag": line.tag,
                    "settings_id": (sel.group.settings_id or "") if sel.group else "",
                    "hparams_set": (sel.group.hparams_set or "") if sel.group else "",
                    "params": "" if sel.params is None else sel.params, "lrs": ";".join(fmt_lr(x) for x in sel.lrs),
                    "n_other_settings": len(sel.others), "rule": rule, "lr": "" if sel.lr is None else fmt_lr(sel.lr),
                    "lr_edge": sel.edge or "", "status": sel.status, "metric": column.key,
                    "mean": _num(stat and stat.value), "std": _num(stat and stat.std), "n": stat.n if stat else "",
                    "plateau_gain": _num(max((p.gain for p in found), default=None)),
                    "plateau_shortfall": _num(max((p.shortfall for p in found), default=None)),
                })
    return out.getvalue()


def paired_csv(summary: Summary) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, PAIRED_FIELDS, lineterminator="\n")
    writer.writeheader()
    for p in summary.paired:
        for rule in RULES:
            stat = p.by_rule[rule]
            writer.writerow({"model": summary.model, "task": p.task, "compared": p.compared, "reference": p.reference,
                             "metric": p.metric, "rule": rule, "mean": _num(stat and stat.value),
                             "std": _num(stat and stat.std), "n_pairs": stat.n if stat else 0})
    return out.getvalue()
