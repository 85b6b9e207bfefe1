"""A built table: cells (ours, the paper's, the selection behind them) in rows, rows in one block per model,
and the notes around them. `build` fills these; `formats` prints them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dcft.results.columns import Column
from dcft.results.layouts import Layout, Method
from dcft.results.selection import Selection
from dcft.results.stats import Stat
from dcft.results.store import RULE_TEXT


@dataclass
class Cell:
    column: Column
    status: str  # ok | missing | failed | running | no metric | n/a (not runnable) | incomplete | hidden
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
    params_count: int | None = None

    @property
    def label(self) -> str:
        return self.method.shown_label


@dataclass
class Block:
    runs_model: str
    paper_model: str | None  # None: a table without paper numbers
    rows: list[Row]
    hparams_sets: tuple[str, ...] = ()  # of the settings groups shown

    @property
    def label(self) -> str:
        if self.paper_model is None:
            return f"runs: {self.runs_model}"
        if self.runs_model == self.paper_model:
            return f"runs: {self.runs_model}; paper: {self.paper_model}"
        return f"runs: {self.runs_model} (not a paper model); paper: {self.paper_model}"

    def counts(self) -> Counter:
        """Run cells (runnable row x task) by selection status."""
        return Counter(s.status for r in self.rows for s in r.selections.values())


@dataclass
class Table:
    layout: Layout
    rule: str
    agg: str
    blocks: list[Block]
    commands: list[str] = field(default_factory=list)  # run.py lines that would fill the missing cells
    lr_notes: list[str] = field(default_factory=list)  # which lr won where several were tried
    settings_notes: list[str] = field(default_factory=list)  # settings groups not shown, and what differs
    problems: list[str] = field(default_factory=list)  # failed runs, finished runs lacking the metric
    notes: list[str] = field(default_factory=list)  # the layout's notes, rows the harness cannot run

    @property
    def caption(self) -> str:
        head = f"Table {self.layout.number}: " if self.layout.number else ""
        blocks = " | ".join(b.label for b in self.blocks) or "no runs yet"
        sets = "; ".join(f"{b.runs_model}: {', '.join(b.hparams_sets) or 'no runs yet'}" for b in self.blocks)
        each = "ours / paper (ours − paper)" if self.layout.paper else "ours"
        return (
            f"{head}{self.layout.title} ({blocks}). Hyper-parameter set: {sets or 'no runs yet'}. Reporting "
            f"rule: {self.rule} ({RULE_TEXT[self.rule]}); aggregation: {self.agg} ± sample std over seeds, at "
            f"the best learning rate per cell. Each cell: {each}."
        )

    def counts(self) -> Counter:
        return sum((b.counts() for b in self.blocks), Counter())
