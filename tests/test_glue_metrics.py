"""GLUE scoring: metrics against independent sklearn/scipy calls, a hand-computed case, prediction records."""

from __future__ import annotations

import math

import datasets
import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from dcft.tasks.base import EvalSet
from dcft.tasks.glue import GLUE_TASKS, GlueTask
from dcft.tasks.glue_data import glue_features
from dcft.tasks.metrics import compute_metrics


def eval_set(task: str, labels, name: str = "validation") -> EvalSet:
    """An EvalSet whose raw examples carry `labels`; features are not needed for scoring."""
    spec = GLUE_TASKS[task]
    n = len(labels)
    cols = {c: [f"text {i}" for i in range(n)] for c in spec.text_columns}
    examples = datasets.Dataset.from_dict({**cols, "label": list(labels), "idx": list(range(100, 100 + n))},
                                          features=glue_features(spec))
    return EvalSet(name=name, features=None, examples=examples)


def one_hot_logits(preds, num_labels: int) -> np.ndarray:
    logits = np.zeros((len(preds), num_labels), dtype=np.float32)
    logits[np.arange(len(preds)), preds] = 1.0
    return logits


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=200)
    logits = rng.normal(size=(200, 2)).astype(np.float32)
    preds = logits.argmax(-1)
    m, _ = GlueTask("mrpc").score(eval_set("mrpc", labels), {"logits": logits})
    assert m == pytest.approx({"accuracy": 100 * accuracy_score(labels, preds),
                               "f1": 100 * f1_score(labels, preds)})
    m, _ = GlueTask("cola").score(eval_set("cola", labels), {"logits": logits})
    assert m == pytest.approx({"mcc": 100 * matthews_corrcoef(labels, preds)})
    labels3 = rng.integers(0, 3, size=200)
    logits3 = rng.normal(size=(200, 3))
    m, _ = GlueTask("mnli").score(eval_set("mnli", labels3, "validation_mismatched"), {"logits": logits3})
    assert m == pytest.approx({"accuracy": 100 * accuracy_score(labels3, logits3.argmax(-1))})


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_metrics_match_scipy(seed):
    rng = np.random.default_rng(seed)
    labels = rng.uniform(0, 5, size=300).astype(np.float32)
    logits = (labels + rng.normal(size=300)).astype(np.float32)[:, None]
    m, preds = GlueTask("stsb").score(eval_set("stsb", labels), {"logits": logits})
    p, s = pearsonr(logits[:, 0], labels)[0], spearmanr(logits[:, 0], labels)[0]
    assert m == pytest.approx({"pearson": 100 * p, "spearmanr": 100 * s, "combined": 50 * (p + s)})
    assert isinstance(preds[0]["prediction"], float) and preds[0]["label"] == pytest.approx(float(labels[0]))


def test_hand_computed_case():
    # preds 0 1 1 0 vs gold 0 1 0 0: TP=1 TN=2 FP=1 FN=0
    logits = one_hot_logits([0, 1, 1, 0], 2)
    m, preds = GlueTask("mrpc").score(eval_set("mrpc", [0, 1, 0, 0]), {"logits": logits})
    assert m["accuracy"] == pytest.approx(75.0)
    assert m["f1"] == pytest.approx(100 * 2 / 3)  # P=1/2, R=1
    m, _ = GlueTask("cola").score(eval_set("cola", [0, 1, 0, 0]), {"logits": logits})
    assert m["mcc"] == pytest.approx(100 * 2 / math.sqrt(12))  # (1*2-1*0)/sqrt(2*1*3*2)
    # preds 1 2 3 vs gold 1 2 4: covariance sum 3, squares 2 and 14/3; ranks agree exactly
    stsb_logits = np.array([[1.0], [2.0], [3.0]])
    m, _ = GlueTask("stsb").score(eval_set("stsb", [1.0, 2.0, 4.0]), {"logits": stsb_logits})
    r = 3 / math.sqrt(2 * 14 / 3)
    assert m == pytest.approx({"pearson": 100 * r, "spearmanr": 100.0, "combined": 50 * (r + 1)})
    assert preds == [
        {"idx": 100, "prediction": "not_equivalent", "label": "not_equivalent"},
        {"idx": 101, "prediction": "equivalent", "label": "equivalent"},
        {"idx": 102, "prediction": "equivalent", "label": "not_equivalent"},
        {"idx": 103, "prediction": "not_equivalent", "label": "not_equivalent"},
    ]


def test_rte_labels_are_hub_names():
    _, preds = GlueTask("rte").score(eval_set("rte", [1, 0]), {"logits": one_hot_logits([1, 1], 2)})
    assert [(p["prediction"], p["label"]) for p in preds] == [
        ("not_entailment", "not_entailment"), ("not_entailment", "entailment")]


def test_shape_and_key_errors_say_what_was_expected():
    es = eval_set("rte", [0, 1, 0])
    with pytest.raises(ValueError, match=r"logits shape \(2, 2\), expected \(3, 2\)"):
        GlueTask("rte").score(es, {"logits": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="needs outputs\\['logits'\\]"):
        GlueTask("rte").score(es, {"start_logits": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="unknown metric"):
        compute_metrics(["bleu"], np.zeros(3), np.zeros(3))


def test_constant_regression_output_is_nan_not_a_crash():
    m = compute_metrics(["pearson", "spearmanr", "combined"], np.ones(4), np.arange(4.0))
    assert all(math.isnan(v) for v in m.values())
