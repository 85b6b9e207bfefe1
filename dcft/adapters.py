"""Adapter files: only what was trained, as safetensors (adapter and task head apart), plus a JSON config.

Loading rebuilds the method on a fresh base model and copies the tensors in; nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from dcft.heads import attach_method
from dcft.io_utils import atomic_write_dir
from dcft.methods import Adapted

WEIGHTS = "adapter.safetensors"  # the method's tensors: what the paper counts (~100 KB for DCFT d=8)
HEAD = "head.safetensors"  # the task head, trained in every method
CONFIG = "adapter_config.json"


def save_adapter(adapted: Adapted, directory: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write `directory/adapter.safetensors` + `adapter_config.json` atomically (the old copy survives a crash)."""
    head_names = {n for n, p in adapted.model.named_parameters() if id(p) in adapted.head_ids}
    state = {name: t.detach().cpu().contiguous() for name, t in adapted.trainable_state().items()}
    adapter = {k: v for k, v in state.items() if k not in head_names}
    head = {k: v for k, v in state.items() if k in head_names}
    config = {
        "method": adapted.method,
        "tag": adapted.tag,
        "settings": adapted.settings,
        "final_state": adapted.final_state() if adapted.final_state else {},
        **(meta or {}),
    }

    def fill(tmp: Path) -> None:
        save_file(adapter, str(tmp / WEIGHTS), metadata={"method": adapted.method})
        save_file(head, str(tmp / HEAD), metadata={"method": adapted.method})
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, default=str) + "\n")

    atomic_write_dir(directory, fill)
    return Path(directory)


def read_adapter_config(directory: str | Path) -> dict[str, Any]:
    return json.loads((Path(directory) / CONFIG).read_text())


def load_adapter(model: nn.Module, directory: str | Path) -> Adapted:
    """Apply the saved method to `model` (a fresh base model with the same head) and load the tensors."""
    config = read_adapter_config(directory)
    options = _apply_options(config)
    adapted = attach_method(model, config["method"], options, total_steps=config["settings"].get("total_step"))
    state = load_file(str(Path(directory) / WEIGHTS)) | load_file(str(Path(directory) / HEAD))
    target = adapted.model
    own = dict(target.named_parameters())
    missing = sorted(set(state) - set(own))
    if missing:
        raise ValueError(f"adapter {directory}: tensors {missing[:5]} do not exist in this model; wrong base model?")
    for name, tensor in state.items():
        own[name].data.copy_(tensor.to(own[name].dtype))
    return adapted


def _apply_options(config: dict[str, Any]) -> dict[str, Any]:
    """Settings recorded at save time, mapped back to the method's options."""
    settings = dict(config["settings"])
    if config["method"] == "adalora":
        for derived in ("total_step", "schedule_scaled"):
            settings.pop(derived, None)
    return settings
