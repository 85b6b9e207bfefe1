"""`dry_run=true`: the method on the meta-device architecture; a readable summary, then one JSON line."""

from __future__ import annotations

import json
from typing import Any

from dcft.config import RunConfig
from dcft.errors import UserError
from dcft.params import count_parameters
from dcft.tasks import get_task


def dry_run(cfg: RunConfig) -> dict[str, Any]:
    task = get_task(cfg.task, cfg.task_family)
    try:
        counts = count_parameters(cfg.model, cfg.method, cfg.method_options, task.head, task.num_labels)
    except ValueError as exc:  # the method rejected a setting (kernel/stride vs the model's shapes ...)
        raise UserError(str(exc)) from None
    summary = {
        "model": cfg.model.name,
        "task": cfg.task,
        "method": cfg.method,
        "method_tag": counts.pop("method_tag"),
        "settings": cfg.method_options,
        **counts,
    }
    print(f"model      {cfg.model.name} ({cfg.model.arch.get('model_type', '?')}, built on the meta device)")
    print(f"task       {cfg.task} ({task.head}, {task.num_labels} labels)")
    print(f"method     {cfg.method} [{summary['method_tag']}]")
    print(f"adapter    {counts['trainable_params']:,} params = {counts['paper_units']['M']} = "
          f"{counts['paper_units']['K']} (paper units: K=1024, M=2^20; head excluded)")
    print(f"head       {counts['head_params']:,} params (trainable, not counted by the paper)")
    print(f"total      {counts['total_params']:,} params")
    print(json.dumps(summary, default=str))
    return summary
