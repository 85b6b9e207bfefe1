"""The paper's printed numbers (`dcft/data/paper_results.csv`), looked up by table, model, label, task.

Values like `89.98/89.95` (MNLI m/mm) or `86.0/92.7` (SQuAD EM/F1) hold several numbers in one printed
cell; `PaperValues.value(..., index=i)` returns the i-th, or None where the paper printed fewer
(RoBERTa-large's MNLI has only the matched accuracy).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PaperKey = tuple[int, str, str, str, str]  # (table, model, method label, task, metric)


@dataclass(frozen=True)
class PaperRow:
    table: int
    model: str
    method: str  # the paper's label, e.g. "dcft(d=8,s=1)", "lora-fa"
    params: str  # as printed: "0.024M", "165.5K", "0.08%", "" when the paper left it blank
    task: str  # "cola", ..., "avg"
    metric: str  # "mcc", "acc", "acc_m/acc_mm", "em/f1", "pearson", "avg", "train_hours"
    value: str  # as printed, possibly "a/b"
    note: str = ""


def _parse_number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


class PaperValues:
    """Index over the paper's rows; every lookup is exact (no fuzzy matching of labels)."""

    def __init__(self, rows: list[PaperRow]):
        self.rows = rows
        self._by_key: dict[PaperKey, PaperRow] = {}
        self._params: dict[tuple[int, str, str], str] = {}
        for row in rows:
            self._by_key[(row.table, row.model, row.method, row.task, row.metric)] = row
            if row.params and (row.table, row.model, row.method) not in self._params:
                self._params[(row.table, row.model, row.method)] = row.params

    def value(
        self, table: int, model: str, method: str, task: str, metric: str, index: int = 0
    ) -> float | None:
        """The number the paper printed, or None if it printed none there."""
        row = self._by_key.get((table, model, method, task, metric))
        if row is None:
            return None
        parts = row.value.split("/")
        return _parse_number(parts[index]) if index < len(parts) else None

    def params(self, table: int, model: str, method: str) -> str | None:
        """The #Params string the paper printed for this row (e.g. "0.024M"), or None."""
        return self._params.get((table, model, method))

    def models(self, table: int) -> list[str]:
        """The paper models of a table, in the paper's order."""
        seen: list[str] = []
        for row in self.rows:
            if row.table == table and row.model not in seen:
                seen.append(row.model)
        return seen


def read_paper_csv(text: str) -> list[PaperRow]:
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        rows.append(
            PaperRow(
                table=int(raw["table"]),
                model=raw["model"].strip(),
                method=raw["method"].strip(),
                params=(raw.get("params") or "").strip(),
                task=raw["task"].strip(),
                metric=raw["metric"].strip(),
                value=(raw.get("value") or "").strip(),
                note=(raw.get("note") or "").strip(),
            )
        )
    return rows


def load_paper(path: str | Path | None = None) -> PaperValues:
    """The packaged copy of the paper's numbers, or the CSV at `path` (same columns)."""
    if path is None:
        text = resources.files("dcft").joinpath("data/paper_results.csv").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return PaperValues(read_paper_csv(text))
