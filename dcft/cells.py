"""A run's cell: named by everything that changes what the run computes, and by nothing else.

Cell = <model>/<task>/<method tag>/<settings id>/lr<lr>/seed<seed>. The method tag (dcft.methods.settings) says
what the method is; the settings id `<hparams set>-<digest>` covers every other setting that changes the
computation (the method's remaining settings, the trainer's schedule and batch, data limits, a random-init
architecture ...). Settings that only change logging, checkpointing, speed or where files come from are left
out, so a rerun with another eval batch size or thread count resumes the same cell. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from dcft.methods import method_tag
from dcft.paths import cell_path

# Keys (dotted, under the resolved config) that do not change what a run computes.
NOT_COMPUTING = (
    "method.name", "method.lr", "trainer.lr",  # the method is the tag; the lr has its own path part
    "trainer.eval_batch_size", "trainer.save_adapter", "trainer.save_predictions", "trainer.checkpoint_every",
    "trainer.keep_checkpoints", "trainer.keep_checkpoints_when_finished", "trainer.num_workers", "trainer.threads",
    "trainer.reporting_rule",  # records hold both the best and the final step
    "data.dir", "data.cache",  # where the data comes from, not what it is
)
# Config sections that feed the computation (task.hparams only matters through trainer/method interpolations).
SECTIONS = ("model", "task", "method", "trainer", "data")
MODEL_KEYS_WHEN_PRETRAINED = ("name", "train_pooler")  # hub id / path / tokenizer dir only say where weights are


@dataclass(frozen=True)
class Cell:
    model: str
    task: str
    method_tag: str
    settings_id: str
    lr: float
    seed: int

    @property
    def path(self) -> PurePosixPath:
        return cell_path(self.model, self.task, self.method_tag, self.settings_id, self.lr, self.seed)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'trainer': {'lr': 1}} -> {'trainer.lr': 1}."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def computing_settings(sections: dict[str, Any]) -> dict[str, Any]:
    """The flat settings that change the computation, from the resolved config sections (model, task, ...)."""
    model = dict(sections.get("model") or {})
    if not model.get("random_init"):
        model = {k: model[k] for k in MODEL_KEYS_WHEN_PRETRAINED if k in model}
    else:
        model = {k: model.get(k) for k in ("name", "random_init", "arch", "train_pooler")}
    task = {k: v for k, v in (sections.get("task") or {}).items() if k != "hparams"}
    tree = {"model": model, "task": task, **{k: sections.get(k) or {} for k in ("method", "trainer", "data")}}
    flat = flatten(tree)
    return {k: v for k, v in sorted(flat.items()) if k not in NOT_COMPUTING}


def effective_lr(sections: dict[str, Any]) -> float:
    """The learning rate a run uses: the method's own when set, else the trainer's."""
    method_lr = (sections.get("method") or {}).get("lr")
    return float((sections.get("trainer") or {})["lr"] if method_lr is None else method_lr)


def hparams_set(sections: dict[str, Any]) -> str:
    return str(((sections.get("task") or {}).get("hparams") or {}).get("set") or "custom")


def settings_id(sections: dict[str, Any]) -> str:
    """`<hparams set>-<8 hex digits>` of the computing settings."""
    blob = json.dumps(computing_settings(sections), sort_keys=True, default=str)
    return f"{hparams_set(sections)}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def cell_of(sections: dict[str, Any]) -> Cell:
    """The cell of a resolved config (a dict with model, task, method, trainer, data and seed)."""
    method = dict(sections["method"])
    name = method.pop("name")
    method.pop("lr", None)
    return Cell(
        model=str(sections["model"]["name"]), task=str(sections["task"]["name"]), method_tag=method_tag(name, method),
        settings_id=settings_id(sections), lr=effective_lr(sections), seed=int(sections["seed"]),
    )
