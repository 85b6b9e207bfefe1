"""The official SQuAD v1.1 / v2.0 metric: hand-made cases, real dev files fed their own golds, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dcft.tasks import squad_eval as se

REPO = Path(__file__).resolve().parents[1]
SHARED_SQUAD = REPO / ".." / "shared" / "data" / "squad"
DEV_V1, DEV_V2 = SHARED_SQUAD / "dev-v1.1.json", SHARED_SQUAD / "dev-v2.0.json"
WHY = "the official SQuAD dev files (9 MB) are not shipped with the repository; put {} there to run this check"
needs_v1 = pytest.mark.skipif(not DEV_V1.is_file(), reason=WHY.format(DEV_V1))
needs_v2 = pytest.mark.skipif(not DEV_V2.is_file(), reason=WHY.format(DEV_V2))


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The  Denver Broncos!", "denver broncos"),
        ("an apple, a pear and THE plum.", "apple pear and plum"),
        ("theater anthem", "theater anthem"),  # articles only as whole words
        ("\tU.S.\n", "us"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, normalised: str) -> None:
    assert se.normalize_answer(text) == normalised


def test_f1_partial_overlap_and_duplicates() -> None:
    assert se.f1_score_v1("Denver Broncos", "the Denver Broncos") == 1.0
    assert se.f1_score_v1("Broncos", "Denver Broncos") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    # repeated tokens count once per occurrence in both (Counter intersection)
    assert se.f1_score_v1("a b b", "b b b c") == pytest.approx(2 * (2 / 2) * (2 / 4) / ((2 / 2) + (2 / 4)))


def test_empty_answers_v1_vs_v2() -> None:
    assert se.f1_score_v1("", "") == 0.0  # v1.1: no overlap, no credit
    assert se.f1_score_v2("", "") == 1.0  # v2.0: both "no answer" agree
    assert se.f1_score_v2("the", "") == 1.0  # normalises to nothing
    assert se.f1_score_v2("Paris", "") == 0.0
    assert se.exact_match_score("The Paris.", "paris") == 1.0


def test_v1_max_over_golds_and_missing_prediction(capsys: pytest.CaptureFixture) -> None:
    golds = {"q1": ["Denver Broncos", "Broncos"], "q2": ["1990"], "q3": ["x"]}
    preds = {"q1": "broncos", "q2": "in 1990"}
    out = se.evaluate_v1(golds, preds)
    assert out["exact_match"] == pytest.approx(100 / 3)  # q1 exact via 2nd gold; q3 missing -> 0
    assert out["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert "q3" in capsys.readouterr().err


def test_v2_empty_gold_breakdown_and_thresholds() -> None:
    golds = {"a1": ["Paris"], "a2": ["Rome", "rome city"], "n1": [], "n2": []}
    preds = {"a1": "Paris", "a2": "city", "n1": "", "n2": "London"}
    out = se.evaluate_v2(golds, preds)
    assert out["total"] == 4 and out["HasAns_total"] == 2 and out["NoAns_total"] == 2
    assert out["exact"] == pytest.approx(50.0)  # a1, n1
    assert out["HasAns_exact"] == 50.0 and out["NoAns_exact"] == 50.0
    assert out["HasAns_f1"] == pytest.approx(100 * (1 + 2 * 1 * 0.5 / 1.5) / 2)
    assert "best_f1" not in out  # only with na_probs, as in the official script
    # answer only below na_prob 0.1: a1 right, a2 wrong either way, n1 and n2 become "" (right)
    na = {"a1": 0.1, "a2": 0.2, "n1": 0.3, "n2": 0.9}
    best = se.evaluate_v2(golds, preds, na_probs=na)
    assert best["best_exact"] == pytest.approx(75.0) and best["best_exact_thresh"] == pytest.approx(0.1)
    # na_prob above the threshold turns a prediction into '' before scoring
    cut = se.evaluate_v2(golds, preds, na_probs=na, na_prob_thresh=0.5)
    assert cut["NoAns_exact"] == 100.0 and cut["HasAns_exact"] == 50.0


def test_v2_requires_every_prediction() -> None:
    with pytest.raises(ValueError, match="no prediction"):
        se.evaluate_v2({"a": ["x"], "b": []}, {"a": "x"})


def _first_golds(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return {qid: (answers[0] if answers else "") for qid, answers in se.golds_from_squad_json(data).items()}


@needs_v1
def test_dev_v1_own_golds_score_100() -> None:
    golds = se.golds_from_squad_json(json.loads(DEV_V1.read_text(encoding="utf-8"))["data"])
    out = se.evaluate_v1(golds, _first_golds(DEV_V1))
    assert len(golds) == 10570
    assert out == {"exact_match": 100.0, "f1": 100.0}


@needs_v2
def test_dev_v2_own_golds_score_100() -> None:
    golds = se.golds_from_squad_json(json.loads(DEV_V2.read_text(encoding="utf-8"))["data"])
    out = se.evaluate_v2(golds, _first_golds(DEV_V2))
    assert out["exact"] == out["f1"] == 100.0
    assert (out["total"], out["HasAns_total"], out["NoAns_total"]) == (11873, 5928, 5945)
    assert out["HasAns_f1"] == out["NoAns_f1"] == 100.0


def _cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dcft.tasks.squad_eval", *map(str, args)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )


@needs_v1
def test_cli_v1(tmp_path: Path) -> None:
    preds = _first_golds(DEV_V1)
    preds[next(iter(preds))] = "wrong"
    (tmp_path / "p.json").write_text(json.dumps(preds))
    res = _cli(DEV_V1, tmp_path / "p.json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == {"exact_match", "f1"}
    assert out["exact_match"] == pytest.approx(100 * 10569 / 10570)


@needs_v2
def test_cli_v2_with_na_prob(tmp_path: Path) -> None:
    preds = _first_golds(DEV_V2)
    (tmp_path / "p.json").write_text(json.dumps(preds))
    (tmp_path / "na.json").write_text(json.dumps({q: float(a == "") for q, a in preds.items()}))
    res = _cli(DEV_V2, tmp_path / "p.json", "--na-prob", tmp_path / "na.json", "--na-prob-thresh", "0.5")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["exact"] == out["best_f1"] == 100.0
    assert {"HasAns_exact", "NoAns_f1", "best_exact_thresh", "best_f1_thresh", "total"} <= set(out)


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"version": "1.1", "data": []}))
    wrong_shape = tmp_path / "list.json"
    wrong_shape.write_text("[1, 2]")
    for args in [(tmp_path / "missing.json", bad), (data, bad), (bad, data), (data, wrong_shape)]:
        assert se.main([str(a) for a in args]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured.err
    res = _cli(tmp_path / "missing.json", bad)  # and the real entry point prints no traceback
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "missing.json" in res.stderr, res.stderr
