"""A built table as text: markdown (with its notes and fill commands), LaTeX (booktabs) and long-format csv.

Output is a pure function of the table: fixed number formats, no timestamps, so re-rendering changes no byte.
"""

from __future__ import annotations

import csv
import io

from dcft.results.grid import Cell, Row, Table
from dcft.results.units import DASH, fmt, fmt_diff, fmt_lr

STATUS_TEXT = {"running": "running", "no metric": "no metric", "hidden": ""}


def _ours_parts(cell: Cell) -> tuple[str, str, str]:
    """(value, std, "n=.." note) of a finished cell, else ("failed (2)" | "running" | "—" | "", "", "")."""
    sel = cell.selection
    if cell.status == "ok":
        std = "" if cell.ours.std is None else fmt(cell.ours.std)
        if cell.column.task == "avg":
            return fmt(cell.ours.value), std, ""
        extra = "".join(f"; {len(rs)} {what}" for rs, what in ((sel.failed, "failed"), (sel.running, "running")) if rs)
        return fmt(cell.ours.value), std, f"n={cell.ours.n}{extra}"
    if cell.status == "failed":
        return f"failed ({len(sel.failed)})", "", ""
    return STATUS_TEXT.get(cell.status, DASH), "", ""


def ours_text(cell: Cell) -> str:
    """`88.40 ± 0.57 (n=2)`, `88.40 (n=1; 1 failed)`, `failed (2)`, `running`, `—`, or '' (not printed)."""
    value, std, note = _ours_parts(cell)
    return value + (f" ± {std}" if std else "") + (f" ({note})" if note else "")


def cell_text(cell: Cell, paper: bool = True) -> str:
    if cell.status == "hidden" or not paper:
        return ours_text(cell)
    reference = DASH if cell.paper is None else fmt(cell.paper)
    diff = "" if cell.diff is None else f" ({fmt_diff(cell.diff)})"
    return f"{ours_text(cell)} / {reference}{diff}"


def params_text(row: Row, paper: bool) -> str:
    if paper:
        return f"{row.params} / {row.params_paper}"
    return row.params + (f" ({row.params_count:,})" if row.params_count is not None else "")


def _header(table: Table) -> list[str]:
    return ["Method", "#Params"] + [c.label for c in table.layout.columns()]


def _section(title: str, items: list[str]) -> list[str]:
    return [f"## {title}", ""] + [f"- {item}" for item in items] + [""] if items else []


