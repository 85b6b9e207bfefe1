"""SQuAD v1.1 / v2.0: run_qa.py-style windows over the raw data (squad_data.py), and scoring.

Pre-processing follows transformers' `examples/pytorch/question-answering/run_qa.py` so that our EM/F1
are comparable with every paper that used it: left-stripped questions, `only_second` truncation into
overlapping windows (`doc_stride`), CLS-labelled windows that miss the answer, context-only offsets.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from dcft.errors import UserError
from dcft.io_utils import atomic_write_dir
from dcft.tasks.base import DataOptions, EvalSet, PreparedData
from dcft.tasks.squad_data import VERSION_ALIASES, load_raw
from dcft.tasks.squad_eval import evaluate_v1, evaluate_v2
from dcft.tasks.squad_post import PostprocessConfig, postprocess_qa_predictions

_CACHE_FORMAT = 1  # bump when the feature layout changes, to invalidate old caches


@dataclass
class SquadEvalExtra:
    """What `score` needs beyond the model inputs: per-window example ids and context offsets."""

    features: datasets.Dataset  # columns example_id, offset_mapping (None outside the context); no format
    post: PostprocessConfig


def _tokenize(tokenizer: Any, batch: dict, max_length: int, doc_stride: int) -> tuple[Any, bool]:
    """run_qa.py's windowing call; returns the encoding and whether the question comes first."""
    pad_on_right = tokenizer.padding_side == "right"
    questions = [q.lstrip() for q in batch["question"]]
    first, second = (questions, batch["context"]) if pad_on_right else (batch["context"], questions)
    try:
        enc = tokenizer(
            first,
            second,
            truncation="only_second" if pad_on_right else "only_first",
            max_length=max_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
    except BaseException as e:  # the Rust tokenizer panics (a BaseException) on too-long questions
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise UserError(
            f"tokenising SQuAD windows failed ({str(e).splitlines()[0]}); with max_length={max_length} and "
            f"doc_stride={doc_stride} a question leaves no room for a context window. Raise max_length or "
            f"lower doc_stride."
        ) from e
    return enc, pad_on_right


def train_features(batch: dict, tokenizer: Any, max_length: int, doc_stride: int) -> dict:
    """Windows labelled with answer start/end token indices (CLS index when the window misses it)."""
    enc, pad_on_right = _tokenize(tokenizer, batch, max_length, doc_stride)
    sample_mapping = enc.pop("overflow_to_sample_mapping")
    offset_mapping = enc.pop("offset_mapping")
    context_id = 1 if pad_on_right else 0
    starts, ends = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = enc["input_ids"][i]
        if tokenizer.cls_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.cls_token_id)
        elif tokenizer.bos_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.bos_token_id)
        else:
            cls_index = 0
        sequence_ids = enc.sequence_ids(i)
        answers = batch["answers"][sample_mapping[i]]
        if len(answers["answer_start"]) == 0:
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        token_start = 0
        while sequence_ids[token_start] != context_id:
            token_start += 1
        token_end = len(input_ids) - 1
        while sequence_ids[token_end] != context_id:
            token_end -= 1
        if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        while token_start < len(offsets) and offsets[token_start][0] <= start_char:
            token_start += 1
        starts.append(token_start - 1)
        while offsets[token_end][1] >= end_char:
            token_end -= 1
        ends.append(token_end + 1)
    return {**enc, "start_positions": starts, "end_positions": ends}


def eval_features(batch: dict, tokenizer: Any, max_length: int, doc_stride: int) -> dict:
    """Windows with their example id and offsets; offsets outside the context are None."""
    enc, pad_on_right = _tokenize(tokenizer, batch, max_length, doc_stride)
    sample_mapping = enc.pop("overflow_to_sample_mapping")
    context_id = 1 if pad_on_right else 0
    example_ids, offsets = [], []
    for i, sample in enumerate(sample_mapping):
        sequence_ids = enc.sequence_ids(i)
        example_ids.append(batch["id"][sample])
        window = enc["offset_mapping"][i]
        offsets.append([o if sequence_ids[k] == context_id else None for k, o in enumerate(window)])
    return {**enc, "offset_mapping": offsets, "example_id": example_ids}


