"""The GLUE task family: tokenise raw splits into model-ready features (cached on disk) and score logits.

Padding is left to the trainer's `DataCollatorWithPadding`, so features are truncated but unpadded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from dcft.errors import UserError
from dcft.io_utils import atomic_write_dir
from dcft.tasks.base import DataOptions, EvalSet, PreparedData
from dcft.tasks.glue_data import GLUE_TASKS, HUB_PATH, GlueSpec, get_spec, load_glue_raw, source_files
from dcft.tasks.metrics import compute_metrics

__all__ = ["GLUE_TASKS", "GlueSpec", "GlueTask", "load_glue_raw"]

CACHE_VERSION = 1  # bump when the feature layout changes so stale caches are not reused


class GlueTask:
    """One GLUE task (e.g. `GlueTask("rte")`) implementing the `dcft.tasks.base.Task` protocol."""

    head = "sequence_classification"
    output_names = ("logits",)

    def __init__(self, name: str) -> None:
        self.spec: GlueSpec = get_spec(name)
        self.name = name
        self.num_labels = self.spec.num_labels
        self.main_metric = self.spec.main_metric

    def prepare(self, tokenizer: Any, max_length: int, options: DataOptions, **settings: Any) -> PreparedData:
        """Raw splits -> first-N limits -> truncated (unpadded) features; `settings` are not used by GLUE."""
        _check_limit("data.max_train_samples", options.max_train_samples)
        _check_limit("data.max_eval_samples", options.max_eval_samples)
        raw = None
        if options.dir is None:  # hub: datasets keeps its own cache, its fingerprints identify the data
            raw = load_glue_raw(self.name, None)
            source: Any = {"hub": HUB_PATH, "fingerprints": {s: getattr(d, "_fingerprint", None)
                                                             for s, d in raw.items()}}
        else:  # offline: identify the files by stat, so a cache hit never parses them
            source = {"files": [_stat(p) for p in source_files(self.name, options.dir)]}
        key = {
            "version": CACHE_VERSION, "task": self.name, "source": source,
            "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
            "vocab_size": _vocab_size(tokenizer), "max_length": max_length,
            "max_train_samples": options.max_train_samples, "max_eval_samples": options.max_eval_samples,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        cache_path = options.cache_dir and os.path.join(options.cache_dir, f"glue-{self.name}-{digest}")
        if cache_path and os.path.isdir(cache_path):
            return self._from_cache(cache_path)

        raw = raw if raw is not None else load_glue_raw(self.name, options.dir)
        raw = datasets.DatasetDict({
            split: _first(ds, options.max_train_samples if split == "train" else options.max_eval_samples)
            for split, ds in raw.items()
        })
        features = datasets.DatasetDict({
            split: self._tokenize(ds, tokenizer, max_length, fingerprint=f"{digest}-{split}")
            for split, ds in raw.items()
        })
        examples = datasets.DatasetDict({s: raw[s] for s in self.spec.eval_splits})
        if cache_path:
            _save_atomic(cache_path, features, examples, key)
        return self._assemble(features, examples)

    def score(self, eval_set: EvalSet, outputs: dict[str, np.ndarray]) -> tuple[dict[str, float], list[dict]]:
        """Metrics (x100) and one `{"idx", "prediction", "label"}` dict per example, in feature order."""
        if "logits" not in outputs:
            raise ValueError(f"GLUE scoring needs outputs['logits'], got keys {sorted(outputs)}.")
        logits = np.asarray(outputs["logits"])
        examples = eval_set.examples
        n = len(examples)
        if logits.ndim != 2 or logits.shape != (n, self.num_labels):
            raise ValueError(f"{self.name}/{eval_set.name}: logits shape {logits.shape}, expected ({n}, "
                             f"{self.num_labels}) (one row per example of the eval set, in feature order).")
        labels = np.asarray(examples["label"])
        preds = logits[:, 0].astype(np.float64) if self.spec.is_regression else logits.argmax(axis=-1)
        metrics = compute_metrics(self.spec.metrics, preds, labels)
        idx = examples["idx"] if "idx" in examples.column_names else range(n)
        predictions = [{"idx": int(i), "prediction": self._label_name(p), "label": self._label_name(g)}
                       for i, p, g in zip(idx, preds, labels, strict=True)]
        return metrics, predictions

    def _label_name(self, value: Any) -> str | float:
        """Class ids become hub label names; STS-B scores stay floats (JSON-friendly either way)."""
        return float(value) if self.spec.is_regression else self.spec.label_names[int(value)]

    def _tokenize(self, ds: datasets.Dataset, tokenizer: Any, max_length: int, fingerprint: str
                  ) -> datasets.Dataset:
        text_columns = self.spec.text_columns
        keep = getattr(tokenizer, "model_input_names", None)
        label_type = "float32" if self.spec.is_regression else "int64"

        def encode(batch: dict[str, list]) -> dict[str, list]:
            enc = tokenizer(*(batch[c] for c in text_columns), truncation=True, max_length=max_length)
            out = {k: v for k, v in enc.items() if keep is None or k in keep}
            out["labels"] = batch["label"]
            return out

        # An explicit fingerprint spares datasets from hashing the tokenizer closure (slow, warns).
        out = ds.map(encode, batched=True, remove_columns=ds.column_names, new_fingerprint=fingerprint,
                     desc=f"Tokenising {self.name}")
        return out.cast_column("labels", datasets.Value(label_type))

    def _from_cache(self, path: str) -> PreparedData:
        features = datasets.load_from_disk(os.path.join(path, "features"))
        examples = datasets.load_from_disk(os.path.join(path, "examples"))
        return self._assemble(features, examples)

    def _assemble(self, features: datasets.DatasetDict, examples: datasets.DatasetDict) -> PreparedData:
        for ds in features.values():
            ds.set_format("torch")
        evals = [EvalSet(name=s, features=features[s], examples=examples[s]) for s in self.spec.eval_splits]
        return PreparedData(train=features["train"], evals=evals)


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UserError(f"{name}={value} must be a positive number of examples or null for all; fix {name}.")


def _first(ds: datasets.Dataset, n: int | None) -> datasets.Dataset:
    """The first n rows, like run_glue.py's max_*_samples (no shuffling, so runs stay comparable)."""
    return ds if n is None or n >= len(ds) else ds.select(range(n))


def _stat(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def _vocab_size(tokenizer: Any) -> int | None:
    try:
        return len(tokenizer)  # includes added tokens, unlike .vocab_size
    except TypeError:
        return getattr(tokenizer, "vocab_size", None)


def _save_atomic(path: str, features: datasets.DatasetDict, examples: datasets.DatasetDict, key: dict
                 ) -> None:
    """Readers see a complete cache or none; a concurrent writer that wins the race is fine."""

    def fill(tmp: Path) -> None:
        features.save_to_disk(str(tmp / "features"))
        examples.save_to_disk(str(tmp / "examples"))
        (tmp / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True, default=str))

    atomic_write_dir(path, fill, replace=False)
