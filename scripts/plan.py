"""List the jobs of a sweep without running anything: count, settings, commands, which cells have records.

    python scripts/plan.py +experiment=table4 [model=minilm] [seed=1,2,3] [results_dir=results]
    python scripts/plan.py --todo +experiment=minilm_study | xargs -P 2 -L 1 python run.py   (make sweep-local)

It expands the sweep exactly as `python run.py -m` would (Hydra's own override parser and basic
sweeper), composes every job, and looks up its cell in the record store. One line per job shows what differs
between rows before anything is launched: model, task, method tag, the effective lr, length (epochs, or steps where
trainer.max_steps caps them), batch (per device x accumulated batches: 4x8), the settings id, the seconds per
step measured by finished runs of the same model, task and method (`~`: of its task's other methods, scaled by
how much slower or faster the method ran than the others on the model's other tasks; "?" without any), then the
command; the unfinished jobs' total cost follows the count when steps and times are
known. A `running` record whose process is gone from this host shows as `stopped` (a job killed outright; it
resumes from its last checkpoint). With --todo it prints only the jobs whose cell has no finished record, one line
of shell-quoted overrides each: fed to `xargs -P N -L 1 python run.py`, N jobs run side by side on one machine
(each a process of its own, sharing the cores: dcft.threads).
"""

from __future__ import annotations

import functools
import shlex
import signal
import statistics
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcft.config import RunConfig, from_hydra  # noqa: E402
from dcft.errors import UserError, first_line  # noqa: E402
from dcft.paths import CONF_DIR  # noqa: E402
from dcft.run_record import live_status, read_record  # noqa: E402


def expand(arguments: list[str]) -> list[list[str]]:
    """Job override lists: the preset's hydra.sweeper.params, then the command line (which wins)."""
    fixed = [a for a in arguments if "," not in a.split("=", 1)[-1]]
    cfg = compose(config_name="config", overrides=fixed, return_hydra_config=True)
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.get("params") or {}).items()]
    parser = OverridesParser.create()
    overrides = parser.parse_overrides(params + arguments)
    return BasicSweeper.split_arguments(overrides, None)[0]


def settings_columns(cfg: RunConfig) -> tuple[str, ...]:
    """What a researcher checks per row: model, task, method tag, effective lr, length (epochs, or optimizer steps
    where trainer.max_steps caps them), batch (per device x accumulated batches), settings id."""
    t = cfg.trainer
    batch = f"{t.batch_size}x{t.grad_accum}" if t.grad_accum > 1 else str(t.batch_size)
    length = f"{t.max_steps}steps" if t.max_steps else f"{t.epochs}ep"
    return cfg.model.name, cfg.task, cfg.method_tag, f"{t.lr:g}", length, batch, cfg.cell.settings_id


COLUMNS = ("model", "task", "method tag", "lr", "length", "batch", "settings id", "s/step")


@functools.cache  # every job of a method (and of a task) reads the same folder: read it once
def seconds_per_step(folder: Path, pattern: str = "*/*/*.json") -> float | None:
    """Wall seconds per optimizer step (training and its evaluations) measured by the finished runs under one
    method tag's folder (<model>/<task>/<tag>: any settings), or with pattern "*/*/*/*.json" a task's folder (any
    method): the median over their records; None without one."""
    rates = []
    for path in folder.glob(pattern):
        record = read_record(path) or {}
        steps, seconds = record.get("step"), (record.get("train_time_s") or 0) + (record.get("eval_time_s") or 0)
        if record.get("status") == "finished" and isinstance(steps, int) and steps > 0 and seconds > 0:
            rates.append(seconds / steps)
    return statistics.median(rates) if rates else None


@functools.cache
def relative_cost(model_folder: Path, task: str, tag: str) -> float:
    """A method's seconds per step over the median of all methods', on each of the model's other tasks where it has
    a finished run (the median over those tasks): a FourierFT step costs about 1.7x the median method's on every
    task, so a task's other methods price it that much higher. 1.0 where the method ran on no other task."""
    ratios = []
    for other in sorted(p for p in model_folder.iterdir() if p.is_dir() and p.name != task):
        own, everyone = seconds_per_step(other / tag), seconds_per_step(other, "*/*/*/*.json")
        if own is not None and everyone:
            ratios.append(own / everyone)
    return statistics.median(ratios) if ratios else 1.0


