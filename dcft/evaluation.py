"""Evaluation: run the model over one split, gather outputs across processes, let the task score them."""

from __future__ import annotations

import numpy as np
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from dcft.tasks.base import EvalSet, Task

NON_INPUTS = ("labels", "start_positions", "end_positions")
PAD = -10000.0  # padding for logits gathered at different sequence lengths (never wins a span)


def _concat(chunks: list[np.ndarray]) -> np.ndarray:
    """Concatenate along the batch axis, padding the sequence axis of QA logits to one length."""
    if chunks[0].ndim == 1 or all(c.shape[1:] == chunks[0].shape[1:] for c in chunks):
        return np.concatenate(chunks)
    width = max(c.shape[1] for c in chunks)
    return np.concatenate([np.pad(c, ((0, 0), (0, width - c.shape[1])), constant_values=PAD) for c in chunks])


@torch.no_grad()
def predict(accelerator: Accelerator, model: torch.nn.Module, loader: DataLoader, names: tuple[str, ...]) -> dict:
    """Named model outputs for every example of the loader, in dataset order, once each (no DDP duplicates)."""
    model.eval()
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for batch in loader:
        inputs = {k: v for k, v in batch.items() if k not in NON_INPUTS}
        outputs = model(**inputs)
        for name in names:
            value = outputs[name]
            if value.ndim == 2 and name != "logits":  # QA logits: pad the sequence axis across processes
                value = accelerator.pad_across_processes(value, dim=1, pad_index=PAD)
            chunks[name].append(accelerator.gather_for_metrics(value).float().cpu().numpy())
    model.train()
    return {name: _concat(parts) for name, parts in chunks.items()}


def evaluate_split(
    accelerator: Accelerator, model: torch.nn.Module, loader: DataLoader, eval_set: EvalSet, task: Task, prefix: bool
) -> tuple[dict[str, float], list[dict]]:
    outputs = predict(accelerator, model, loader, task.output_names)
    metrics, predictions = task.score(eval_set, outputs)
    if prefix:
        metrics = {f"{eval_set.name}_{k}": v for k, v in metrics.items()}
    return metrics, predictions
