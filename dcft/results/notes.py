"""What a table says around its cells: the learning rate each cell picked (and whether it sits on the grid's
edge), settings groups not shown and what differs, failed runs, rows the harness cannot run, printed Avgs that
are not the mean of the paper's own row, and the `run.py` commands that would fill the missing cells."""

from __future__ import annotations

from collections import Counter

from dcft.results.columns import select_key, task_label
from dcft.results.commands import run_command
from dcft.results.grid import Block, Table
from dcft.results.selection import RecordIndex, settings_diff, shared_overrides
from dcft.results.store import Record

AVG_TOLERANCE = 0.006  # the paper prints two decimals: a larger gap is not rounding


def _block_records(block: Block, index: RecordIndex) -> list[Record]:
    """The runs a block shows (their settings seed the fill commands); none yet: the model's shown runs."""
    groups = [s.group for r in block.rows for s in r.selections.values() if s.group is not None]
    if not groups:
        groups = [g for k in index.keys(block.runs_model) if (g := index.chosen(*k)) is not None]
    return [r for g in groups for r in g.records]


def add_notes(table: Table, block: Block, index: RecordIndex) -> None:
    """Append the block's notes and fill commands to the table's."""
    records = _block_records(block, index)
    seeds = sorted({r["seed"] for r in records})
    shared = shared_overrides(records)
    sets = Counter(g.hparams_set for r in block.rows for s in r.selections.values() if (g := s.group))
    hparams_set = index.hparams_set or (min(sets, key=lambda s: (-sets[s], s or "")) if sets else None)
    for row in block.rows:
        method, tag = row.method, row.method.tag
        if tag is None:
            note = f"{row.label}: the paper's values only; the harness cannot run it ({row.method.resolve()[1]})"
            if note not in table.notes:
                table.notes.append(note)
            continue
        own = shared_overrides([r for r in records if r.get("method") == method.name], method_keys=True)
        for task, sel in row.selections.items():
            where = f"{sel.model} / {task_label(task)} / {row.label} (`{tag}`)"
            if sel.status == "missing" and method.fixed_tag is None:
                table.commands.append(run_command(sel.model, task, method, seeds, shared + own, hparams_set))
            if len(sel.grid) > 1:
                table.lr_notes.append(f"{where}: {sel.lr_text()}")
            for other in sel.others:
                shown = f"shows {sel.group.describe()}" if sel.group else "shows none (other hyper-parameter set)"
                differs = settings_diff(sel.group.settings(), other.settings()) if sel.group else ""
                table.settings_notes.append(
                    f"{where}: {shown}; not shown: {other.describe()}" + (f"; differs: {differs}" if differs else "")
                )
            if sel.status == "no metric":
                table.problems.append(f"{where}: finished runs have no `{select_key(task)}` under rule "
                                      f"`{table.rule}`")
            for run in sel.failed:
                error = str(run.get("error") or "").strip().splitlines()
                reason = f": {error[0][:120]}" if error else ""
                rerun = f"; rerun: `{run['command']}`" if run.get("command") else ""
                table.problems.append(f"{where}: {run['status']} at lr {run['lr']:g} seed {run['seed']}"
                                      f" (`{run.get('_path', '')}`){reason}{rerun}")
    if block.paper_model is not None and block.paper_model == block.runs_model:
        table.notes += paper_avg_notes(block)


def paper_avg_notes(block: Block) -> list[str]:
    """Rows where the paper's printed Avg is not the mean of the numbers it printed in that row (MNLI as the
    Avg column takes it), so a reader does not chase a difference that is the paper's own."""
    notes = []
    for row in block.rows:
        for i, cell in enumerate(row.cells):
            if cell.column.task != "avg" or cell.paper is None:
                continue
            kind = "hours" if cell.column.kind == "avg_hours" else "metric"
            per_task: dict[str, list[float]] = {}
            for c in row.cells[:i]:
                if c.column.kind == kind and c.status != "hidden":
                    per_task.setdefault(c.column.task, []).append(c.paper)
            if not per_task or any(v is None for vs in per_task.values() for v in vs):
                continue
            mean = sum(sum(vs) / len(vs) for vs in per_task.values()) / len(per_task)
            if abs(mean - cell.paper) > AVG_TOLERANCE:
                notes.append(f"{block.paper_model} / {row.label}: the paper's {cell.column.label} {cell.paper:.2f} "
                             f"is not the mean of its printed row ({mean:.3f}); ours is the mean of ours.")
    return notes
