"""GLUE task specs and the classic offline `glue_data/` TSV files: which columns, label strings and metrics each
task has, and how its files parse. Standard library only, so code that needs just the labels (the tables'
majority-class floors) reads them without `datasets`; `glue_data` turns the parsed columns into datasets.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass

from dcft.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TsvLayout:
    """Where one task lives in the classic `glue_data/` tree and how its TSV rows map to hub columns."""

    folder: str  # e.g. "RTE"
    files: tuple[tuple[str, str], ...]  # (split, file name), e.g. ("validation", "dev.tsv")
    fields: tuple[tuple[str, int, str], ...]  # (hub column, TSV column index, expected header name)
    tsv_labels: tuple[str, ...] = ()  # label strings in the file, in hub id order; () = float score
    header: bool = True  # CoLA train/dev have no header row
    n_columns: int | None = None  # only needed without a header (the header fixes it otherwise)
    skip_malformed: bool = False  # QQP: the original train.tsv has known broken rows (skipped, as HF does)


@dataclass(frozen=True)
class GlueSpec:
    """One GLUE task as the hub defines it (columns, label ids) plus its paper metrics."""

    name: str
    text_columns: tuple[str, ...]  # one (single sentence) or two (pair) hub column names
    label_names: tuple[str, ...]  # hub id order; () for the STS-B regression
    eval_splits: tuple[str, ...]
    metrics: tuple[str, ...]  # metric names reported, see dcft.tasks.metrics
    main_metric: str
    layout: TsvLayout

    @property
    def num_labels(self) -> int:
        return len(self.label_names) or 1

    @property
    def is_regression(self) -> bool:
        return not self.label_names


_DEV = (("train", "train.tsv"), ("validation", "dev.tsv"))
_BINARY = ("0", "1")

GLUE_TASKS: dict[str, GlueSpec] = {
    s.name: s
    for s in [
        GlueSpec("cola", ("sentence",), ("unacceptable", "acceptable"), ("validation",), ("mcc",), "mcc",
                 TsvLayout("CoLA", _DEV, (("sentence", 3, ""), ("label", 1, "")), _BINARY,
                           header=False, n_columns=4)),
        GlueSpec("sst2", ("sentence",), ("negative", "positive"), ("validation",), ("accuracy",), "accuracy",
                 TsvLayout("SST-2", _DEV, (("sentence", 0, "sentence"), ("label", 1, "label")), _BINARY)),
        GlueSpec("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("validation",),
                 ("accuracy", "f1"), "accuracy",
                 TsvLayout("MRPC", _DEV, (("sentence1", 3, "#1 String"), ("sentence2", 4, "#2 String"),
                                          ("label", 0, "Quality")), _BINARY)),
        GlueSpec("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("validation",),
                 ("accuracy", "f1"), "accuracy",
                 TsvLayout("QQP", _DEV, (("question1", 3, "question1"), ("question2", 4, "question2"),
                                         ("label", 5, "is_duplicate")), _BINARY, skip_malformed=True)),
        GlueSpec("stsb", ("sentence1", "sentence2"), (), ("validation",),
                 ("pearson", "spearmanr", "combined"), "pearson",
                 TsvLayout("STS-B", _DEV, (("sentence1", 7, "sentence1"), ("sentence2", 8, "sentence2"),
                                           ("label", -1, "score")))),
        GlueSpec("mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"),
                 ("validation_matched", "validation_mismatched"), ("accuracy",), "accuracy",
                 TsvLayout("MNLI", (("train", "train.tsv"), ("validation_matched", "dev_matched.tsv"),
                                    ("validation_mismatched", "dev_mismatched.tsv")),
                           (("premise", 8, "sentence1"), ("hypothesis", 9, "sentence2"),
                            ("label", -1, "gold_label")), ("entailment", "neutral", "contradiction"))),
        GlueSpec("qnli", ("question", "sentence"), ("entailment", "not_entailment"), ("validation",),
                 ("accuracy",), "accuracy",
                 TsvLayout("QNLI", _DEV, (("question", 1, "question"), ("sentence", 2, "sentence"),
                                          ("label", -1, "label")), ("entailment", "not_entailment"))),
        GlueSpec("rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"), ("validation",),
                 ("accuracy",), "accuracy",
                 TsvLayout("RTE", _DEV, (("sentence1", 1, "sentence1"), ("sentence2", 2, "sentence2"),
                                         ("label", -1, "label")), ("entailment", "not_entailment"))),
    ]
}


def get_spec(task: str) -> GlueSpec:
    if task not in GLUE_TASKS:
        raise UserError(f"GLUE task {task!r} is unknown: expected one of {', '.join(GLUE_TASKS)}; "
                        f"fix task.name in the config.")
    return GLUE_TASKS[task]


def source_files(task: str, data_dir: str) -> list[str]:
    """The TSV paths for `task` under a glue_data root (train first), checked to exist."""
    layout = get_spec(task).layout
    folder = os.path.join(data_dir, layout.folder)
    if not os.path.isdir(folder):
        raise UserError(f"GLUE folder {folder} not found: data.dir={data_dir} must be a classic glue_data "
                        f"root holding {layout.folder}/{layout.files[0][1]}; fix data.dir "
                        f"(or data.dir=null for the hub).")
    paths = [os.path.join(folder, name) for _, name in layout.files]
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"GLUE file {path} not found: task {task} needs "
                            f"{', '.join(n for _, n in layout.files)} in {folder}; re-create it with "
                            f"download_glue_data.py or fix data.dir.")
    return paths


def read_tsv(spec: GlueSpec, path: str) -> dict[str, list]:
    """Parse one classic TSV into hub columns; quotes are literal text (QUOTE_NONE), never delimiters."""
    layout = spec.layout
    label_ids = {s: i for i, s in enumerate(layout.tsv_labels)}
    out: dict[str, list] = {c: [] for c in (*spec.text_columns, "label", "idx")}
    text_fields = [(c, i) for c, i, _ in layout.fields if c != "label"]
    label_index = next(i for c, i, _ in layout.fields if c == "label")
    skipped: list[int] = []
    # utf-8-sig: the MRPC files copy a byte-order mark from Microsoft's original into their header.
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        n_columns = layout.n_columns
        if layout.header:
            header = next(reader, None)
            if header is None:
                raise UserError(f"{path} is empty: expected a header row and data rows for GLUE {spec.name}; "
                                f"re-create the file with download_glue_data.py.")
            _check_header(spec, path, header)
            n_columns = len(header)
        n = 0
        for row in reader:
            if not row:  # a blank line carries no example
                continue
            if len(row) != n_columns:
                if layout.skip_malformed:
                    skipped.append(reader.line_num)
                    n += 1
                    continue
                raise UserError(f"{path}:{reader.line_num}: expected {n_columns} tab-separated columns "
                                f"for GLUE {spec.name}, got {len(row)}; the file is damaged or belongs to "
                                f"another task: re-create it with download_glue_data.py.")
            for column, index in text_fields:
                out[column].append(row[index])
            out["label"].append(_parse_label(spec, path, reader.line_num, row[label_index], label_ids))
            out["idx"].append(n)
            n += 1
    if skipped:
        log.warning("%s: skipped %d malformed rows (not %d columns), first at line %d; the original GLUE %s "
                    "release has such rows and the hub loader drops them too.",
                    path, len(skipped), n_columns, skipped[0], spec.name)
    if not out["idx"]:
        raise UserError(f"{path} has no data rows: GLUE {spec.name} needs at least one; re-create the file.")
    return out


def _check_header(spec: GlueSpec, path: str, header: list[str]) -> None:
    for _, index, name in spec.layout.fields:
        got = header[index] if -len(header) <= index < len(header) else None
        if got != name:
            raise UserError(f"{path}: header column {index} is {got!r}, expected {name!r} for GLUE "
                            f"{spec.name} (header: {' | '.join(header)}); this looks like another task's "
                            f"file: put the {spec.layout.folder} files from download_glue_data.py there.")


def _parse_label(spec: GlueSpec, path: str, line: int, text: str, label_ids: dict[str, int]) -> int | float:
    if spec.is_regression:
        try:
            return float(text)
        except ValueError:
            raise UserError(f"{path}:{line}: score {text!r} is not a number; GLUE {spec.name} needs a float "
                            f"similarity score in the last column: fix or re-create the file.") from None
    if text not in label_ids:
        raise UserError(f"{path}:{line}: label {text!r} is not one of {', '.join(label_ids)} for GLUE "
                        f"{spec.name}; the file is damaged or belongs to another task: re-create it.")
    return label_ids[text]
