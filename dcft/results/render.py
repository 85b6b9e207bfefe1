"""Tables -> md / tex / csv text, and `render()`: the whole job behind `scripts/tables.py`.

`render(results_dir, out_dir, ...)` writes `<out>/tables/table{1..6}.{md,tex,csv}`, the index
`<out>/tables/README.md` and the figures. Output is a pure function of the records (sorted inputs,
fixed number formats, no timestamps) and every file is written atomically.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dcft.results.layouts import DASH, RULE_TEXT, Cell, CountParams, Table, build_tables
from dcft.results.records import RecordIndex, Warn, atomic_write, load_records


def fmt(x: float) -> str:
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def fmt_diff(x: float) -> str:
    text = f"{x:+.2f}"
    return "+0.00" if text == "-0.00" else text


def _ours_parts(cell: Cell) -> tuple[str, str, str]:
    """(value, std, "n=.." note) of a finished cell, else ("failed (2)" | "running" | "—", "", "")."""
    sel = cell.selection
    if cell.status == "ok":
        std = "" if cell.ours.std is None else fmt(cell.ours.std)
        if cell.column.task == "avg":
            return fmt(cell.ours.value), std, ""
        extra = "".join(
            f"; {len(rs)} {what}" for rs, what in ((sel.failed, "failed"), (sel.running, "running")) if rs
        )
        return fmt(cell.ours.value), std, f"n={cell.ours.n}{extra}"
    if cell.status == "failed":
        return f"failed ({len(sel.failed)})", "", ""
    return {"running": "running", "no metric": "no metric"}.get(cell.status, DASH), "", ""


def ours_text(cell: Cell) -> str:
    """`88.40 ± 0.57 (n=2)`, `88.40 (n=1; 1 failed)`, `failed (2)`, `running`, or `—`."""
    value, std, note = _ours_parts(cell)
    return value + (f" ± {std}" if std else "") + (f" ({note})" if note else "")


def cell_text(cell: Cell) -> str:
    paper = DASH if cell.paper is None else fmt(cell.paper)
    diff = "" if cell.diff is None else f" ({fmt_diff(cell.diff)})"
    return f"{ours_text(cell)} / {paper}{diff}"


def _header(table: Table) -> list[str]:
    return ["Method", "#Params"] + [c.label for c in table.layout.columns()]


def to_markdown(table: Table) -> str:
    lines = [f"# Table {table.layout.number}: {table.layout.title}", "", table.caption, ""]
    header = _header(table)
    for block in table.blocks:
        lines += [f"## {block.label}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in block.rows:
            cells = [row.method.label, f"{row.params} / {row.params_paper}"] + [
                cell_text(c) for c in row.cells
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "Cells: ours (mean or median ± sample std, n = seeds) / paper (ours − paper). "
        "#Params: ours / paper; ours in binary units (K = 1024, M = 2^20) as the paper prints DCFT "
        "(SPEC §3; its Full FT and LoRA counts are decimal). — = no run yet.",
        "",
    ]
    if table.lr_notes:
        lines += ["## Learning rate picked per cell", ""] + [f"- {n}" for n in table.lr_notes] + [""]
    if table.problems:
        lines += ["## Failed runs and problems", ""] + [f"- {p}" for p in table.problems] + [""]
    if table.commands:
        lines += ["## Missing cells: commands that would fill them", "", "```"] + table.commands + ["```", ""]
    return "\n".join(lines)


# fmt: off
CSV_FIELDS = ["table", "runs_model", "paper_model", "method", "method_tag", "task", "column", "metric",
              "rule", "agg", "status", "value", "std", "n", "lr", "lrs", "n_failed", "n_running", "paper",
              "diff", "params", "params_paper", "text"]
# fmt: on


def to_csv(table: Table) -> str:
    """One line per cell (long format), numbers to 4 decimals."""
    num = lambda x: "" if x is None else f"{x:.4f}"
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for block in table.blocks:
        for row in block.rows:
            for cell in row.cells:
                sel, ours = cell.selection, cell.ours
                # fmt: off
                writer.writerow({
                    "table": table.layout.number, "runs_model": block.runs_model,
                    "paper_model": block.paper_model, "method": row.method.label,
                    "method_tag": row.method.tag or "", "task": cell.column.task, "column": cell.column.label,
                    "metric": cell.column.key, "rule": table.rule, "agg": table.agg,
                    "status": cell.status, "value": num(ours and ours.value), "std": num(ours and ours.std),
                    "n": ours.n if ours else "", "lr": "" if not sel or sel.lr is None else f"{sel.lr:g}",
                    "lrs": ";".join(f"{x:g}" for x in sel.lrs) if sel else "",
                    "n_failed": len(sel.failed) if sel else "", "n_running": len(sel.running) if sel else "",
                    "paper": num(cell.paper), "diff": num(cell.diff), "params": row.params,
                    "params_paper": row.params_paper, "text": cell_text(cell),
                })
                # fmt: on
    return out.getvalue()


# fmt: off
TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "—": "---", "−": "$-$", "±": r"$\pm$",
       "∆": r"$\Delta$", "†": r"$\dagger$"}
# fmt: on


def tex_escape(text: str) -> str:
    return "".join(TEX.get(ch, ch) for ch in text)


def _best(cells: list[Cell]) -> str | None:
    """The best value of a column as printed (max; min for hours), or None when nothing finished."""
    values = [c.ours.value for c in cells if c.status == "ok"]
    if not values:
        return None
    return fmt(min(values) if cells[0].column.lower_is_better else max(values))


def _tex_cell(cell: Cell, best: str | None) -> str:
    value, std, note = _ours_parts(cell)
    if cell.status == "ok":
        ours = (rf"\textbf{{{value}}}" if value == best else value) + (rf"$\pm${std}" if std else "")
        ours += rf"\,{{\scriptsize({tex_escape(note)})}}" if note else ""
    else:
        ours = tex_escape(value)
    paper = "---" if cell.paper is None else fmt(cell.paper)
    return f"{ours} / {paper}" + ("" if cell.diff is None else f" (${fmt_diff(cell.diff)}$)")


def to_latex(table: Table) -> str:
    """A booktabs table; the best value of each column (per model block) in bold."""
    header = _header(table)
    lines = [
        "% Generated by scripts/tables.py from the run records; do not edit. Needs booktabs, graphicx.",
        r"\begin{table*}[t]",
        r"\centering",
        rf"\caption{{{tex_escape(table.caption)}}}",
        rf"\label{{tab:dcft-table{table.layout.number}}}",
        r"\resizebox{\textwidth}{!}{%",
        rf"\begin{{tabular}}{{ll{'c' * (len(header) - 2)}}}",
        r"\toprule",
        " & ".join(tex_escape(h) for h in header) + r" \\",
    ]
    for block in table.blocks:
        lines += [
            r"\midrule",
            rf"\multicolumn{{{len(header)}}}{{l}}{{\textit{{{tex_escape(block.label)}}}}} \\",
            r"\midrule",
        ]
        columns = list(zip(*(row.cells for row in block.rows), strict=True))
        bests = [_best(list(col)) for col in columns]
        for row in block.rows:
            cells = [tex_escape(row.method.label), tex_escape(f"{row.params} / {row.params_paper}")]
            cells += [_tex_cell(c, b) for c, b in zip(row.cells, bests, strict=True)]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table*}", ""]
    return "\n".join(lines)


def to_index(tables: list[Table], options: str, outside: list[str], figures: list[str]) -> str:
    """`tables/README.md`: what each table is, the rule, what is filled and what is missing."""
    rule, agg = tables[0].rule, tables[0].agg
    lines = [
        "# Paper tables regenerated from our run records",
        "",
        f"Generated by `python scripts/tables.py{options}` from `runs/**/*.json`; do not edit by hand.",
        "",
        f"- Reporting rule: **{rule}** ({RULE_TEXT[rule]}).",
        f"- Aggregation: **{agg}** ± sample std over seeds; where several learning rates were run, the lr "
        "with the best aggregated score is reported (named in each table's notes and the csv `lr` column).",
        "- Each cell: ours / paper (ours − paper). `—`: no run yet; `failed (n)`: only failed/diverged/"
        "preempted runs; `running`: only unfinished runs.",
        "",
        "| Table | What | Runs / paper model | Filled | Missing | Failed | Running | Files |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in tables:
        n = t.layout.number
        c = t.counts()
        files = f"[md](table{n}.md) [tex](table{n}.tex) [csv](table{n}.csv)"
        models = "<br>".join(b.label for b in t.blocks)
        lines.append(
            f"| {n} | {t.layout.title} | {models} | {c['finished']}/{sum(c.values())} | "
            f"{c['missing']} | {c['failed']} | {c['running']} | {files} |"
        )
    commands = sum(len(t.commands) for t in tables)
    lines += [
        "",
        "Cells count (model, task, method) combinations the harness can run; methods it cannot run "
        "(HAdapter, PAdapter, SoRA) show the paper's value only.",
        "",
        f"## Missing: {commands} run command(s)",
        "",
        "Each table's `.md` ends with the exact commands that would fill its empty cells.",
        "",
        "## Figures",
        "",
    ] + [f"- {f}" for f in figures]
    if outside:
        lines += ["", f"## Records not in any table ({len(outside)} model/task/method groups)", ""]
        lines += [f"- {o}" for o in outside]
    return "\n".join(lines) + "\n"


def render(
    results_dir: str | Path,
    out_dir: str | Path,
    rule: str = "best",
    agg: str = "mean",
    model: str | None = None,
    count_params: CountParams | None = None,
    warn: Warn | None = None,
    figures: bool = True,
) -> list[Path]:
    """Read `<results_dir>/runs`, write `<out_dir>/tables/*` and `<out_dir>/figures/*`; return the paths."""
    index = RecordIndex(load_records(results_dir, warn))
    tables = build_tables(index, rule, agg, model, count_params, warn=warn)
    tables_dir = Path(out_dir) / "tables"
    written = []
    for t in tables:
        for ext, text in (("md", to_markdown(t)), ("tex", to_latex(t)), ("csv", to_csv(t))):
            written.append(atomic_write(tables_dir / f"table{t.layout.number}.{ext}", text))
    shown = {
        (b.runs_model, s.task, s.method_tag)
        for t in tables
        for b in t.blocks
        for r in b.rows
        for s in r.selections.values()
    }
    outside = sorted(
        {
            f"{r['model']}/{r['task']}/{r['method_tag']}"
            for r in index.records
            if (r["model"], r["task"], r["method_tag"]) not in shown
        }
    )
    fig_notes = []
    if figures:
        from dcft.results.figures import FIGURE_NOTES, write_figures  # matplotlib: imported only when drawing

        figure_paths = write_figures(index, Path(out_dir) / "figures", rule, agg, model)
        written += figure_paths
        fig_notes = [f"`../figures/{name}.{{png,pdf}}`: {note}" for name, note in FIGURE_NOTES.items()]
    options = f" --rule {rule} --agg {agg}" + (f" --model {model}" if model else "")
    written.append(atomic_write(tables_dir / "README.md", to_index(tables, options, outside, fig_notes)))
    return written
