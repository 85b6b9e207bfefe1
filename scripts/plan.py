"""List the jobs of a sweep without running anything: count, settings, commands, which cells have records.

    python scripts/plan.py +experiment=table4 [model=minilm] [seed=1,2,3] [results_dir=results]
    python scripts/plan.py --todo +experiment=minilm_study | xargs -P 2 -L 1 python run.py   (make sweep-local)

It expands the sweep exactly as `python run.py -m` would (Hydra's own override parser and basic
sweeper), composes every job, and looks up its cell in the record store. One line per job shows what differs
between rows before anything is launched: model, task, method tag, the effective lr, epochs, batch (per device x
accumulated batches: 4x8), the settings id, then the command. With --todo it prints only the jobs whose cell has
no finished record, one line of shell-quoted overrides each: fed to `xargs -P N -L 1 python run.py`, N jobs run
side by side on one machine (each a process of its own, sharing the cores: dcft.threads).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcft.config import RunConfig, from_hydra  # noqa: E402
from dcft.paths import CONF_DIR  # noqa: E402
from dcft.run_record import read_record  # noqa: E402


def expand(arguments: list[str]) -> list[list[str]]:
    """Job override lists: the preset's hydra.sweeper.params, then the command line (which wins)."""
    fixed = [a for a in arguments if "," not in a.split("=", 1)[-1]]
    cfg = compose(config_name="config", overrides=fixed, return_hydra_config=True)
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.get("params") or {}).items()]
    parser = OverridesParser.create()
    overrides = parser.parse_overrides(params + arguments)
    return BasicSweeper.split_arguments(overrides, None)[0]


def settings_columns(cfg: RunConfig) -> tuple[str, ...]:
    """What a researcher checks per row: model, task, method tag, effective lr, epochs, batch (per device x
    accumulated batches), settings id."""
    t = cfg.trainer
    batch = f"{t.batch_size}x{t.grad_accum}" if t.grad_accum > 1 else str(t.batch_size)
    return cfg.model.name, cfg.task, cfg.method_tag, f"{t.lr:g}", str(t.epochs), batch, cfg.cell.settings_id


COLUMNS = ("model", "task", "method tag", "lr", "ep", "batch", "settings id")


def main(arguments: list[str]) -> int:
    todo = "--todo" in arguments
    arguments = [a for a in arguments if a != "--todo"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        jobs = expand(arguments)
        rows, seen = [], set()
        for job in jobs:
            cfg = from_hydra(compose(config_name="config", overrides=job), overrides=job)
            cell = Path(cfg.record_path)
            record = read_record(cell)
            status = record.get("status", "unreadable") if record else ("—" if not cell.exists() else "unreadable")
            duplicate = cell in seen
            seen.add(cell)
            note = " (same cell as an earlier job)" if duplicate else ""
            if todo and status != "finished" and not duplicate:
                print(" ".join(shlex.quote(o) for o in job))
            rows.append((status, settings_columns(cfg), "python run.py " + " ".join(job) + note))
    if todo:
        return 0
    finished = sum(r[0] == "finished" for r in rows)
    print(f"{len(rows)} jobs, {len(seen)} cells: {finished} finished (skipped when launched), "
          f"{len(rows) - finished} to run")
    widths = [max(len(c[i]) for c in [COLUMNS, *(r[1] for r in rows)]) for i in range(len(COLUMNS))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(f"[{'status':>9}] " + line.format(*COLUMNS) + "  command")
    for status, columns, command in rows:
        print(f"[{status:>9}] " + line.format(*columns) + f"  {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
