"""Benchmark results: ratios to LoRA r=1, the issue's targets, JSON and a markdown summary (no torch).

Every figure of a case is also given as a ratio to the LoRA r=1 case of the same run, so numbers
from different machines compare through their ratios.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dcft.io_utils import atomic_write_json, atomic_write_text

LORA = "lora-r1"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
RATIO_FIELDS = {  # figure -> its ratio field
    "step_time_median_s": "ratio_to_lora", "cpu_time_median_s": "cpu_ratio_to_lora",
    "peak_memory_mb": "peak_memory_ratio_to_lora", "peak_rss_mb": "peak_rss_ratio_to_lora",
    "optimizer_state_bytes": "optimizer_state_ratio_to_lora", "adapter_bytes": "adapter_ratio_to_lora",
    "trainable_params": "trainable_params_ratio_to_lora",
}
# id, description, case, reference case, figure, comparison, threshold, stretch
TARGETS = [
    ("fast_d8_s8_step_vs_lora", "DCFT fast d=8 s=8 training step / LoRA r=1", "dcft-fast-d8-s8", LORA,
     "step_time_median_s", "<=", 1.00, 0.95),
    ("fast_d2_step_vs_lora", "DCFT fast d=2 training step / LoRA r=1", "dcft-fast-d2-s2", LORA,
     "step_time_median_s", "<=", 1.15, None),
    ("fast_s1_step_vs_lora", "DCFT fast d=8 s=1 training step / LoRA r=1", "dcft-fast-d8-s1", LORA,
     "step_time_median_s", "<=", 1.15, None),
    ("fast_vs_reference_d8", "DCFT reference / fast training step at d=8 (speed-up)", "dcft-reference-d8-s8",
     "dcft-fast-d8-s8", "step_time_median_s", ">=", 1.5, None),
    ("fast_d8_peak_memory_vs_lora", "DCFT fast d=8 peak training memory / LoRA r=1", "dcft-fast-d8-s8", LORA,
     "peak_memory_mb", "<=", 1.00, None),
    ("merged_eval_vs_plain", "DCFT merged evaluation step / plain model", "dcft-fast-d8-merged", "plain",
     "step_time_median_s", "within", 0.03, None),
]


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def assemble(run_info: dict[str, Any], cases: list[dict], layers: list[dict], evals: list[dict]) -> dict[str, Any]:
    """Attach ratios to LoRA r=1 (training, per layer shape, evaluation) and evaluate the targets."""
    lora = next((c for c in cases if c["name"] == LORA and "error" not in c), {})
    for case in cases:
        for figure, field in RATIO_FIELDS.items():
            case[field] = ratio(case.get(figure), lora.get(figure))
    for layer in layers:
        ref = next((r for r in layers if r["name"] == LORA and r["in_features"] == layer["in_features"]
                    and r["out_features"] == layer["out_features"]), {})
        layer["ratio_to_lora"] = ratio(layer.get("step_time_median_s"), ref.get("step_time_median_s"))
    plain = next((e for e in evals if e["name"] == "plain"), {})
    lora_eval = next((e for e in evals if e["name"].startswith(LORA)), {})
    for ev in evals:
        ev["ratio_to_plain"] = ratio(ev.get("step_time_median_s"), plain.get("step_time_median_s"))
        ev["ratio_to_lora"] = ratio(ev.get("step_time_median_s"), lora_eval.get("step_time_median_s"))
    results = {"run_info": run_info, "cases": cases, "layer_cases": layers, "eval_cases": evals}
    results["targets"] = evaluate_targets(results)
    return results


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {r["name"]: r for r in [*results["cases"], *results["eval_cases"]] if "error" not in r}
    out = []
    for tid, text, case, ref, figure, cmp, threshold, stretch in TARGETS:
        a, b = rows.get(case, {}).get(figure), rows.get(ref, {}).get(figure)
        value = ratio(a, b)  # case / reference; the speed-up target puts the slower (reference) case first
        row = {"id": tid, "description": text, "case": case, "reference": ref, "figure": figure,
               "comparison": cmp, "threshold": threshold, "measured": value, "passed": None}
        if value is not None:
            row["passed"] = _meets(value, cmp, threshold)
            if stretch is not None:
                row["stretch"], row["stretch_passed"] = stretch, _meets(value, cmp, stretch)
        else:
            row["note"] = "not measured in this run"
        out.append(row)
    return out


def _meets(value: float, cmp: str, threshold: float) -> bool:
    if cmp == "<=":
        return value <= threshold
    if cmp == ">=":
        return value >= threshold
    return abs(value - 1.0) <= threshold  # "within"


# -- files ----------------------------------------------------------------------------------------------
def write(results: dict[str, Any], out_dir: str | Path, readme: str | None = None) -> tuple[Path, Path]:
    """<out>/<machine>-<date>.json and .md, plus <out>/latest.md; refresh the README section if asked."""
    out = Path(out_dir)
    stamp = results["run_info"]["date"][:16].replace(":", "").replace("-", "")  # YYYYMMDDTHHMM
    stem = f"{results['run_info']['machine']['slug']}-{stamp}"
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    markdown = to_markdown(results, source=json_path.name)
    atomic_write_json(json_path, results)
    atomic_write_text(md_path, markdown)
    atomic_write_text(out / "latest.md", markdown)
    if readme:
        update_readme(readme, markdown)
    return json_path, md_path


def update_readme(path: str | Path, markdown: str) -> bool:
    """Replace the text between the bench markers of a README; False (untouched) without markers."""
    path = Path(path)
    if not path.exists():
        return False
    text = path.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        return False
    body = markdown.replace("# Benchmark", "### Benchmark", 1)
    atomic_write_text(path, pattern.sub(lambda _: f"{README_START}\n{body}\n{README_END}", text))
    return True


# -- markdown -------------------------------------------------------------------------------------------
def _num(x: Any, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _bytes(n: int | None) -> str:
    if n is None:
        return "–"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def to_markdown(results: dict[str, Any], source: str = "") -> str:
    info, machine = results["run_info"], results["run_info"]["machine"]
    cfg = info["config"]
    lines = [
        "# Benchmark: DCFT vs LoRA r=1 and the other baselines",
        "",
        f"`{info['command']}` — {info['date']} — {machine.get('gpu') or machine['cpu']}, {info['threads']} "
        f"thread(s) ({info.get('threads_reason', 'set')}), torch {info['versions']['torch']}; {cfg['model']} "
        f"(random weights), batch {cfg['batch']} × "
        f"{cfg['seq']} tokens; median of {cfg['steps']} interleaved rounds"
        + (f" (+{cfg['focus_steps']} for LoRA r=1 and the DCFT fast target cases)" if cfg.get("focus_steps") else "")
        + f" after {cfg['warmup']} warm-up round(s), the first memory-tracked; "
        f"load average {info.get('load_average_start')} → {info.get('load_average_end')}."
        + (f" Data: `{source}`." if source else ""),
        "",
        "Every ×-column is the figure divided by LoRA r=1's in the same run (lower is better).",
        "",
        "## Targets",
        "",
        "| target | measured | needs | result |",
        "|---|---|---|---|",
    ]
    for t in results["targets"]:
        needs = f"{t['comparison']} {t['threshold']:g}" + ("" if t["comparison"] != "within" else " of 1")
        verdict = "not measured" if t["passed"] is None else ("pass" if t["passed"] else "FAIL")
        if t.get("stretch") is not None and t["passed"] is not None:
            needs += f" (stretch {t['stretch']:g})"
            verdict += f", stretch {'pass' if t['stretch_passed'] else 'missed'}"
        lines.append(f"| {t['description']} | {_num(t['measured'])} | {needs} | {verdict} |")
    lines += [
        "", "## Training step (forward + backward + optimizer)", "",
        "| case | step s | × LoRA | CPU × | peak mem MiB | × LoRA | peak RSS MiB | × LoRA | optimizer state "
        "| × LoRA | adapter file | × LoRA | trainable | × LoRA |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in results["cases"]:
        if "error" in c:
            lines.append(f"| {c['name']} | error: {c['error'][:80]} |" + " |" * 12)
            continue
        g = c.get
        trainable = "–" if g("trainable_params") is None else f"{g('trainable_params'):,}"
        lines.append(
            f"| {c['name']} | {_num(g('step_time_median_s'))} | {_num(g('ratio_to_lora'))} | "
            f"{_num(g('cpu_ratio_to_lora'))} | {_num(g('peak_memory_mb'), 0)} | {_num(g('peak_memory_ratio_to_lora'))}"
            f" | {_num(g('peak_rss_mb'), 0)} | {_num(g('peak_rss_ratio_to_lora'))} | "
            f"{_bytes(g('optimizer_state_bytes'))} | {_num(g('optimizer_state_ratio_to_lora'), 2)} | "
            f"{_bytes(g('adapter_bytes'))} | {_num(g('adapter_ratio_to_lora'), 2)} | {trainable} | "
            f"{_num(g('trainable_params_ratio_to_lora'), 2)} |"
        )
    lines += ["", "## One layer, forward + backward (input needs grad, as hidden states do)", "",
              "| layer | case | ms | × LoRA |", "|---|---|---|---|"]
    for r in results["layer_cases"]:
        ms = None if r.get("step_time_median_s") is None else r["step_time_median_s"] * 1e3
        lines.append(f"| {r['in_features']}×{r['out_features']} | {r['name']} | {_num(ms, 2)} | "
                     f"{_num(r['ratio_to_lora'])} |")
    lines += ["", "## Evaluation (forward, inference mode)", "",
              "| case | step s | tokens/s | × plain | × LoRA |", "|---|---|---|---|---|"]
    for e in results["eval_cases"]:
        lines.append(f"| {e['name']} | {_num(e.get('step_time_median_s'))} | {_num(e.get('tokens_per_s'), 0)} | "
                     f"{_num(e['ratio_to_plain'])} | {_num(e['ratio_to_lora'])} |")
    lines += ["", f"Frozen baseline: {info['frozen_baseline']}. Peak memory: "
              f"{next((c.get('peak_memory_kind') for c in results['cases'] if c.get('peak_memory_kind')), '–')}; "
              f"peak RSS: a fresh process per case, one step after a warm-up. Allocator: {info['allocator']}.", ""]
    return "\n".join(lines)
