"""Hand-made run records for the tables' tests, shaped as dcft.run_record.build_record writes them (schema 2:
settings id, hyper-parameter set, flat `computing` settings), or as the schema-1 records committed under
results/runs/minilm (no settings id)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dcft.paths import cell_path, record_path
from dcft.results.columns import select_key

BASE = "deberta-v3-base"
SETTINGS_ID = "released-0a1b2c3d"
COMPUTING = {"data.max_train_samples": None, "method.kernel": 8, "model.name": BASE, "trainer.batch_size": 32,
             "trainer.epochs": 50}


def write_record(
    results: Path,
    *,
    model: str = BASE,
    task: str = "rte",
    tag: str = "dcft-d8-s8",
    method: str | None = None,
    lr: float = 0.0012,
    seed: int = 1,
    status: str = "finished",
    best: float | None = None,
    final: float | None = None,
    metrics: dict[str, float] | None = None,
    final_metrics: dict[str, float] | None = None,
    trainable: int = 25344,
    hours: float = 1.0,
    curves: dict | None = None,
    total_steps: int = 500,
    command: str | None = None,
    schema: int = 2,
    settings_id: str = SETTINGS_ID,
    hparams_set: str = "released",
    computing: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    method_state: dict[str, Any] | None = None,
) -> Path:
    """One record; `best`/`final` set the task's selection metric, `metrics` others at the best step (and at
    the end unless `final_metrics` says otherwise)."""
    key = select_key(task)
    best_m = {**({key: best} if best is not None else {}), **(metrics or {})}
    final_m = {**best_m, **(final_metrics or {}), **({key: final} if final is not None else {})}
    record: dict[str, Any] = {
        "schema": schema, "status": status, "model": model, "model_source": f"/models/{model}", "task": task,
        "method": method or tag.split("-")[0], "method_tag": tag, "method_settings": {}, "seed": seed, "lr": lr,
        "params": {"trainable": trainable, "head": 592130, "total": 184_000_000}, "main_metric": key,
        "reporting_rule": "best", "best": {"step": 300, "metrics": best_m}, "final": {"step": 500, "metrics": final_m},
        "total_steps": total_steps,
        "curves": curves or {"train_loss": [], "eval": []}, "train_time_s": hours * 3600.0, "eval_time_s": 5.0,
        "device": "cpu", "command": command or f"python run.py task={task} seed={seed}", "error": None,
        "trainer": {"lr": lr, "epochs": (computing or COMPUTING).get("trainer.epochs", 50), "batch_size": 32},
        "overrides": overrides or [f"task={task}", f"seed={seed}"],
    }
    if method_state is not None:
        record["method_state"] = method_state
    if schema >= 2:
        record.update(settings_id=settings_id, hparams_set=hparams_set, computing=dict(computing or COMPUTING))
        path = record_path(results, cell_path(model, task, tag, settings_id, lr, seed))
    else:
        path = results / "runs" / model / task / tag / f"lr{lr}" / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path
