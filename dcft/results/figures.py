"""The paper's Figures 2 and 3 from our records: training time DCFT vs LoRA, SST-2 curves DCFT vs LoRA.

matplotlib is imported here only (and `render` imports this module only when drawing). Figures are
drawn on a bare `Figure` (no pyplot state), with fixed rcParams and no timestamps in the files, so
drawing twice from the same records gives the same bytes. With no runs the figure still gets written,
with a "no runs" note in it.
"""

from __future__ import annotations

import io
from pathlib import Path

from dcft.results.layouts import FIG2_TASKS, FIG_MODEL, FIGURE_METHODS, TASK_LABEL, select_key
from dcft.results.records import RecordIndex, atomic_write

FIGURE_NOTES = {
    "fig2_training_time": "total training time (hours, from train_time_s) of DCFT (d=8) vs LoRA (r=1) on "
    "CoLA, RTE, MRPC, QNLI (paper Figure 2); bars = mean over seeds at the best lr, whiskers = std.",
    "fig3_sst2_curves": "SST-2 dev accuracy and training loss vs step, DCFT (d=8) vs LoRA (r=1), every seed "
    "of the best lr (paper Figure 3).",
}
COLORS = ("#1f77b4", "#ff7f0e")
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
        written.append(atomic_write(out_dir / f"{name}.{ext}", buffer.getvalue()))
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


def write_figures(
    index: RecordIndex, out_dir: str | Path, rule: str = "best", agg: str = "mean", model: str | None = None
) -> list[Path]:
    """Write fig2_training_time.{png,pdf} and fig3_sst2_curves.{png,pdf}; return the paths."""
    import matplotlib

    model = model or FIG_MODEL
    out_dir = Path(out_dir)
    written = []
    with matplotlib.rc_context(RC):
        for name, draw in (("fig2_training_time", _training_time), ("fig3_sst2_curves", _sst2_curves)):
            written += _save(draw(index, model, rule, agg), out_dir, name)
    return written
