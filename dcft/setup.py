"""Builders from a run's typed config to what the loop trains: data loaders, the adapted model, the optimizer."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

from dcft.config import RunConfig, TrainerSettings
from dcft.errors import UserError
from dcft.heads import attach_method
from dcft.methods import Adapted
from dcft.models import build_model, tokenizer_source
from dcft.paths import cache_dir
from dcft.tasks import DataOptions, PreparedData, Task, get_task

# Parameters AdamW does not decay (as transformers' Trainer): biases and normalisation weights.
NO_DECAY = ("bias", "LayerNorm.weight", "layernorm.weight", "layer_norm.weight", "norm.weight")


def build_data(cfg: RunConfig, num_processes: int) -> tuple[Task, PreparedData, DataLoader, list[DataLoader]]:
    """Tokenised train/eval features (cached) and their loaders; shuffling is seeded by the run's seed."""
    from dcft.tokenizers import load_tokenizer

    task = get_task(cfg.task, cfg.task_family)
    tokenizer = load_tokenizer(tokenizer_source(cfg.model))
    options = DataOptions(
        dir=cfg.data.get("dir"), max_train_samples=cfg.data.get("max_train_samples"),
        max_eval_samples=cfg.data.get("max_eval_samples"), split_by_article=cfg.data.get("split_by_article"),
        cache_dir=str(cache_dir(cfg.results_dir)) if cfg.data.get("cache", True) else None,
    )
    data = task.prepare(tokenizer, cfg.trainer.max_length, options, **cfg.task_settings)
    collator = DataCollatorWithPadding(tokenizer)
    generator = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(data.train, batch_size=cfg.trainer.batch_size, shuffle=True, collate_fn=collator,
                              generator=generator, num_workers=cfg.trainer.num_workers)
    eval_loaders = [DataLoader(e.features, batch_size=cfg.trainer.eval_batch_size, collate_fn=collator)
                    for e in data.evals]
    return task, data, train_loader, eval_loaders


def build_method(cfg: RunConfig, task: Task, total_steps: int) -> Adapted:
    """The backbone with its task head, the method attached, the head trainable."""
    model = build_model(cfg.model, task.head, task.num_labels, cfg.trainer.cls_dropout)
    try:
        return attach_method(model, cfg.method, cfg.method_options, total_steps=total_steps,
                             train_pooler=cfg.model.train_pooler)
    except ValueError as exc:  # a setting the model's shapes reject (kernel larger than a layer ...)
        raise UserError(str(exc)) from None


def build_optimizer(adapted: Adapted, tcfg: TrainerSettings) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters (a method may bring its own, e.g. LoRA-FA's, SoRA's: it is handed the
    harness's parameter groups and AdamW settings to start from)."""
    decay, no_decay = [], []
    for name, p in adapted.trainable_named_parameters():
        (no_decay if any(k in name for k in NO_DECAY) else decay).append(p)
    groups: list[dict[str, Any]] = [{"params": decay, "weight_decay": tcfg.weight_decay},
                                    {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if adapted.make_optimizer is not None:
        return adapted.make_optimizer(lr=tcfg.lr, weight_decay=tcfg.weight_decay, betas=tuple(tcfg.adam_betas),
                                      eps=tcfg.adam_eps, param_groups=groups)
    return torch.optim.AdamW(groups, lr=tcfg.lr, betas=tuple(tcfg.adam_betas), eps=tcfg.adam_eps)
