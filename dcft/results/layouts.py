"""The paper's six tables as data (which tasks/metrics are columns, which methods are rows, the one
mapping from the paper's method labels to our `method_tag`s and `run.py` overrides), and
`build_tables`, which lays run records out in them next to the paper's numbers.

Change a mapping here and every table, command and figure follows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dcft.results.paper import PaperValues, load_paper
from dcft.results.records import (
    AGGREGATIONS,
    FINISHED,
    RULES,
    Record,
    RecordIndex,
    Selection,
    Stat,
    Warn,
    most_common,
    warn_stderr,
)

PAPER_SEED = 6  # the authors' launch scripts use seed 6 everywhere
DASH = "—"
CountParams = Callable[[str, dict], int]  # (model, method settings) -> trainable parameters, head excluded
CachedCount = Callable[[str, dict], "int | None"]  # CountParams, cached; None where it failed
RULE_TEXT = {"best": "best dev step of each run, the paper's rule", "final": "last evaluation of each run"}


@dataclass(frozen=True)
class Column:
    """One table column: a record metric of one task (or the row average, or training hours)."""

    task: str  # "cola", ..., or "avg"
    key: str  # record metric key ("mcc", "validation_matched_accuracy", ...); "train_hours"; "avg"
    label: str  # header text
    paper_metric: str  # the `metric` column in paper_results.csv
    paper_index: int = 0  # which number of a printed "a/b" cell
    kind: str = "metric"  # "metric" | "hours" | "avg" | "avg_hours"

    @property
    def lower_is_better(self) -> bool:
        return self.kind in ("hours", "avg_hours")


@dataclass(frozen=True)
class Method:
    """A table row: the paper's label and how we run it (tag None: the harness cannot run it)."""

    label: str  # printed row label
    paper: str  # `method` in paper_results.csv
    tag: str | None  # our method_tag (records' `method_tag`, folder name under runs/<model>/<task>/)
    overrides: str = ""  # run.py overrides selecting this method
    settings: dict[str, Any] = field(default_factory=dict)  # passed to count_params(model, settings)


@dataclass(frozen=True)
class Layout:
    number: int
    title: str
    models: tuple[str, ...]  # the paper's model per block, in the paper's order
    tasks: tuple[str, ...]
    methods: tuple[Method, ...]
    hours: bool = False  # also show training time (hours, from train_time_s)
    avg: bool = False  # show the row average (the paper has one in Tables 1 and 4)
    param_unit: str = "M"  # "M" or "K" (binary, as the paper prints) or "%" of total parameters

    def columns(self) -> list[Column]:
        """Metric columns in the paper's task order, then Avg, then the hours columns (+ Avg h)."""
        cols = [c for task in self.tasks for c in TASK_COLUMNS[task]]
        if self.avg:
            cols.append(Column("avg", "avg", "Avg", "avg", kind="avg"))
        if self.hours:
            cols += [
                Column(t, "train_hours", f"{TASK_LABEL[t]} h", "train_hours", kind="hours")
                for t in self.tasks
            ]
            if self.avg:
                cols.append(Column("avg", "avg", "Avg h", "train_hours", kind="avg_hours"))
        return cols


# fmt: off
TASK_LABEL = {
    "cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "stsb": "STS-B", "mnli": "MNLI",
    "qnli": "QNLI", "rte": "RTE", "squad": "SQuAD v1.1", "squad_v2": "SQuAD v2.0",
}
# fmt: on


def _one(task: str, key: str, paper_metric: str) -> tuple[Column, ...]:
    return (Column(task, key, TASK_LABEL[task], paper_metric),)


def _pair(
    task: str, keys: tuple[str, str], suffixes: tuple[str, str], paper_metric: str
) -> tuple[Column, ...]:
    return tuple(
        Column(task, k, f"{TASK_LABEL[task]} {s}", paper_metric, i)
        for i, (k, s) in enumerate(zip(keys, suffixes, strict=True))
    )


# Record metric keys per task (trainer's names; MNLI has two eval splits, so its keys carry the split).
TASK_COLUMNS: dict[str, tuple[Column, ...]] = {
    "cola": _one("cola", "mcc", "mcc"),
    "sst2": _one("sst2", "accuracy", "acc"),
    "mrpc": _one("mrpc", "accuracy", "acc"),
    "qqp": _one("qqp", "accuracy", "acc"),
    "stsb": _one("stsb", "pearson", "pearson"),
    "mnli": _pair(
        "mnli", ("validation_matched_accuracy", "validation_mismatched_accuracy"), ("m", "mm"), "acc_m/acc_mm"
    ),
    "qnli": _one("qnli", "accuracy", "acc"),
    "rte": _one("rte", "accuracy", "acc"),
    "squad": _pair("squad", ("exact_match", "f1"), ("EM", "F1"), "em/f1"),
    "squad_v2": _pair("squad_v2", ("exact", "f1"), ("EM", "F1"), "em/f1"),
}

