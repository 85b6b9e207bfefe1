"""Where metrics go: metrics.jsonl always (one line per step), W&B via accelerate's trackers when enabled."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def init_wandb(accelerator: Any, cfg: Any, counts: dict[str, int]) -> None:
    """W&B through accelerate: the whole resolved config (flat) and the parameter counts as the run's config."""
    from dcft.cells import flatten

    name = f"{cfg.model.name}/{cfg.task}/{cfg.method_tag}/seed{cfg.seed}"
    config = {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
              for k, v in flatten(cfg.resolved).items()}
    config |= {f"params/{k}": v for k, v in counts.items()}
    accelerator.init_trackers(cfg.logger.get("project", "dcft"), config=config,
                              init_kwargs=wandb_init_kwargs(cfg.logger, name, cfg.run_dir))


def wandb_init_kwargs(logger: dict[str, Any], run_name: str, run_dir: str) -> dict[str, Any]:
    """Offline unless a key is set (a run never fails for lack of a login)."""
    mode = logger.get("mode")
    if mode is None:
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    kwargs: dict[str, Any] = {"name": run_name, "mode": mode, "dir": run_dir}
    if logger.get("entity"):
        kwargs["entity"] = logger["entity"]
    return {"wandb": kwargs}


class MetricsLog:
    """Append-only JSON lines; on resume, lines past the checkpoint's step are dropped so each step appears once."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        from dcft.io_utils import atomic_write_text

        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def reset(self) -> None:
        if self.enabled and self.path.exists():
            self.path.unlink()

    def write(self, entry: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(entry, default=float) + "\n")