def step_time(cell: Path) -> tuple[float | None, bool]:
    """(seconds per step, exact): from finished runs of the cell's own method, else (approximate) of its task's
    other methods, scaled by the method's relative cost elsewhere."""
    own = seconds_per_step(cell.parents[2])
    if own is not None:
        return own, True
    task_rate = seconds_per_step(cell.parents[3], "*/*/*/*.json")
    if task_rate is None:
        return None, False
    return task_rate * relative_cost(cell.parents[4], cell.parents[3].name, cell.parents[2].name), False


def cost_line(todo: list[tuple[float | None, bool, int | None]]) -> str:
    """The unfinished jobs' cost from (seconds per step, exact, steps); a job lacking either number is counted
    apart, one timed only through its task's other methods is counted as approximate."""
    known = [(rate * steps, exact) for rate, exact, steps in todo if rate is not None and steps]
    approx = sum(not exact for _, exact in known)
    unknown = len(todo) - len(known)
    text = (f"measured cost of the {len(known)} unfinished jobs with a timed peer: "
            f"{sum(c for c, _ in known) / 3600:.1f} job-hours")
    if approx:
        text += f" ({approx} timed by other methods on their task: ~)"
    if unknown:
        text += f"; {unknown} without one (no finished run of their task, or no max_steps)"
    return text + " (one job-hour: a job on one thread beside the others, as the timed runs ran)"


def main(arguments: list[str]) -> int:
    todo = "--todo" in arguments
    arguments = [a for a in arguments if a != "--todo"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        jobs = expand(arguments)
        rows, seen, todo_cost = [], set(), []
        for job in jobs:
            cfg = from_hydra(compose(config_name="config", overrides=job), overrides=job)
            cell = Path(cfg.record_path)
            record = read_record(cell)
            status = live_status(record) if record else ("—" if not cell.exists() else "unreadable")
            duplicate = cell in seen
            seen.add(cell)
            note = " (same cell as an earlier job)" if duplicate else ""
            if todo and status != "finished" and not duplicate:
                print(" ".join(shlex.quote(o) for o in job))
            rate, exact = step_time(cell)
            if status != "finished" and not duplicate:
                todo_cost.append((rate, exact, cfg.trainer.max_steps))
            columns = (*settings_columns(cfg), "?" if rate is None else f"{'' if exact else '~'}{rate:.2f}")
            rows.append((status, columns, "python run.py " + " ".join(job) + note))
    if todo:
        return 0
    finished = sum(r[0] == "finished" for r in rows)
    print(f"{len(rows)} jobs, {len(seen)} cells: {finished} finished (skipped when launched), "
          f"{len(rows) - finished} to run")
    if todo_cost:
        print(cost_line(todo_cost))
    widths = [max(len(c[i]) for c in [COLUMNS, *(r[1] for r in rows)]) for i in range(len(COLUMNS))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(f"[{'status':>9}] " + line.format(*COLUMNS) + "  command")
    for status, columns, command in rows:
        print(f"[{status:>9}] " + line.format(*columns) + f"  {command}")
    return 0


def one_line(err: Exception) -> str:
    """Hydra's first line, plus the group's options it lists under "Available options" on the same line."""
    options, listing = [], False
    for line in str(err).splitlines():
        if line.startswith("Available options"):
            listing = True
        elif listing and line.startswith("\t"):
            options.append(line.strip())
        elif options:
            break
    return first_line(err) + (f"; options: {', '.join(options)}" if options else "")


def cli(arguments: list[str]) -> int:
    """main() with a user's mistake (an unknown preset, a malformed override) as one line, as run.py does."""
    try:
        return main(arguments)
    except (HydraException, UserError) as err:
        print(f"plan: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `plan.py ... | head` ends quietly, as other shell tools do
    sys.exit(cli(sys.argv[1:]))
