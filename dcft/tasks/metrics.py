"""GLUE metrics on the paper's scale (x100), as run_glue / `evaluate`'s glue metric compute them."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef


def accuracy(preds: np.ndarray, labels: np.ndarray) -> float:
    return float((preds == labels).mean())


def f1(preds: np.ndarray, labels: np.ndarray) -> float:
    """Binary F1 of the positive class (id 1: MRPC `equivalent`, QQP `duplicate`)."""
    return float(f1_score(labels, preds))


def mcc(preds: np.ndarray, labels: np.ndarray) -> float:
    return float(matthews_corrcoef(labels, preds))


def _correlation(fn: Callable) -> Callable[[np.ndarray, np.ndarray], float]:
    def corr(preds: np.ndarray, labels: np.ndarray) -> float:
        with warnings.catch_warnings():  # constant predictions give NaN; the NaN itself is the message
            warnings.simplefilter("ignore")
            return float(fn(preds, labels)[0])

    return corr


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "mcc": mcc,
    "pearson": _correlation(pearsonr),
    "spearmanr": _correlation(spearmanr),
}


def compute_metrics(names: Sequence[str], preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Named metrics x100; `combined` is the mean of the others (STS-B's pearson/spearmanr average)."""
    preds, labels = np.asarray(preds), np.asarray(labels)
    if preds.shape != labels.shape:
        raise ValueError(f"predictions shape {preds.shape} != labels shape {labels.shape}: "
                         f"both must be one value per example.")
    base = [n for n in names if n != "combined"]
    unknown = [n for n in base if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}: expected names from {sorted(METRICS)} or 'combined'.")
    out = {n: 100.0 * METRICS[n](preds, labels) for n in base}
    if "combined" in names:
        out["combined"] = float(np.mean([out[n] for n in base]))
    return out
