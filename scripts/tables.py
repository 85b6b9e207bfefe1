"""Regenerate the paper's tables and figures from run records.

    python scripts/tables.py --results-dir results --out results [--rule best|final] [--agg mean|median]
                             [--model MODEL]

Writes <out>/tables/table{1..6}.{md,tex,csv}, <out>/tables/README.md and <out>/figures/fig{2,3}_*.{png,pdf}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dcft.results import render  # noqa: E402
from dcft.results.records import AGGREGATIONS, RULES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results-dir", default="results", help="folder holding runs/<model>/<task>/... records"
    )
    parser.add_argument("--out", default="results", help="folder to write tables/ and figures/ into")
    parser.add_argument(
        "--rule",
        choices=RULES,
        default="best",
        help="best: best dev step of each run (the paper's rule); final: last evaluation",
    )
    parser.add_argument("--agg", choices=AGGREGATIONS, default="mean", help="how seeds are combined")
    parser.add_argument(
        "--model",
        default=None,
        help="lay this model's runs out in every table (against the paper's model); "
        "default: each table's own paper model(s)",
    )
    parser.add_argument("--no-figures", action="store_true", help="tables only (skips matplotlib)")
    args = parser.parse_args(argv)
    written = render(
        args.results_dir,
        args.out,
        rule=args.rule,
        agg=args.agg,
        model=args.model,
        figures=not args.no_figures,
    )
    print(f"wrote {len(written)} files under {args.out}; index: {Path(args.out) / 'tables' / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
