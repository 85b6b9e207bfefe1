"""Laying records out in the layouts: one block per model, one row per method, one cell per column (the
notes around them come from `notes`).

By default every model with records gets a block: each layout's paper models first (always, so the paper's
numbers and the commands to fill them are there), then any other model with a record for one of the table's
cells, labelled as not a paper model and laid out against the table's first paper model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dcft.results.columns import TASK_COLUMNS, Column, select_key, task_sort_key
from dcft.results.grid import Block, Cell, Row, Table
from dcft.results.layouts import (
    LAYOUTS,
    PARAM_MATCHED_RIVALS,
    PARAM_MATCHED_ROWS,
    PARAM_MATCHED_TITLE,
    Layout,
    Method,
)
from dcft.results.notes import add_notes
from dcft.results.paper import PaperValues, load_paper
from dcft.results.selection import RecordIndex, Selection, SettingsGroup
from dcft.results.stats import AGGREGATIONS, Stat, most_common
from dcft.results.store import FINISHED, RULES, Record, Warn, warn_stderr
from dcft.results.units import DASH, format_params

CountParams = Callable[[str, dict], int]  # (model, method settings) -> trainable parameters, head excluded
CachedCount = Callable[[str, dict], "int | None"]  # CountParams, cached; None where it failed
NOT_RECORDED = "not recorded (schema-1 records)"


def _cached(count_params: CountParams, warn: Warn) -> CachedCount:
    """Call the hook once per (model, settings); a failure warns once and falls back to the records."""
    memo: dict[tuple, int | None] = {}

    def count(model: str, settings: dict) -> int | None:
        key = (model, tuple(sorted(settings.items())))
        if key not in memo:
            try:
                memo[key] = int(count_params(model, settings))
            except Exception as err:  # a counting bug must not cost the whole table: say so, use the records
                warn(f"warning: count_params({model!r}, {settings}) failed ({type(err).__name__}: {err}); "
                     "#Params taken from the records")
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
    """Mean over tasks of each task's mean over its shown columns (MNLI: (m + mm) / 2, or m alone where the
    paper printed only m), as the paper's Avg."""
    kinds = ("hours",) if column.kind == "avg_hours" else ("metric",)
    per_task = []
    for task in tasks:
        mine = [c for c in cells if c.column.task == task and c.column.kind in kinds and c.status != "hidden"]
        if not mine or any(c.ours is None for c in mine):
            return Cell(column, "incomplete")
        per_task.append(sum(c.ours.value for c in mine) / len(mine))
    return Cell(column, "ok", Stat(sum(per_task) / len(per_task), None, len(per_task)))


def _row(layout: Layout, method: Method, block: Block, index: RecordIndex, paper: PaperValues, rule: str,
         agg: str, count: CachedCount | None) -> Row:
    tag, hidden = method.tag, layout.hidden(block.paper_model or "")
    sels = {}
    if tag is not None:
        sels = {t: index.select(block.runs_model, t, tag, select_key(t), rule, agg) for t in layout.tasks}
    cells: list[Cell] = []
    for col in layout.columns():
        if (col.task, col.key) in hidden:
            cell = Cell(col, "hidden")
        elif col.task == "avg":
            cell = _average(col, cells, layout.tasks)
        else:
            cell = _cell(col, sels.get(col.task), rule, agg)
        if block.paper_model and cell.status != "hidden":
            where = (layout.number, block.paper_model, method.paper, col.task, col.paper_metric)
            cell.paper = paper.value(*where, index=col.paper_index)
        cells.append(cell)
    n = most_common(s.params for s in sels.values())
    if count is not None and tag is not None and method.fixed_tag is None:
        counted = count(block.runs_model, method.settings)
        n = n if counted is None else counted
    params = format_params(n, layout.param_unit, most_common(s.total for s in sels.values()))
    paper_params = paper.params(layout.number, block.paper_model, method.paper) if block.paper_model else None
    return Row(method, params, paper_params or DASH, cells, sels, n)


