"""The contract between a task family (GLUE, SQuAD) and the one training loop.

The trainer knows nothing task-specific: it asks the task for tokenised features,
runs the model, gathers the named output arrays and hands them back for scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class DataOptions:
    """Where data comes from and how much of it (mirrors transformers' run_glue flags)."""

    dir: str | None = None  # offline root (classic glue_data layout / SQuAD JSON files); None = hub
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    cache_dir: str | None = None  # tokenised-dataset cache; None = no caching
    split_by_article: int | None = None  # SQuAD: train on the first N articles of the dev file, eval on the rest


@dataclass
class EvalSet:
    """One evaluation split: model-ready `features` plus whatever scoring needs (`examples`)."""

    name: str  # e.g. "validation", "validation_matched"
    features: Any  # datasets.Dataset with only model input columns (+ labels) set to torch format
    examples: Any = None  # raw examples (SQuAD needs them to map spans back to text)
    extra: Any = None  # anything else postprocess needs (e.g. feature -> example mapping)


@dataclass
class PreparedData:
    train: Any  # datasets.Dataset of model-ready features (torch format), or None
    evals: list[EvalSet]


class Task(Protocol):
    """What every task family provides. One instance per task name (e.g. 'rte', 'squad')."""

    name: str
    head: str  # "sequence_classification" | "question_answering"
    num_labels: int  # 1 = regression (STS-B); ignored for QA
    main_metric: str  # key in the metrics dict used to pick the best step, e.g. "accuracy", "f1"
    output_names: tuple[str, ...]  # model outputs to gather at eval: ("logits",) or ("start_logits", "end_logits")

    def prepare(self, tokenizer: Any, max_length: int, options: DataOptions, **settings: Any) -> PreparedData:
        """Load raw splits (hub or options.dir), tokenise, return model-ready features."""

    def score(self, eval_set: EvalSet, outputs: dict[str, np.ndarray]) -> tuple[dict[str, float], list[dict]]:
        """Metrics on the paper's scale (percent: accuracy, F1, MCC, Pearson, EM all x100) and
        one prediction dict per example (JSON-serialisable, with the example's id/idx)."""
