"""Figures from our records: the paper's Figures 2 and 3 (training time and SST-2 curves, DCFT vs LoRA) and,
per model, the dev metric against trainable parameters (every method a point with its seed spread).

matplotlib is imported here only (and `render` imports this module only when drawing). Figures are
drawn on a bare `Figure` (no pyplot state), with fixed rcParams and no timestamps in the files, so
drawing twice from the same records gives the same bytes. With no runs the figure still gets written,
with a "no runs" note in it.
"""

from __future__ import annotations

import io
from pathlib import Path

from dcft.io_utils import atomic_write_bytes
from dcft.results.columns import TASK_LABEL, select_key, task_label
from dcft.results.layouts import FIG2_TASKS, FIG_MODEL, FIGURE_METHODS
from dcft.results.selection import RecordIndex
from dcft.results.summary import Summary, file_stem

FIGURE_NOTES = {
    "fig2_training_time": "total training time (hours, from train_time_s) of DCFT (d=8) vs LoRA (r=1) on "
    "CoLA, RTE, MRPC, QNLI (paper Figure 2); bars = mean over seeds at the best lr, whiskers = std.",
    "fig3_sst2_curves": "SST-2 dev accuracy and training loss vs step, DCFT (d=8) vs LoRA (r=1), every seed "
    "of the best lr (paper Figure 3).",
}
LEGEND_W = 1.6  # inches right of the panels for the method legend
PARAMS_NOTE = ("dev metric (the task's main one) against trainable parameters (log x), one panel per task; every "
               "method a point (mean at its chosen lr, ± sample std), each seed a faint dot; dashed: the majority "
               "class, where the task has one")
MAJORITY_LABEL = "majority class"
COLORS = ("#1f77b4", "#ff7f0e")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "legend.fontsize": 8.0,
    "figure.dpi": 100.0,
    "savefig.dpi": 150.0,
    "svg.hashsalt": "dcft",
    "pdf.fonttype": 42,
    "path.simplify": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    """PNG and PDF with no creation date or software stamp, written atomically."""
    written = []
    for ext, metadata in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, metadata=metadata)
        written.append(atomic_write_bytes(out_dir / f"{name}.{ext}", buffer.getvalue()))
    return written