def _block_pairs(layout: Layout, index: RecordIndex, model: str | None) -> list[tuple[str, str | None]]:
    """(runs model, paper model) per block."""
    reference = layout.models[0] if layout.models else None
    if model:
        return [(model, model if model in layout.models else reference)]
    tags = {m.tag for m in layout.rows(reference or "")} - {None}
    pairs: list[tuple[str, str | None]] = [(m, m) for m in layout.models]
    for m in index.models():
        if m not in layout.models and any(t in layout.tasks and g in tags for _, t, g in index.keys(m)):
            pairs.append((m, reference))
    return pairs


def _hparams_sets(groups: list[SettingsGroup]) -> tuple[str, ...]:
    return tuple(sorted({g.hparams_set or NOT_RECORDED for g in groups}))


def build_table(layout: Layout, index: RecordIndex, rule: str, agg: str, model: str | None, paper: PaperValues,
                count: CachedCount | None = None) -> Table:
    table = Table(layout, rule, agg, [], notes=list(layout.notes))
    for runs_model, paper_model in _block_pairs(layout, index, model):
        block = Block(runs_model, paper_model, [])
        block.rows = [_row(layout, m, block, index, paper, rule, agg, count) for m in layout.rows(paper_model or "")]
        block.hparams_sets = _hparams_sets([s.group for r in block.rows for s in r.selections.values() if s.group])
        add_notes(table, block, index)
        table.blocks.append(block)
    return table


def _index(records: Iterable[Record] | RecordIndex, hparams_set: str | None) -> RecordIndex:
    return records if isinstance(records, RecordIndex) else RecordIndex(records, hparams_set)


def _check(rule: str, agg: str) -> None:
    if rule not in RULES or agg not in AGGREGATIONS:
        raise ValueError(f"rule={rule!r} agg={agg!r}: choose rule from {RULES} and agg from {AGGREGATIONS}")


def build_tables(
    records: Iterable[Record] | RecordIndex,
    rule: str = "best",
    agg: str = "mean",
    model: str | None = None,
    count_params: CountParams | None = None,
    paper: PaperValues | None = None,
    warn: Warn | None = None,
    layouts: Iterable[Layout] = LAYOUTS,
    hparams_set: str | None = None,
) -> list[Table]:
    """Lay the records out in the paper's tables. `model` narrows every table to that model's runs (against
    the table's first paper model when it is not one of its own); `hparams_set` shows only runs of that set."""
    _check(rule, agg)
    paper = paper or load_paper()
    count = _cached(count_params, warn or warn_stderr) if count_params else None
    index = _index(records, hparams_set)
    return [build_table(layout, index, rule, agg, model, paper, count) for layout in layouts]


def param_matched_layout(index: RecordIndex, model: str | None = None) -> Layout:
    """DCFT, LoRA r=1 and the registered rivals (plus every rival tag the records hold); the tasks with runs."""
    rows = [m for m in PARAM_MATCHED_ROWS if m.tag is not None]
    known = {m.tag for m in rows}
    mine = [r for r in index.records if model is None or r["model"] == model]
    extra = sorted({(r.get("method"), r["method_tag"]) for r in mine
                    if r.get("method") in PARAM_MATCHED_RIVALS and r["method_tag"] not in known})
    rows += [Method(tag, "", name, fixed_tag=tag) for name, tag in extra]
    tags = {m.tag for m in rows}
    tasks = sorted({r["task"] for r in mine if r["method_tag"] in tags and r["task"] in TASK_COLUMNS},
                   key=task_sort_key)
    return Layout(None, PARAM_MATCHED_TITLE, (), tuple(tasks), tuple(rows), name="param_matched", paper=False)


def build_param_matched(records: Iterable[Record] | RecordIndex, rule: str = "best", agg: str = "mean",
                        model: str | None = None, hparams_set: str | None = None) -> Table:
    """The param-matched table (method x task, #Params, the runs' model), from the records alone."""
    _check(rule, agg)
    index = _index(records, hparams_set)
    return build_table(param_matched_layout(index, model), index, rule, agg, model, PaperValues([]))