def _tokenizer_digest(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    parts = [
        type(tokenizer).__name__,
        tokenizer.padding_side,
        getattr(tokenizer, "truncation_side", "right"),
        backend.to_str() if backend is not None else repr(tokenizer),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _cached(cache_dir: str | None, key: dict, build: Callable[[], datasets.Dataset]) -> datasets.Dataset:
    """build(), or its copy saved under cache_dir; written to a temp dir then renamed so a crash or a
    concurrent process never leaves a half-written cache entry."""
    if cache_dir is None:
        return build()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"squad-{key['split']}-{digest}"
    if not path.is_dir():
        atomic_write_dir(path, lambda tmp: build().save_to_disk(str(tmp)), replace=False)
    return datasets.load_from_disk(str(path))


def _select(ds: datasets.Dataset, limit: int | None) -> datasets.Dataset:
    return ds if limit is None else ds.select(range(min(len(ds), limit)))


class SquadTask:
    """SQuAD v1.1 ("squad") or v2.0 ("squad_v2", with unanswerable questions)."""

    head = "question_answering"
    num_labels = 2
    main_metric = "f1"
    output_names = ("start_logits", "end_logits")

    def __init__(self, version: str) -> None:
        """`version`: "1.1" / "2.0" (a leading "v" is fine) or the task name "squad" / "squad_v2"."""
        key = str(version).lower()
        self.version = VERSION_ALIASES.get(key[1:] if key.startswith("v") else key, "")
        if not self.version:
            raise UserError(f"SQuAD version {version!r} is unknown; use '1.1' (squad) or '2.0' (squad_v2).")
        self.name = "squad" if self.version == "1.1" else "squad_v2"

    def prepare(
        self,
        tokenizer: Any,
        max_length: int,
        options: DataOptions,
        doc_stride: int = 128,
        n_best_size: int = 20,
        max_answer_length: int = 30,
        null_score_diff_threshold: float = 0.0,
        **settings: Any,
    ) -> PreparedData:
        """Train windows (with start/end positions) and one eval split ("validation").

        max_train_samples cuts examples, then windows, as run_qa.py does; max_eval_samples cuts examples
        only (run_qa.py also cuts eval windows, which leaves the last examples without any and scores them
        as wrong).
        """
        for field_name in ("max_train_samples", "max_eval_samples"):
            limit = getattr(options, field_name)
            if limit is not None and limit < 1:
                raise UserError(f"data.{field_name}={limit} must be a positive number of examples or null.")
        if settings:
            raise UserError(
                f"unknown SQuAD settings {sorted(settings)}; the known ones are doc_stride, n_best_size, "
                "max_answer_length, null_score_diff_threshold."
            )
        if not getattr(tokenizer, "is_fast", False):
            raise UserError(
                f"{type(tokenizer).__name__} is not a fast tokenizer; SQuAD needs offset mappings. "
                "Load it with dcft.tokenizers.load_tokenizer."
            )
        max_length = min(max_length, tokenizer.model_max_length)
        if not 0 <= doc_stride < max_length:
            raise UserError(f"doc_stride={doc_stride} must be in [0, max_length={max_length}); lower it.")
        try:
            post = PostprocessConfig(
                self.version == "2.0", n_best_size, max_answer_length, float(null_score_diff_threshold)
            )
        except ValueError as e:
            raise UserError(f"task settings: {e}") from e

        train_ex, eval_ex, source = load_raw(self.version, options)
        train_ex = _select(train_ex, options.max_train_samples)
        eval_ex = _select(eval_ex, options.max_eval_samples)
        key = {
            "format": _CACHE_FORMAT, "source": source, "tokenizer": _tokenizer_digest(tokenizer),
            "max_length": max_length, "doc_stride": doc_stride,
        }

        def features(examples: datasets.Dataset, fn: Callable, split: str, limit: int | None) -> Any:
            split_key = {**key, "split": split, "limit": limit}
            # an explicit fingerprint spares datasets hashing the tokenizer, and keys its map cache right
            fingerprint = hashlib.sha256(json.dumps(split_key, sort_keys=True).encode()).hexdigest()[:20]
            fn_kwargs = {"tokenizer": tokenizer, "max_length": max_length, "doc_stride": doc_stride}
            return _cached(options.cache_dir, split_key, lambda: examples.map(
                fn, batched=True, remove_columns=examples.column_names, fn_kwargs=fn_kwargs,
                new_fingerprint=fingerprint, desc=f"Tokenising SQuAD {split}",
            ))

        train = features(train_ex, train_features, "train", options.max_train_samples)
        train = _select(train, options.max_train_samples)  # windows, as run_qa.py
        evals = features(eval_ex, eval_features, "validation", options.max_eval_samples)
        inputs = [c for c in tokenizer.model_input_names if c in evals.column_names]
        eval_set = EvalSet(
            name="validation",
            features=evals.select_columns(inputs).with_format("torch"),
            examples=eval_ex,
            extra=SquadEvalExtra(evals.select_columns(["example_id", "offset_mapping"]), post),
        )
        train = train.select_columns(inputs + ["start_positions", "end_positions"]).with_format("torch")
        return PreparedData(train=train, evals=[eval_set])

    def score(self, eval_set: EvalSet, outputs: dict[str, np.ndarray]) -> tuple[dict[str, float], list[dict]]:
        """EM/F1 (x100) by the official script's definitions; v2 adds HasAns/NoAns and best thresholds
        (searched over `null_score_diff`, so a best_*_thresh is directly a null_score_diff_threshold)."""
        extra: SquadEvalExtra = eval_set.extra
        missing = [k for k in self.output_names if k not in outputs]
        if missing:
            raise ValueError(f"outputs lack {missing}; gather {self.output_names} from the QA model at eval.")
        examples = eval_set.examples.select_columns(["id", "context", "answers"]).to_dict()  # one conversion
        windows = extra.features.to_dict()
        ids, answers = examples["id"], examples["answers"]
        preds = postprocess_qa_predictions(
            ids, examples["context"], windows["example_id"], windows["offset_mapping"],
            np.asarray(outputs["start_logits"], dtype=np.float32),
            np.asarray(outputs["end_logits"], dtype=np.float32),
            extra.post,
        )
        golds = {ex_id: a["text"] for ex_id, a in zip(ids, answers, strict=True)}
        texts = {p.id: p.text for p in preds}
        if self.version == "1.1":
            metrics = evaluate_v1(golds, texts)
        else:
            diffs = {p.id: p.null_score_diff for p in preds}
            # na_prob_thresh=inf: the predictions already applied null_score_diff_threshold
            out = evaluate_v2(golds, texts, na_probs=diffs, na_prob_thresh=math.inf)
            metrics = {
                ("exact_match" if k == "exact" else k): float(v) for k, v in out.items() if "total" not in k
            }
        records = [
            {
                "id": p.id,
                "prediction_text": p.text,
                # P(null) under a 2-way softmax of null vs best span score; 0.0 for v1.1 as in run_qa.py
                "no_answer_probability": 0.0 if p.null_score_diff is None else _sigmoid(p.null_score_diff),
                **({} if p.null_score_diff is None else {"null_score_diff": p.null_score_diff}),
            }
            for p in preds
        ]
        return metrics, records


def _sigmoid(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))
