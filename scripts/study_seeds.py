"""Phase 2 of an lr study: more seeds at each (task, method)'s chosen learning rate.

    python scripts/study_seeds.py --results-dir results --model minilm --seeds 2,3 [-- +experiment=minilm_study ...]
        | xargs -r -P 2 -L 1 python run.py            (make study-seeds)

For every (task, method tag) of the model, the lr is the one the tables pick (dcft.results: the settings group with
the most finished runs, then the best mean dev score under the paper's rule over the seeds every lr has,
so seeds added at a winner never hand the choice to a neighbour's single run). Each line printed is the winning run's
own command-line overrides with `seed=` replaced, so phase 2 computes exactly what phase 1 did but for the seed;
cells that already have a finished record are skipped by the harness. A (task, method) with fewer than
`--min-grid` (4) lrs done (finished, or diverged) gets nothing yet: its grid is not done. A winner on the edge of
its grid gets no seeds yet: when its run chose the lr through `lr_x` (a half-decade grid: ..., 0.3, 1, 3, 10, 30,
100, ...), the next grid point beyond the edge is printed instead (seed 1), so running phase 2 again after it
finishes seeds the new winner; otherwise the edge is reported on stderr. Overrides after `--` restrict the records
to runs made with them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dcft.results import RecordIndex, load_records  # noqa: E402
from dcft.results.columns import select_key  # noqa: E402
from dcft.results.selection import Selection  # noqa: E402
from dcft.results.store import Record  # noqa: E402

NOT_REPEATED = ("seed=", "results_dir=")  # each line sets its own


@dataclass(frozen=True)
class Winner:
    """One (task, method)'s chosen lr on a finished grid: the run that chose it and its command-line overrides."""

    task: str
    tag: str
    selection: Selection
    run: Record  # the lowest seed's run at the winning lr (seed 1 in a study: the one whose curve chose it)
    overrides: list[str]  # its overrides without seed= and results_dir=


def study_winners(results_dir: str, model: str, required: list[str], min_grid: int = 4) -> Iterator[Winner]:
    """Every (task, method tag) of the model whose grid has `min_grid` lrs done, edge winners included; the
    others are reported on stderr (seeds or checks spent at a half-run grid's winner may be spent at the wrong
    lr). Only runs made with every override in `required` count."""
    index = RecordIndex(load_records(results_dir))
    for m, task, tag in index.keys(model):
        selection = index.select(m, task, tag, select_key(task), "best", "mean")
        if selection.lr is None:
            continue
        winner = selection.runs[0]
        overrides = [o for o in winner.get("overrides") or [] if not o.startswith(NOT_REPEATED)]
        if not all(r in overrides for r in required if not r.startswith(NOT_REPEATED)):
            continue
        tried = len(selection.grid)  # finished or diverged lrs (a failed run, e.g. out of memory, gets rerun)
        if tried < min_grid:
            print(f"{task} {tag}: {tried} lr(s) done, fewer than {min_grid}: finish its grid (phase 1) first",
                  file=sys.stderr)
            continue
        yield Winner(task, tag, selection, winner, overrides)


def command_line(overrides: list[str]) -> str:
    return " ".join(shlex.quote(o) for o in overrides)


def phase2_lines(results_dir: str, model: str, seeds: list[int], required: list[str], min_grid: int = 4) -> list[str]:
    lines = []
    here = f"results_dir={results_dir}"  # where this study's records are, whichever machine wrote them
    for w in study_winners(results_dir, model, required, min_grid):
        if w.selection.edge:
            extended = beyond_the_edge(w.overrides, w.selection.edge)
            print(f"{w.task} {w.tag}: {w.selection.lr_text()}: "
                  + (f"extending the grid ({extended[1]})" if extended else "extend the grid"), file=sys.stderr)
            if extended:
                lines.append(command_line([*extended[0], here, f"seed={w.run['seed']}"]))
            continue
        lines += [command_line([*w.overrides, here, f"seed={seed}"]) for seed in seeds]
    return lines


def next_half_decade(x: float, edge: str) -> float:
    """The grid point beyond `x` on 1-3-10-30 steps: 30 -> 100 ('highest'), 1 -> 0.3 ('lowest')."""
    leading_one = f"{x:e}".startswith("1")
    factor = (3 if leading_one else 10 / 3) if edge == "highest" else (0.3 if leading_one else 1 / 3)
    return float(f"{x * factor:.3g}")


def beyond_the_edge(overrides: list[str], edge: str) -> tuple[list[str], str] | None:
    """The winner's overrides with `lr_x` moved one grid point past the edge, or None without an `lr_x`."""
    for i, o in enumerate(overrides):
        if o.startswith("lr_x="):
            x = next_half_decade(float(o.split("=", 1)[1]), edge)
            new = f"lr_x={x:g}"
            return [*overrides[:i], new, *overrides[i + 1:]], new
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    required = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--model", required=True)
    parser.add_argument("--seeds", default="2,3", help="comma-separated seeds to add")
    parser.add_argument("--min-grid", type=int, default=4,
                        help="seed only a (task, method) with at least this many lrs done: finished or diverged (4)")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    for line in phase2_lines(args.results_dir, args.model, seeds, [r for r in required if "=" in r], args.min_grid):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