# The metric that picks the winning lr of a cell (the trainer's main metric for the task).
# fmt: off
SELECT_KEY = {"cola": "mcc", "stsb": "pearson", "mnli": "validation_matched_accuracy",
              "squad": "f1", "squad_v2": "f1"}
# fmt: on


def select_key(task: str) -> str:
    return SELECT_KEY.get(task, "accuracy")


def _simple(label: str, paper: str, name: str, tag: str | None = None, **settings: Any) -> Method:
    return Method(label, paper, tag or name, f"method={name}", {"method": name, **settings})


def _unrunnable(label: str, paper: str) -> Method:
    return Method(label, paper, None)


def dcft(label: str, paper: str, kernel: int, stride: int | None = None, targets: str = "all") -> Method:
    """DCFT row: tag `dcft-d{d}-s{s}[-{targets}]` (as dcft.methods.dcft.tag_for), overrides
    `method=dcft kernel=d stride=s [method.targets=t]`."""
    stride = kernel if stride is None else stride
    tag = f"dcft-d{kernel}-s{stride}" + ("" if targets == "all" else f"-{targets}")
    overrides = f"method=dcft kernel={kernel} stride={stride}" + (
        "" if targets == "all" else f" method.targets={targets}"
    )
    settings = {"method": "dcft", "kernel": kernel, "stride": stride, "rank": 1, "targets": targets}
    return Method(label, paper, tag, overrides, settings)


FULL = _simple("Full FT", "full", "full")
BITFIT = _simple("BitFit", "bitfit", "bitfit")
HADAPTER = _unrunnable("HAdapter", "hadapter")
PADAPTER = _unrunnable("PAdapter", "padapter")
# The paper compares DCFT with rank-one LoRA on DeBERTaV3-base (0.17M = r=1 on all six matrices). The
# RoBERTa-large / DeBERTaV2-xxl LoRA numbers are copied from other papers (r=8 on Q,V); we still run r=1.
LORA = _simple("LoRA (r=1)", "lora", "lora", tag="lora-r1", r=1)
SORA = _unrunnable("SoRA", "sora")
LORA_FA = _simple("LoRA-FA (r=1)", "lora-fa", "lora_fa", tag="lora_fa-r1", r=1)  # conf/method/lora_fa.yaml
DCFT_EFFICIENT = dcft("DCFT∆ (d=8, most efficient)", "dcft-efficient(d=8)", 8)
DCFT_BEST = dcft("DCFT† (d=2, best)", "dcft-best(d=2)", 2)

GLUE = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte")

# fmt: off
LAYOUTS: tuple[Layout, ...] = (
    Layout(1, "GLUE dev results of DCFT and baselines", ("deberta-v3-base", "roberta-large"), GLUE,
           (FULL, BITFIT, HADAPTER, PADAPTER, LORA, SORA, LORA_FA, DCFT_EFFICIENT, DCFT_BEST), avg=True),
    Layout(2, "DeBERTaV2-xxlarge on four GLUE tasks", ("deberta-v2-xxlarge",),
           ("cola", "sst2", "stsb", "qnli"), (FULL, LORA, DCFT_EFFICIENT)),
    # The paper does not state d for SQuAD; its 0.04% of 184M (~75K) only fits d=2 (83,232 parameters).
    Layout(3, "SQuAD v1.1 / v2.0 dev EM and F1", ("deberta-v3-base",), ("squad", "squad_v2"),
           (FULL, HADAPTER, PADAPTER, LORA, dcft("DCFT (d=2)", "dcft", 2)), param_unit="%"),
    Layout(4, "DCFT kernel size d: dev metric and training time", ("deberta-v3-base",),
           ("sst2", "cola", "qnli", "rte", "mrpc", "stsb"),
           (FULL, *(dcft(f"DCFT (d={d})", f"dcft(d={d})", d) for d in (2, 4, 6, 8, 12))),
           hours=True, avg=True),
    Layout(5, "DCFT stride s at d=8: dev metric and training time", ("deberta-v3-base",),
           ("cola", "mrpc", "stsb", "rte"),
           tuple(dcft(f"DCFT (d=8, s={s})", f"dcft(d=8,s={s})", 8, s) for s in (1, 2, 4, 8)),
           hours=True, param_unit="K"),
    Layout(6, "Which matrices DCFT adapts (d=8)", ("deberta-v3-base",), ("cola", "mrpc", "stsb", "rte"),
           (dcft("DCFT (Q,K)", "dcft(Q,K)", 8, targets="qk"),
            dcft("DCFT (Q,V)", "dcft(Q,V)", 8, targets="qv"),
            dcft("DCFT (Q,K,V)", "dcft(Q,K,V)", 8, targets="qkv"),
            # The paper's "O" matched both output projections (attention and FFN output), see SPEC §3.
            dcft("DCFT (Q,K,V,O)", "dcft(Q,K,V,O)", 8, targets="qkvo_paper"),
            dcft("DCFT (ALL)", "dcft(ALL)", 8)),
           param_unit="K"),
)
# fmt: on

