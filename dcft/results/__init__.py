"""Run records in, the paper's tables, our own tables and figures out. Never imports torch (fast, works without it).

records = load_records("results")                  # runs/**/*.json, bad files skipped with a warning
tables = build_tables(records, rule="best", agg="mean", model=None, count_params=None)
render("results", "results")                       # tables/*.{md,tex,csv}, summaries, tables/README.md, figures/*
"""

from dcft.results.build import build_param_matched, build_tables
from dcft.results.formats import to_csv, to_latex, to_markdown
from dcft.results.grid import Table
from dcft.results.layouts import LAYOUTS, Layout, Method
from dcft.results.paper import PaperValues, load_paper
from dcft.results.render import render
from dcft.results.selection import RecordIndex, Selection, SettingsGroup
from dcft.results.stats import Stat, aggregate, paired_difference
from dcft.results.store import STATUSES, load_records
from dcft.results.summary import build_summary
from dcft.results.units import format_params

__all__ = [
    "LAYOUTS",
    "STATUSES",
    "Layout",
    "Method",
    "PaperValues",
    "RecordIndex",
    "Selection",
    "SettingsGroup",
    "Stat",
    "Table",
    "aggregate",
    "build_param_matched",
    "build_summary",
    "build_tables",
    "format_params",
    "load_paper",
    "load_records",
    "paired_difference",
    "render",
    "to_csv",
    "to_latex",
    "to_markdown",
]
