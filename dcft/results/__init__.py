"""Run records in, the paper's tables and figures out. Never imports torch (fast, works without it).

records = load_records("results")                  # runs/**/*.json, bad files skipped with a warning
tables = build_tables(records, rule="best", agg="mean", model=None, count_params=None)
render("results", "results")                       # tables/*.{md,tex,csv}, tables/README.md, figures/*
"""

from dcft.results.layouts import LAYOUTS, Layout, Method, Table, build_tables, format_params
from dcft.results.paper import PaperValues, load_paper
from dcft.results.records import RecordIndex, Selection, Stat, aggregate, load_records
from dcft.results.render import render, to_csv, to_latex, to_markdown

__all__ = [
    "LAYOUTS",
    "Layout",
    "Method",
    "PaperValues",
    "RecordIndex",
    "Selection",
    "Stat",
    "Table",
    "aggregate",
    "build_tables",
    "format_params",
    "load_paper",
    "load_records",
    "render",
    "to_csv",
    "to_latex",
    "to_markdown",
]