# Figures 2 and 3 compare these two rows.
FIGURE_METHODS = (dcft("DCFT (d=8)", "dcft(d=8)", 8), LORA)
FIG2_TASKS = ("cola", "rte", "mrpc", "qnli")
FIG_MODEL = "deberta-v3-base"


def run_command(model: str, task: str, method: Method, seeds: list[int], shared: list[str] | None = None) -> str:
    """The run.py command line that would fill one cell (a Hydra multirun when several seeds), with the
    settings the model's existing runs share (their data.dir, schedule ...)."""
    assert method.tag is not None, f"method {method.label!r} cannot be run by this harness"
    seeds = sorted(seeds) or [PAPER_SEED]
    head = "python run.py -m" if len(seeds) > 1 else "python run.py"
    extra = "".join(f" {o}" for o in shared or [])
    return f"{head} model={model} task={task} {method.overrides} seed={','.join(map(str, seeds))}{extra}"


# ---- Laying records out in the layouts -------------------------------------------------------------


@dataclass
class Cell:
    column: Column
    status: str  # "ok" | "missing" | "failed" | "running" | "no metric" | "n/a" (not runnable) | "incomplete"
    ours: Stat | None = None
    paper: float | None = None
    selection: Selection | None = None

    @property
    def diff(self) -> float | None:
        return None if self.ours is None or self.paper is None else self.ours.value - self.paper


@dataclass
class Row:
    method: Method
    params: str  # ours, formatted like the paper
    params_paper: str
    cells: list[Cell]
    selections: dict[str, Selection] = field(default_factory=dict)  # task -> selection


@dataclass
class Block:
    runs_model: str
    paper_model: str
    rows: list[Row]

    @property
    def label(self) -> str:
        return f"runs: {self.runs_model}; paper: {self.paper_model}"


@dataclass
class Table:
    layout: Layout
    rule: str
    agg: str
    blocks: list[Block]
    commands: list[str] = field(default_factory=list)  # run.py lines that would fill the missing cells
    lr_notes: list[str] = field(default_factory=list)  # which lr won where several were tried
    problems: list[str] = field(default_factory=list)  # failed runs, finished runs lacking the metric

    @property
    def caption(self) -> str:
        blocks = " | ".join(b.label for b in self.blocks)
        return (
            f"Table {self.layout.number}: {self.layout.title} ({blocks}). Reporting rule: {self.rule} "
            f"({RULE_TEXT[self.rule]}); aggregation: {self.agg} ± sample std over seeds, at the best "
            f"learning rate per cell. Each cell: ours / paper (ours − paper)."
        )

    def counts(self) -> Counter:
        """Run cells (block x runnable row x task) by selection status."""
        return Counter(s.status for b in self.blocks for r in b.rows for s in r.selections.values())


def format_params(n: int | None, unit: str, total: int | None = None) -> str:
    """Parameter count in the paper's binary units: 25344 -> 0.024M (unit M) / 24.8K (unit K)."""
    if n is None:
        return DASH
    if unit == "%" and total:
        return f"{100.0 * n / total:.2f}%"
    if unit == "K":
        return f"{n / 1024:.1f}K"
    mega = n / 2**20
    if mega >= 1024:
        return f"{mega / 1024:.1f}B"
    return f"{mega:.0f}M" if mega >= 100 else f"{mega:.1f}M" if mega >= 1 else f"{mega:.3f}M"


def _row_params(
    method: Method, model: str, sels: list[Selection], unit: str, count: CachedCount | None
) -> str:
    """The row's #Params: from the `count_params` hook when given (and it works), else the records."""
    n, total = most_common(s.params for s in sels), most_common(s.total for s in sels)
    if count is not None and method.tag is not None:
        counted = count(model, dict(method.settings))
        n = n if counted is None else counted
    return format_params(n, unit, total)


def _cached(count_params: CountParams, warn: Warn) -> CachedCount:
    """Call the hook once per (model, settings); a failure warns once and falls back to the records."""
    memo: dict[tuple, int | None] = {}

    def count(model: str, settings: dict) -> int | None:
        key = (model, tuple(sorted(settings.items())))
        if key not in memo:
            try:
                memo[key] = int(count_params(model, settings))
            except Exception as err:  # a counting bug must not cost the whole table: say so, use the records
                warn(
                    f"warning: count_params({model!r}, {settings}) failed ({type(err).__name__}: {err}); "
                    "#Params taken from the records"
                )
                memo[key] = None
        return memo[key]

    return count


