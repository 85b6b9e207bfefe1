"""Build the backbone + task head: from the hub, a local directory, or the architecture alone.

Every model config carries an `arch` block of HF config fields, so the paper's models can be built
with random weights (or on the meta device, for parameter counting) without any download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

from dcft import hub
from dcft.errors import UserError, first_line

HEADS = {
    "sequence_classification": AutoModelForSequenceClassification,
    "question_answering": AutoModelForQuestionAnswering,
}


@dataclass
class ModelSpec:
    name: str
    hub_id: str | None = None  # e.g. microsoft/deberta-v3-base
    path: str | None = None  # local HF directory; wins over hub_id
    tokenizer: str | None = None  # tokenizer dir/id when it differs from the weights' source
    arch: dict[str, Any] = field(default_factory=dict)  # HF config fields: build without downloads
    random_init: bool = False  # build from `arch` with random weights (tests, benchmarks)
    trust_remote_code: bool = False  # off unless the user opts in
    train_pooler: bool = True  # a backbone's own pooler (BERT's) trains with the head (dcft.heads)

    @property
    def source(self) -> str:
        if self.random_init:
            return f"arch:{self.name}"
        if self.path:
            return self.path
        if self.hub_id:
            return self.hub_id
        raise UserError(f"model {self.name}: no path, hub_id or random_init; set model.path=<dir> or model.hub_id")


def arch_config(spec: ModelSpec, **overrides: Any):
    """An HF config from the `arch` block alone (no download)."""
    fields = dict(spec.arch)
    model_type = fields.pop("model_type", None)
    if not model_type:
        raise UserError(f"model {spec.name}: arch.model_type is missing; add it to conf/model/{spec.name}.yaml")
    return AutoConfig.for_model(model_type, **fields, **overrides)


def load_config(spec: ModelSpec, **overrides: Any):
    if spec.random_init:
        return arch_config(spec, **overrides)
    source = spec.source
    if spec.path and not os.path.isdir(spec.path):
        raise UserError(f"model.path={spec.path!r} is not a directory; point it at a local HF model directory")
    hub.announce("model", source)
    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=spec.trust_remote_code, **overrides)
    except OSError as exc:
        raise UserError(
            f"model {spec.name}: cannot load {source!r} ({first_line(exc)}); offline, set model.path=<local dir> "
            "or model.random_init=true"
        ) from None


def head_overrides(head: str, num_labels: int, cls_dropout: float | None) -> dict[str, Any]:
    """Config fields the task decides: label count and DeBERTa's classifier dropout (`cls_dropout`).

    As in the released code and upstream transformers, only DeBERTa's head reads `cls_dropout`; BERT's and
    RoBERTa's classification heads keep their config's dropout (`classifier_dropout` unset: the hidden 0.1).
    """
    fields: dict[str, Any] = {}
    if head == "sequence_classification":
        fields["num_labels"] = num_labels
        if num_labels == 1:
            fields["problem_type"] = "regression"
    if cls_dropout is not None:
        fields["cls_dropout"] = cls_dropout  # DeBERTa-v2/v3's ContextPooler + classifier dropout
    return fields


def build_model(
    spec: ModelSpec, head: str, num_labels: int = 2, cls_dropout: float | None = None, meta: bool = False
) -> nn.Module:
    """The HF model with its task head. `meta=True` builds shapes only (no memory, no download)."""
    if head not in HEADS:
        raise UserError(f"head={head!r} is unknown; choose one of {', '.join(HEADS)}")
    auto = HEADS[head]
    overrides = head_overrides(head, num_labels, cls_dropout)
    if meta:
        config = arch_config(spec, **overrides) if spec.arch else load_config(spec, **overrides)
        with torch.device("meta"):
            return auto.from_config(config, trust_remote_code=spec.trust_remote_code)
    config = load_config(spec, **overrides)
    if spec.random_init:
        return auto.from_config(config, trust_remote_code=spec.trust_remote_code)
    try:
        return auto.from_pretrained(spec.source, config=config, trust_remote_code=spec.trust_remote_code)
    except OSError as exc:
        raise UserError(f"model {spec.name}: cannot load weights from {spec.source!r} ({first_line(exc)})") from None


def tokenizer_source(spec: ModelSpec) -> str:
    return spec.tokenizer or spec.path or spec.hub_id or ""
