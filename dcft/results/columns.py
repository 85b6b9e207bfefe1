"""Table columns: which record metric each task shows, under which header, and which metric picks the lr."""

from __future__ import annotations

from dataclasses import dataclass

# fmt: off
TASK_LABEL = {
    "cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "stsb": "STS-B", "mnli": "MNLI",
    "qnli": "QNLI", "rte": "RTE", "squad": "SQuAD v1.1", "squad_v2": "SQuAD v2.0",
}
# fmt: on
GLUE = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte")
TASK_ORDER = (*GLUE, "squad", "squad_v2")  # the paper's order; columns built from records follow it


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


def _one(task: str, key: str, paper_metric: str) -> tuple[Column, ...]:
    return (Column(task, key, TASK_LABEL[task], paper_metric),)


def _pair(task: str, keys: tuple[str, str], suffixes: tuple[str, str], paper_metric: str) -> tuple[Column, ...]:
    return tuple(
        Column(task, k, f"{TASK_LABEL[task]} {s}", paper_metric, i)
        for i, (k, s) in enumerate(zip(keys, suffixes, strict=True))
    )


MNLI_MM = "validation_mismatched_accuracy"
# Record metric keys per task (the trainer's names: MNLI's carry the eval split; both SQuAD versions report
# `exact_match` and `f1`, dcft.tasks.squad).
TASK_COLUMNS: dict[str, tuple[Column, ...]] = {
    "cola": _one("cola", "mcc", "mcc"),
    "sst2": _one("sst2", "accuracy", "acc"),
    "mrpc": _one("mrpc", "accuracy", "acc"),
    "qqp": _one("qqp", "accuracy", "acc"),
    "stsb": _one("stsb", "pearson", "pearson"),
    "mnli": _pair("mnli", ("validation_matched_accuracy", MNLI_MM), ("m", "mm"), "acc_m/acc_mm"),
    "qnli": _one("qnli", "accuracy", "acc"),
    "rte": _one("rte", "accuracy", "acc"),
    "squad": _pair("squad", ("exact_match", "f1"), ("EM", "F1"), "em/f1"),
    "squad_v2": _pair("squad_v2", ("exact_match", "f1"), ("EM", "F1"), "em/f1"),
}

# The metric that picks the winning lr of a cell (the trainer's main metric for the task).
# fmt: off
SELECT_KEY = {"cola": "mcc", "stsb": "pearson", "mnli": "validation_matched_accuracy",
              "squad": "f1", "squad_v2": "f1"}
# fmt: on


def select_key(task: str) -> str:
    return SELECT_KEY.get(task, "accuracy")


def task_label(task: str) -> str:
    return TASK_LABEL.get(task, task)


def task_sort_key(task: str) -> tuple[int, str]:
    """The paper's task order; tasks it does not have come after, alphabetically."""
    return (TASK_ORDER.index(task), "") if task in TASK_ORDER else (len(TASK_ORDER), task)