def _cell(column: Column, sel: Selection | None, rule: str, agg: str) -> Cell:
    if sel is None:
        return Cell(column, "n/a")
    if sel.status != FINISHED:
        return Cell(column, sel.status, selection=sel)
    stat = sel.hours(agg) if column.kind == "hours" else sel.stat(column.key, rule, agg)
    return Cell(column, "ok" if stat else "no metric", stat, selection=sel)


def _average(column: Column, cells: list[Cell], tasks: tuple[str, ...]) -> Cell:
    """Mean over tasks of each task's mean over its columns (MNLI: (m + mm) / 2, as the paper's Avg)."""
    kinds = ("hours",) if column.kind == "avg_hours" else ("metric",)
    per_task = []
    for task in tasks:
        mine = [c for c in cells if c.column.task == task and c.column.kind in kinds]
        if not mine or any(c.ours is None for c in mine):
            return Cell(column, "incomplete")
        per_task.append(sum(c.ours.value for c in mine) / len(mine))
    return Cell(column, "ok", Stat(sum(per_task) / len(per_task), None, len(per_task)))


def _row(
    layout: Layout,
    method: Method,
    runs_model: str,
    paper_model: str,
    index: RecordIndex,
    paper: PaperValues,
    rule: str,
    agg: str,
    count: CachedCount | None,
) -> Row:
    sels = {}
    if method.tag is not None:
        sels = {t: index.select(runs_model, t, method.tag, select_key(t), rule, agg) for t in layout.tasks}
    cells: list[Cell] = []
    for col in layout.columns():
        cell = (
            _average(col, cells, layout.tasks)
            if col.task == "avg"
            else _cell(col, sels.get(col.task), rule, agg)
        )
        where = (layout.number, paper_model, method.paper, col.task, col.paper_metric)
        cell.paper = paper.value(*where, index=col.paper_index)
        cells.append(cell)
    params = _row_params(method, runs_model, list(sels.values()), layout.param_unit, count)
    return Row(method, params, paper.params(layout.number, paper_model, method.paper) or DASH, cells, sels)


def build_tables(
    records: Iterable[Record],
    rule: str = "best",
    agg: str = "mean",
    model: str | None = None,
    count_params: CountParams | None = None,
    paper: PaperValues | None = None,
    warn: Warn | None = None,
    layouts: Iterable[Layout] = LAYOUTS,
) -> list[Table]:
    """Lay the records out in the paper's tables. `model` puts that model's runs into every layout
    (against the layout's first paper model); default: each block's own paper model."""
    if rule not in RULES or agg not in AGGREGATIONS:
        raise ValueError(f"rule={rule!r} agg={agg!r}: choose rule from {RULES} and agg from {AGGREGATIONS}")
    paper = paper or load_paper()
    count = _cached(count_params, warn or warn_stderr) if count_params else None
    index = records if isinstance(records, RecordIndex) else RecordIndex(records)
    tables = []
    for layout in layouts:
        table = Table(layout, rule, agg, [])
        pairs = [(model, layout.models[0])] if model else [(m, m) for m in layout.models]
        for runs_model, paper_model in pairs:
            rows = [
                _row(layout, m, runs_model, paper_model, index, paper, rule, agg, count)
                for m in layout.methods
            ]
            for row in rows:
                for task, sel in row.selections.items():
                    _notes(table, row.method, sel, task, rule, index.seeds(runs_model),
                           index.shared_overrides(runs_model))
            table.blocks.append(Block(runs_model, paper_model, rows))
        tables.append(table)
    return tables


def _notes(
    table: Table, method: Method, sel: Selection, task: str, rule: str, seeds: list[int], shared: list[str]
) -> None:
    where = f"{sel.model} / {TASK_LABEL[task]} / {method.label} (`{method.tag}`)"
    if sel.status == "missing":
        table.commands.append(run_command(sel.model, task, method, seeds, shared))
    if len(sel.lrs) > 1:
        table.lr_notes.append(f"{where}: lr {sel.lr:g} won (tried {', '.join(f'{x:g}' for x in sel.lrs)})")
    if sel.status == "no metric":
        table.problems.append(f"{where}: finished runs have no `{select_key(task)}` under rule `{rule}`")
    for run in sel.failed:
        error = str(run.get("error") or "").strip().splitlines()
        reason = f": {error[0][:120]}" if error else ""
        rerun = f"; rerun: `{run['command']}`" if run.get("command") else ""
        table.problems.append(
            f"{where}: {run['status']} at lr {run['lr']:g} seed {run['seed']}"
            f" (`{run.get('_path', '')}`){reason}{rerun}"
        )
