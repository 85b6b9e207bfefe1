"""The floor a run must clear to have learnt anything: the score of predicting the train set's most frequent label
for every dev example, with the task's own metric (RTE's dev set is 52.7 % entailment, CoLA's constant answer has
MCC 0). The study summary lists it and the params-vs-metric figure draws it, so "at chance" reads off the page.

Read from the GLUE files in the classic layout (`data.dir`); a task without files there, a regression task
(STS-B: a constant has no correlation) and a non-GLUE task get no floor.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dcft.errors import UserError
from dcft.results.columns import select_key
from dcft.tasks.glue_tsv import GLUE_TASKS, read_tsv, source_files
from dcft.tasks.metrics import compute_metrics


def majority_class_scores(tasks: Iterable[str], data_dir: str | Path | None) -> dict[str, float]:
    """Task -> its select metric (x100) on the first eval split when every example gets the train majority label."""
    if data_dir is None:
        return {}
    scores = {}
    for task in dict.fromkeys(tasks):
        spec = GLUE_TASKS.get(task)
        if spec is None or spec.is_regression:
            continue
        try:
            found = source_files(task, str(data_dir))
        except UserError:  # no files for this task there: no floor (a damaged file still fails, in read_tsv)
            continue
        paths = dict(zip((split for split, _ in spec.layout.files), found, strict=True))
        train = np.asarray(read_tsv(spec, paths["train"])["label"])
        labels = np.asarray(read_tsv(spec, paths[spec.eval_splits[0]])["label"])
        majority = int(np.bincount(train, minlength=spec.num_labels).argmax())
        metrics = compute_metrics(spec.metrics, np.full_like(labels, majority), labels)
        scores[task] = metrics.get(select_key(task), metrics[spec.main_metric])
    return scores