def _no_runs(ax, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"no runs\n{what}",
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="0.4",
        fontsize=8,
        wrap=True,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _training_time(index: RecordIndex, model: str, rule: str, agg: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.add_subplot()
    width = 0.8 / len(FIGURE_METHODS)
    drawn = False
    for i, method in enumerate(FIGURE_METHODS):
        xs, heights, errors = [], [], []
        for x, task in enumerate(FIG2_TASKS):
            stat = index.select(model, task, method.tag, select_key(task), rule, agg).hours(agg)
            if stat is not None:
                xs.append(x + (i - (len(FIGURE_METHODS) - 1) / 2) * width)
                heights.append(stat.value)
                errors.append(stat.std or 0.0)
        if xs:
            drawn = True
            ax.bar(xs, heights, width, yerr=errors, capsize=2, color=COLORS[i], label=method.label)
    ax.set_title(f"Total training time, DCFT vs LoRA (runs: {model})")
    if not drawn:
        _no_runs(ax, f"{model}: {' / '.join(m.tag for m in FIGURE_METHODS)}")
        fig.tight_layout()
        return fig
    ax.set_xticks(range(len(FIG2_TASKS)), [TASK_LABEL[t] for t in FIG2_TASKS])
    ax.set_ylabel(f"training time (h, {agg} over seeds)")
    ax.legend()
    fig.tight_layout()
    return fig


def _sst2_curves(index: RecordIndex, model: str, rule: str, agg: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.2))
    acc_ax, loss_ax = fig.subplots(1, 2)
    drawn = False
    for i, method in enumerate(FIGURE_METHODS):
        sel = index.select(model, "sst2", method.tag, select_key("sst2"), rule, agg)
        for j, run in enumerate(sel.runs):
            curves = run.get("curves") or {}
            evals = [(s, m["accuracy"]) for s, m in curves.get("eval") or [] if "accuracy" in (m or {})]
            losses = [(s, v) for s, v in curves.get("train_loss") or []]
            label = f"{method.label} (lr {sel.lr:g})" if j == 0 else None
            for ax, points in ((acc_ax, evals), (loss_ax, losses)):
                if points:
                    drawn = True
                    ax.plot(
                        *zip(*sorted(points), strict=True), color=COLORS[i], lw=1.0, alpha=0.85, label=label
                    )
    acc_ax.set_title(f"SST-2 dev accuracy (runs: {model})")
    loss_ax.set_title(f"SST-2 training loss (runs: {model})")
    if not drawn:
        for ax in (acc_ax, loss_ax):
            _no_runs(ax, f"{model} / sst2: {' / '.join(m.tag for m in FIGURE_METHODS)}")
        fig.tight_layout()
        return fig
    acc_ax.set_xlabel("step")
    acc_ax.set_ylabel("accuracy (%)")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss")
    for ax in (acc_ax, loss_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    return fig


def _count_label(value: float, _pos: int) -> str:
    """Tick label of a parameter count, decimal: 5000 -> '5K', 2e6 -> '2M'."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"


def _count_ticks(xlim: tuple[float, float]) -> tuple[float, ...]:
    """Labelled ticks per decade: 1, 2, 5 while the axis spans at most about two decades (else the labels of
    7K .. 22M run into each other), only the decades beyond that."""
    low, high = xlim
    return (1.0, 2.0, 5.0) if high / low <= 150 else (1.0,)


def _params_vs_metric(summary: Summary, rule: str):
    """One panel per task: x = trainable parameters (log), y = the main dev metric; a method is its mean over
    seeds at its chosen lr with a ± std bar, each seed a faint dot; a dashed line is the task's majority-class
    floor where the summary has one."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    tasks = list(dict.fromkeys(line.task for line in summary.lines)) or [None]
    tags = sorted({line.tag for line in summary.lines})
    colors = {tag: PALETTE[i % len(PALETTE)] for i, tag in enumerate(tags)}
    ncols = min(4, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig = Figure(figsize=(3.2 * ncols + LEGEND_W, 2.8 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    labelled = set()
    for ax, task in zip(axes, tasks, strict=False):
        drawn = False
        for line in (line for line in summary.lines if line.task == task):
            sel = line.by_rule[rule]
            seeds = list(sel.values(select_key(task), rule).values()) if sel.status == "finished" else []
            if not seeds or not sel.params:
                continue
            drawn = True
            stat = sel.stat(select_key(task), rule, "mean")
            label = None if line.tag in labelled else line.tag
            labelled.add(line.tag)
            ax.scatter([sel.params] * len(seeds), seeds, s=9, color=colors[line.tag], alpha=0.35, linewidths=0)
            ax.errorbar([sel.params], [stat.value], yerr=[stat.std or 0.0], fmt="o", ms=5, capsize=3,
                        color=colors[line.tag], label=label)
        if drawn and task in summary.majority:
            label = None if MAJORITY_LABEL in labelled else MAJORITY_LABEL
            labelled.add(MAJORITY_LABEL)
            ax.axhline(summary.majority[task], color="0.45", ls="--", lw=0.9, label=label, zorder=0)
        title = f"{task_label(task)} ({select_key(task)})" if task else "no runs"
        ax.set_title(f"{title}, {summary.model}")
        if drawn:
            ax.set_xscale("log")
            ax.margins(x=0.12, y=0.12)
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=_count_ticks(ax.get_xlim())))
            ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("trainable parameters (log)")
        else:
            _no_runs(ax, f"{summary.model}: no finished run with a parameter count")
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        fig.tight_layout(rect=(0, 0, (3.2 * ncols) / (3.2 * ncols + LEGEND_W), 1))
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=((3.2 * ncols) / (3.2 * ncols + LEGEND_W), 0.5),
                   fontsize=7, frameon=False)
    else:
        fig.tight_layout()
    return fig


def figure_model(index: RecordIndex, model: str | None = None) -> str:
    """The model Figures 2 and 3 show: `model`; else the paper's when it has DCFT/LoRA runs, else the first
    model (by name) that has some."""
    if model:
        return model
    tags = {m.tag for m in FIGURE_METHODS}
    having = sorted({m for m, _, tag in index.keys() if tag in tags})
    return FIG_MODEL if FIG_MODEL in having or not having else having[0]


def params_figure_name(model: str) -> str:
    return "params_vs_metric_" + file_stem(model).removeprefix("summary_")


def write_figures(
    index: RecordIndex,
    out_dir: str | Path,
    rule: str = "best",
    agg: str = "mean",
    model: str | None = None,
    summaries: list[Summary] = (),
) -> list[Path]:
    """Write fig2_training_time, fig3_sst2_curves and params_vs_metric_<model> per summary (png + pdf)."""
    import matplotlib

    model = figure_model(index, model)
    out_dir = Path(out_dir)
    written = []
    with matplotlib.rc_context(RC):
        for name, draw in (("fig2_training_time", _training_time), ("fig3_sst2_curves", _sst2_curves)):
            written += _save(draw(index, model, rule, agg), out_dir, name)
        for summary in summaries:
            written += _save(_params_vs_metric(summary, rule), out_dir, params_figure_name(summary.model))
    return written
