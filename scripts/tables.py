"""Regenerate the paper's tables, our param-matched table, per-model study summaries and figures from run records.

    python scripts/tables.py --results-dir results --out results [--rule best|final] [--agg mean|median]
                             [--model MODEL] [--hparams-set SET] [--data-dir DIR]
                             [--no-figures]

Writes <out>/tables/table{1..6}.{md,tex,csv}, param_matched.{md,tex,csv}, summary_<model>.{md,csv} and
summary_<model>_paired.csv, README.md, and <out>/figures/fig{2,3}_*.{png,pdf}, params_vs_metric_<model>.{png,pdf}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dcft.errors import UserError  # noqa: E402
from dcft.paths import SHIPPED_GLUE  # noqa: E402
from dcft.results import render  # noqa: E402
from dcft.results.stats import AGGREGATIONS  # noqa: E402
from dcft.results.store import RULES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results", help="folder holding runs/<model>/<task>/... records")
    parser.add_argument("--out", default="results", help="folder to write tables/ and figures/ into")
    parser.add_argument("--rule", choices=RULES, default="best",
                        help="best: best dev step of each run (the paper's rule); final: last evaluation "
                        "(the study summaries always show both)")
    parser.add_argument("--agg", choices=AGGREGATIONS, default="mean", help="how seeds are combined in the tables")
    parser.add_argument("--model", default=None,
                        help="only this model's runs, in every table (against the table's paper model when it is "
                        "not one of its own); default: every model with records, the paper's first")
    parser.add_argument("--hparams-set", default=None, metavar="SET",
                        help="only runs made with this hyper-parameter set (released, paper, ...); default: per "
                        "cell, the settings group with the most finished runs")
    parser.add_argument("--data-dir", default=str(SHIPPED_GLUE), metavar="DIR",
                        help="classic glue_data root whose labels give each task's majority-class floor (summary and "
                        "params figure; tasks without files there get none); default: the repository's data/glue")
    parser.add_argument("--no-figures", action="store_true", help="tables only (skips matplotlib)")
    args = parser.parse_args(argv)
    try:
        written = render(args.results_dir, args.out, rule=args.rule, agg=args.agg, model=args.model,
                         figures=not args.no_figures, hparams_set=args.hparams_set, data_dir=args.data_dir)
    except (ValueError, UserError) as err:  # a user mistake (bad option, damaged GLUE file): one line with the fix
        parser.error(str(err))
    print(f"wrote {len(written)} files under {args.out}; index: {Path(args.out) / 'tables' / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
