"""Phase 3 of an lr study: the doubling check at every winner that was still climbing at the end of its run.

    python scripts/study_schedule_checks.py --results-dir results --model minilm \\
        [-- +experiment=minilm_study task=stsb] | xargs -r -P 2 -L 1 python run.py      (make study-checks)

A run whose mean dev score over the last third of its steps exceeds the middle third's by more than the tolerance
(dcft.results.plateau) may have been cut off, or may only be climbing as the decaying learning rate anneals; the
curve cannot tell the two apart. Running the same cell with twice the optimizer steps (same lr, seed, warm-up
fraction, evaluations every twice as many steps) can. For each (task, method)'s winner on a finished, interior
grid (scripts/study_seeds.py picks it as the tables do), the run that chose the lr (its lowest seed) is checked
and, if it fails, its own overrides are printed with `trainer.max_steps` and `trainer.eval_steps` doubled and
the records sent to `--checks-dir`: a results root of its own, so the tables never mix doubled runs with the
study's. Cells already finished there are skipped by the harness.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from study_seeds import Winner, command_line, study_winners  # noqa: E402

from dcft.paths import schedule_checks_dir  # noqa: E402
from dcft.results.columns import select_key  # noqa: E402
from dcft.results.plateau import plateau  # noqa: E402
from dcft.results.store import integer  # noqa: E402

DOUBLED = ("trainer.max_steps=", "trainer.eval_steps=")  # replaced by the doubled values


def doubled(w: Winner) -> list[str] | None:
    """The winner's overrides with twice its steps and evaluation interval; None if its record lacks the steps."""
    steps = integer(w.run.get("total_steps"))
    if not steps:
        return None
    every = integer((w.run.get("trainer") or {}).get("eval_steps"))
    lengths = [f"trainer.max_steps={2 * steps}"] + ([f"trainer.eval_steps={2 * every}"] if every else [])
    return [o for o in w.overrides if not o.startswith(DOUBLED)] + lengths


def check_lines(results_dir: str, checks_dir: str, model: str, required: list[str], min_grid: int = 4) -> list[str]:
    lines = []
    for w in study_winners(results_dir, model, required, min_grid):
        if w.selection.edge:
            print(f"{w.task} {w.tag}: its winner sits on the grid's edge: extend the grid first", file=sys.stderr)
            continue
        found = plateau(w.run, select_key(w.task))
        if found is None or found.long_enough:
            continue
        overrides = doubled(w)
        if overrides is None:
            print(f"{w.task} {w.tag}: its record has no total_steps to double", file=sys.stderr)
            continue
        print(f"{w.task} {w.tag}: lr {w.selection.lr:g} seed {w.run['seed']} gained {found.gain:+.2f} in its last "
              f"third: doubling its steps", file=sys.stderr)
        lines.append(command_line([*overrides, f"results_dir={checks_dir}", f"seed={w.run['seed']}"]))
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    required = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results", help="the study's results root (its records decide)")
    parser.add_argument("--checks-dir", default=None,
                        help="results root of the doubled runs (default: <results-dir>/<model>/schedule-check, "
                        "where make tables reads them)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--min-grid", type=int, default=4,
                        help="check only a (task, method) with at least this many lrs done: finished or diverged (4)")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    checks_dir = args.checks_dir or str(schedule_checks_dir(args.results_dir, args.model))
    for line in check_lines(args.results_dir, checks_dir, args.model, [r for r in required if "=" in r],
                            args.min_grid):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
