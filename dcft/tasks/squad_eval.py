"""The official SQuAD v1.1 and v2.0 evaluation scripts, re-implemented as importable functions.

Why not `evaluate.load("squad")`: it fetches the script from the hub, which is not always reachable,
and hides the v2.0 threshold search. These functions follow the official scripts line by line
(normalisation, max over gold answers, `find_best_thresh`), so numbers match the leaderboard tools.

CLI: python -m dcft.tasks.squad_eval <data.json> <predictions.json> [--na-prob <na_prob.json>]
     [--na-prob-thresh 1.0]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import string
import sys
from collections.abc import Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (both official scripts)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _token_f1(pred_toks: list[str], gold_toks: list[str]) -> float:
    common = collections.Counter(pred_toks) & collections.Counter(gold_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal (same in v1.1 and v2.0)."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score_v1(prediction: str, gold: str) -> float:
    """v1.1 token F1: an empty prediction (or gold) scores 0."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def f1_score_v2(prediction: str, gold: str) -> float:
    """v2.0 token F1: if either side is empty, 1 when both are empty, else 0."""
    pred_toks = normalize_answer(prediction).split() if prediction else []
    gold_toks = normalize_answer(gold).split() if gold else []
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    return _token_f1(pred_toks, gold_toks)


def golds_from_squad_json(data: Sequence[Mapping]) -> dict[str, list[str]]:
    """Question id -> gold answer texts, from the `data` list of an official SQuAD JSON file."""
    return {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


def evaluate_v1(golds: Mapping[str, Sequence[str]], preds: Mapping[str, str]) -> dict[str, float]:
    """Official v1.1 `evaluate`: a question without a prediction scores 0 (and is reported on stderr)."""
    exact = f1 = 0.0
    for qid, answers in golds.items():
        if qid not in preds:
            print(f"Unanswered question {qid} will receive score 0.", file=sys.stderr)
            continue
        exact += max(exact_match_score(preds[qid], a) for a in answers)
        f1 += max(f1_score_v1(preds[qid], a) for a in answers)
    total = len(golds)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


def raw_scores_v2(
    golds: Mapping[str, Sequence[str]], preds: Mapping[str, str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Official v2.0 `get_raw_scores`: per-question EM and F1, the empty string being the only gold
    of an unanswerable question. Every question needs a prediction (the official script fails otherwise)."""
    missing = [qid for qid in golds if qid not in preds]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(golds)} questions have no prediction (first: {missing[0]!r}); "
            "SQuAD v2.0 scoring needs one per question (use '' for 'no answer')."
        )
    exact, f1 = {}, {}
    for qid, answers in golds.items():
        gold_answers = [a for a in answers if normalize_answer(a)] or [""]
        exact[qid] = max(exact_match_score(preds[qid], a) for a in gold_answers)
        f1[qid] = max(f1_score_v2(preds[qid], a) for a in gold_answers)
    return exact, f1


def find_best_thresh(
    preds: Mapping[str, str],
    scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    qid_to_has_ans: Mapping[str, bool],
) -> tuple[float, float]:
    """Official v2.0 `find_best_thresh`: the best score reachable by answering '' above a na_prob cut."""
    cur_score = best_score = sum(1 for has_ans in qid_to_has_ans.values() if not has_ans)
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score, best_thresh = cur_score, na_probs[qid]
    return 100.0 * best_score / len(scores), float(best_thresh)


def _mean_dict(exact: Mapping[str, float], f1: Mapping[str, float], qids: Sequence[str]) -> dict[str, float]:
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact[k] for k in qids) / total,
        "f1": 100.0 * sum(f1[k] for k in qids) / total,
        "total": total,
    }


def evaluate_v2(
    golds: Mapping[str, Sequence[str]],
    preds: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """Official v2.0 `main`: overall, HasAns and NoAns EM/F1; best_* thresholds only given na_probs."""
    qid_to_has_ans = {qid: bool(answers) for qid, answers in golds.items()}
    exact_raw, f1_raw = raw_scores_v2(golds, preds)
    probs = na_probs if na_probs is not None else {qid: 0.0 for qid in preds}
    missing = [qid for qid in golds if qid not in probs]
    if missing:
        raise ValueError(
            f"{len(missing)} questions have no na_prob (first: {missing[0]!r}); give one per question."
        )

    def thresholded(scores: dict[str, float]) -> dict[str, float]:
        return {
            qid: float(not qid_to_has_ans[qid]) if probs[qid] > na_prob_thresh else s
            for qid, s in scores.items()
        }

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    out = _mean_dict(exact, f1, list(exact))
    for prefix, want in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, has_ans in qid_to_has_ans.items() if has_ans == want]
        if qids:
            out.update({f"{prefix}_{k}": v for k, v in _mean_dict(exact, f1, qids).items()})
    if na_probs is not None:
        has_ans = qid_to_has_ans
        out["best_exact"], out["best_exact_thresh"] = find_best_thresh(preds, exact_raw, probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = find_best_thresh(preds, f1_raw, probs, has_ans)
    return out


def _read_json(path: str, what: str) -> object:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ValueError(f"cannot read {what} {path!r}: {e.strerror or e}; pass an existing file.") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {path!r} is not valid JSON ({e}); pass the official-format file.") from e


def _as_predictions(obj: object, path: str) -> dict[str, str]:
    """Official {id: text}, or the harness's list of {"id", "prediction_text", ...}."""
    if isinstance(obj, dict) and all(isinstance(v, str) for v in obj.values()):
        return obj
    wanted = {"id", "prediction_text"}
    if isinstance(obj, list) and all(isinstance(p, dict) and wanted <= set(p) for p in obj):
        return {p["id"]: p["prediction_text"] for p in obj}
    raise ValueError(
        f"predictions {path!r} must map question id -> answer text (or be a list of "
        '{"id", "prediction_text"} objects); got something else.'
    )


def run(data_file: str, pred_file: str, na_prob_file: str | None = None, na_prob_thresh: float = 1.0) -> dict:
    """Score one prediction file against one official data file; the version is read from the data file."""
    dataset = _read_json(data_file, "data file")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("data"), list):
        raise ValueError(f"data file {data_file!r} has no 'data' list; pass an official SQuAD JSON file.")
    try:
        golds = golds_from_squad_json(dataset["data"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"data file {data_file!r} is not in the official SQuAD layout (missing {e}).") from e
    preds = _as_predictions(_read_json(pred_file, "predictions"), pred_file)
    is_v2 = str(dataset.get("version", "")).lstrip("v").startswith("2") or any(not a for a in golds.values())
    if not is_v2:
        return evaluate_v1(golds, preds)
    na_probs = None
    if na_prob_file is not None:
        na_probs = _read_json(na_prob_file, "na_prob file")
        if not isinstance(na_probs, dict):
            raise ValueError(f"na_prob file {na_prob_file!r} must map question id -> number.")
    return evaluate_v2(golds, preds, na_probs, na_prob_thresh)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Official SQuAD v1.1 / v2.0 evaluation (prints one JSON).")
    parser.add_argument("data_file", help="official dev JSON, e.g. dev-v2.0.json")
    parser.add_argument("pred_file", help="predictions JSON: {question id: answer text}")
    parser.add_argument("--na-prob", dest="na_prob_file", default=None, help="v2.0: {id: P(no answer)}")
    parser.add_argument("--na-prob-thresh", type=float, default=1.0, help="v2.0: '' above this na_prob")
    args = parser.parse_args(argv)
    try:
        out = run(args.data_file, args.pred_file, args.na_prob_file, args.na_prob_thresh)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
