"""Start/end logits of overlapping windows -> one answer text per SQuAD example.

A line-by-line port of transformers' `examples/pytorch/question-answering/utils_qa.py`
(`postprocess_qa_predictions`), with the inner 20x20 span search vectorised per window. Candidate order
and the stable sort are kept, so ties break exactly as in the reference.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Offsets = Sequence[Sequence[int] | None]  # per token: (char_start, char_end) in the context, None outside it


@dataclass(frozen=True)
class PostprocessConfig:
    """run_qa.py's post-processing flags, same defaults."""

    version_2_with_negative: bool = False
    n_best_size: int = 20  # top start and end logits searched per window, and n-best kept per example
    max_answer_length: int = 30  # in tokens
    null_score_diff_threshold: float = 0.0  # v2: predict '' when null score - best span score > this

    def __post_init__(self) -> None:
        if self.n_best_size < 1 or self.max_answer_length < 1:
            raise ValueError(
                f"n_best_size={self.n_best_size} and max_answer_length={self.max_answer_length} must be >= 1."
            )


@dataclass
class QAPrediction:
    """The answer for one example; `null_score_diff` (v2 only) = null score - best span score."""

    id: str
    text: str
    null_score_diff: float | None = None


def _window_candidates(
    start_logits: np.ndarray, end_logits: np.ndarray, offsets: Offsets, cfg: PostprocessConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(char_start, char_end, start_logit, end_logit) of every admissible span among the top-n logits,
    in the reference's loop order (start rank outer, end rank inner)."""
    n = len(offsets)
    start_idx = np.argsort(start_logits)[-1 : -cfg.n_best_size - 1 : -1]
    end_idx = np.argsort(end_logits)[-1 : -cfg.n_best_size - 1 : -1]
    start_ok = np.array([i < n and offsets[i] is not None for i in start_idx], dtype=bool)
    end_ok = np.array([i < n and offsets[i] is not None for i in end_idx], dtype=bool)
    s, e = (a.ravel() for a in np.meshgrid(start_idx, end_idx, indexing="ij"))  # n_best * n_best pairs
    ok = (start_ok[:, None] & end_ok[None, :]).ravel() & (e >= s) & (e - s + 1 <= cfg.max_answer_length)
    s, e = s[ok], e[ok]
    char_start = np.array([offsets[i][0] for i in s], dtype=np.int64)
    char_end = np.array([offsets[i][1] for i in e], dtype=np.int64)
    return char_start, char_end, start_logits[s], end_logits[e]


def postprocess_qa_predictions(
    example_ids: Sequence[str],
    contexts: Sequence[str],
    feature_example_ids: Sequence[str],
    offset_mappings: Sequence[Offsets],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    cfg: PostprocessConfig,
) -> list[QAPrediction]:
    """One prediction per example, in example order.

    start_logits/end_logits: (n_features, L) with L >= every window's length; positions past a window's
    offset mapping (padding, e.g. -100) are never chosen.
    """
    if start_logits.shape != end_logits.shape or len(start_logits) != len(feature_example_ids):
        raise ValueError(
            f"start_logits {start_logits.shape} and end_logits {end_logits.shape} must both have one row "
            f"per feature ({len(feature_example_ids)}); pass the whole eval set's gathered outputs, in order."
        )
    features_per_example: dict[str, list[int]] = collections.defaultdict(list)
    for i, example_id in enumerate(feature_example_ids):
        features_per_example[example_id].append(i)

    predictions = []
    for example_id, context in zip(example_ids, contexts, strict=True):
        null_score, null_start, null_end = None, 0.0, 0.0
        parts = []
        for i in features_per_example[example_id]:
            feature_null = start_logits[i][0] + end_logits[i][0]
            if null_score is None or null_score > feature_null:
                null_score, null_start, null_end = feature_null, start_logits[i][0], end_logits[i][0]
            parts.append(_window_candidates(start_logits[i], end_logits[i], offset_mappings[i], cfg))
        cand = [np.concatenate(p) for p in zip(*parts, strict=True)] if parts else [np.zeros(0)] * 4
        char_start, char_end, s_logit, e_logit = cand
        if cfg.version_2_with_negative and null_score is not None:
            # the null prediction is appended last, as in the reference, so ties favour real spans
            char_start = np.append(char_start, 0)
            char_end = np.append(char_end, 0)
            s_logit, e_logit = np.append(s_logit, null_start), np.append(e_logit, null_end)
        order = np.argsort(-(s_logit + e_logit), kind="stable")[: cfg.n_best_size]
        nbest = [
            (context[char_start[k] : char_end[k]], s_logit[k], e_logit[k], char_start[k] == char_end[k] == 0)
            for k in order
        ]
        if cfg.version_2_with_negative and null_score is not None and not any(p[3] for p in nbest):
            nbest.append(("", null_start, null_end, True))
        if not nbest or (len(nbest) == 1 and nbest[0][0] == ""):
            nbest.insert(0, ("empty", 0.0, 0.0, False))  # reference's fallback when no span is admissible

        if not cfg.version_2_with_negative:
            predictions.append(QAPrediction(example_id, nbest[0][0]))
            continue
        best = next((p for p in nbest if p[0] != ""), ("empty", 0.0, 0.0, False))
        diff = float((null_score if null_score is not None else 0.0) - best[1] - best[2])
        text = "" if diff > cfg.null_score_diff_threshold else best[0]
        predictions.append(QAPrediction(example_id, text, diff))
    return predictions
