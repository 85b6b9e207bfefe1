"""`render()`: the whole job behind `scripts/tables.py` (`make tables`).

Reads `<results_dir>/runs` (and a study's doubling checks, `<results_dir>/<model>/schedule-check/runs`), writes
under `<out>` (dcft.paths): `tables/table{1..6}.{md,tex,csv}`, `tables/param_matched.{md,tex,csv}`,
`tables/summary_<model>.md` (+ `.csv`, `_paired.csv`) per model with records, the index `tables/README.md`, and
`figures/`. Output is a pure function of the records and, for the majority-class floors, of the GLUE files under
`data_dir` (sorted inputs, fixed number formats, no timestamps) and every file is written atomically; a full
render also removes the per-model summaries and figures of models that no longer have records.
"""

from __future__ import annotations

from pathlib import Path

from dcft.io_utils import atomic_write_text
from dcft.paths import SHIPPED_GLUE, figures_dir, schedule_checks_dir, tables_dir
from dcft.results import formats
from dcft.results import summary as study
from dcft.results.build import CountParams, build_param_matched, build_tables
from dcft.results.chance import majority_class_scores
from dcft.results.index import to_index
from dcft.results.selection import RecordIndex
from dcft.results.store import Warn, load_records


def command_line(rule: str, agg: str, model: str | None, hparams_set: str | None,
                 data_dir: str | Path | None = None) -> str:
    """The CLI call that writes these outputs (defaults left out: a plain `make tables` reads plainly). A
    `data_dir` of None (an API render without floors) is written as the CLI's default, the shipped data/glue."""
    shipped = data_dir is None or Path(data_dir).resolve() == SHIPPED_GLUE.resolve()
    options = [("--rule", rule, "best"), ("--agg", agg, "mean"), ("--model", model, None),
               ("--hparams-set", hparams_set, None), ("--data-dir", None if shipped else data_dir, None)]
    return " ".join(["python scripts/tables.py", *(f"{flag} {value}" for flag, value, default in options
                                                    if value != default)])


def render(
    results_dir: str | Path,
    out_dir: str | Path,
    rule: str = "best",
    agg: str = "mean",
    model: str | None = None,
    count_params: CountParams | None = None,
    warn: Warn | None = None,
    figures: bool = True,
    hparams_set: str | None = None,
    data_dir: str | Path | None = None,
) -> list[Path]:
    """Read `<results_dir>/runs`, write `<out_dir>/tables/*` and `<out_dir>/figures/*`; return the paths.
    `data_dir`: a classic glue_data root whose train/dev labels give each task's majority-class floor (None: no
    floors)."""
    records = load_records(results_dir, warn)
    sets = sorted({r["hparams_set"] for r in records if isinstance(r.get("hparams_set"), str)})
    if hparams_set is not None and records and hparams_set not in sets:
        raise ValueError(f"--hparams-set {hparams_set!r}: no record was made with it; the records hold "
                         f"{', '.join(sets) or 'no named set (schema-1 records)'}")
    index = RecordIndex(records, hparams_set)
    models = [model] if model else index.models()  # floors first: a damaged data file stops before any write
    floors = majority_class_scores(sorted({task for m in models for _, task, _ in index.keys(m)}), data_dir)
    tables = build_tables(index, rule, agg, model, count_params, warn=warn)
    matched = build_param_matched(index, rule, agg, model)
    out_tables, written = tables_dir(out_dir), []
    for t in [*tables, matched]:
        for ext, text in (("md", formats.to_markdown(t)), ("tex", formats.to_latex(t)), ("csv", formats.to_csv(t))):
            written.append(atomic_write_text(out_tables / f"{t.layout.stem}.{ext}", text))
    summaries = [study.build_summary(index, m, load_records(schedule_checks_dir(results_dir, m), warn), floors)
                 for m in models]
    for s in summaries:
        stem = study.file_stem(s.model)
        for name, text in ((f"{stem}.md", study.to_markdown(s)), (f"{stem}.csv", study.to_csv(s)),
                           (f"{stem}_paired.csv", study.paired_csv(s))):
            written.append(atomic_write_text(out_tables / name, text))
    shown = {(b.runs_model, s.task, s.method_tag) for t in tables for b in t.blocks for r in b.rows
             for s in r.selections.values()}
    outside = sorted({"/".join(k) for k in index.keys() if k not in shown and (model is None or k[0] == model)})
    fig_notes = []
    if figures:  # matplotlib is imported only when drawing
        from dcft.results.figures import FIGURE_NOTES, PARAMS_NOTE, params_figure_name, write_figures

        written += write_figures(index, figures_dir(out_dir), rule, agg, model, summaries)
        fig_notes = [f"`../figures/{name}.{{png,pdf}}`: {note}" for name, note in FIGURE_NOTES.items()]
        fig_notes += [f"`../figures/{params_figure_name(s.model)}.{{png,pdf}}`: {PARAMS_NOTE} ({s.model}, rule "
                      f"{rule})" for s in summaries]
    command = command_line(rule, agg, model, hparams_set, data_dir)
    index_text = to_index(tables, matched, summaries, command, outside, fig_notes)
    written.append(atomic_write_text(out_tables / "README.md", index_text))
    if model is None:  # a full render: a model whose records are gone loses its summary and figure too
        remove_stale_per_model_outputs(out_tables, figures_dir(out_dir), written)
    return written


PER_MODEL_OUTPUTS = ("summary_*.md", "summary_*.csv", "params_vs_metric_*.png", "params_vs_metric_*.pdf")


def remove_stale_per_model_outputs(out_tables: Path, out_figures: Path, written: list[Path]) -> list[Path]:
    """Delete per-model files this render did not write (only names it owns): left in place, a summary of
    records since removed would still read as a result. Returns what was deleted."""
    kept = {p.resolve() for p in written}
    stale = sorted(p for folder in (out_tables, out_figures) if folder.is_dir() for pattern in PER_MODEL_OUTPUTS
                   for p in folder.glob(pattern) if p.resolve() not in kept)
    for path in stale:
        path.unlink()
    return stale