def to_markdown(table: Table) -> str:
    paper = table.layout.paper
    heading = f"Table {table.layout.number}: " if table.layout.number else ""
    lines = [f"# {heading}{table.layout.title}", "", table.caption, ""]
    header = _header(table)
    for block in table.blocks:
        lines += [f"## {block.label}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in block.rows:
            cells = [row.label, params_text(row, paper)] + [cell_text(c, paper) for c in row.cells]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if not table.blocks:
        lines += ["No runs yet.", ""]
    cells = "ours (mean or median ± sample std, n = seeds)" + (" / paper (ours − paper)" if paper else "")
    params = "ours / paper; ours" if paper else "ours (exact count in brackets),"
    lines += [
        f"Cells: {cells}. #Params: {params} in binary units (K = 1024, M = 2^20) as the paper prints DCFT "
        "(docs/method.md, Counting parameters; its Full FT and LoRA counts are decimal); trainable parameters "
        "without the task head, or the nonzero count where a method reports one (SoRA). — = no run yet; an empty "
        "cell: the paper printed none.",
        "",
    ]
    lines += _section("Notes", table.notes)
    lines += _section("Learning rate picked per cell", table.lr_notes)
    lines += _section("Runs with other settings (not shown)", table.settings_notes)
    lines += _section("Failed runs and problems", table.problems)
    if table.commands:
        lines += ["## Missing cells: commands that would fill them", "", "```"] + table.commands + ["```", ""]
    return "\n".join(lines)


# fmt: off
CSV_FIELDS = ["table", "runs_model", "paper_model", "method", "method_tag", "settings_id", "hparams_set", "task",
              "column", "metric", "rule", "agg", "status", "value", "std", "n", "lr", "lr_edge", "lrs", "n_failed",
              "n_running", "n_other_settings", "paper", "diff", "params", "params_count", "params_paper", "text"]
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
                group = sel.group if sel else None
                # fmt: off
                writer.writerow({
                    "table": table.layout.stem, "runs_model": block.runs_model,
                    "paper_model": block.paper_model or "", "method": row.label,
                    "method_tag": row.method.tag or "", "settings_id": (group.settings_id or "") if group else "",
                    "hparams_set": (group.hparams_set or "") if group else "", "task": cell.column.task,
                    "column": cell.column.label, "metric": cell.column.key, "rule": table.rule, "agg": table.agg,
                    "status": cell.status, "value": num(ours and ours.value), "std": num(ours and ours.std),
                    "n": ours.n if ours else "", "lr": "" if not sel or sel.lr is None else fmt_lr(sel.lr),
                    "lr_edge": (sel.edge or "") if sel else "",
                    "lrs": ";".join(fmt_lr(x) for x in sel.lrs) if sel else "",
                    "n_failed": len(sel.failed) if sel else "", "n_running": len(sel.running) if sel else "",
                    "n_other_settings": len(sel.others) if sel else "", "paper": num(cell.paper),
                    "diff": num(cell.diff), "params": row.params,
                    "params_count": "" if row.params_count is None else row.params_count,
                    "params_paper": row.params_paper if table.layout.paper else "",
                    "text": cell_text(cell, table.layout.paper),
                })
                # fmt: on
    return out.getvalue()


# fmt: off
TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "—": "---", "−": "$-$", "±": r"$\pm$",
       "∆": r"$\Delta$", "†": r"$\dagger$", "`": "", "→": r"$\to$"}
# fmt: on


def tex_escape(text: str) -> str:
    return "".join(TEX.get(ch, ch) for ch in text)


def _best(cells: list[Cell]) -> str | None:
    """The best value of a column as printed (max; min for hours), or None when nothing finished."""
    values = [c.ours.value for c in cells if c.status == "ok"]
    if not values:
        return None
    return fmt(min(values) if cells[0].column.lower_is_better else max(values))


def _tex_cell(cell: Cell, best: str | None, paper: bool) -> str:
    value, std, note = _ours_parts(cell)
    if cell.status == "ok":
        ours = (rf"\textbf{{{value}}}" if value == best else value) + (rf"$\pm${std}" if std else "")
        ours += rf"\,{{\scriptsize({tex_escape(note)})}}" if note else ""
    else:
        ours = tex_escape(value)
    if not paper or cell.status == "hidden":
        return ours
    reference = "---" if cell.paper is None else fmt(cell.paper)
    return f"{ours} / {reference}" + ("" if cell.diff is None else f" (${fmt_diff(cell.diff)}$)")


def to_latex(table: Table) -> str:
    """A booktabs table; the best value of each column (per model block) in bold; the notes below it."""
    header, paper = _header(table), table.layout.paper
    lines = [
        "% Generated by scripts/tables.py from the run records; do not edit. Needs booktabs, graphicx.",
        r"\begin{table*}[t]",
        r"\centering",
        rf"\caption{{{tex_escape(table.caption)}}}",
        rf"\label{{tab:dcft-{table.layout.stem.replace('_', '-')}}}",
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
            cells = [tex_escape(row.label), tex_escape(params_text(row, paper))]
            cells += [_tex_cell(c, b, paper) for c, b in zip(row.cells, bests, strict=True)]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    lines += [rf"\par{{\footnotesize {tex_escape(note)}}}" for note in table.notes]
    lines += [r"\end{table*}", ""]
    return "\n".join(lines)
