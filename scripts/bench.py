"""Benchmark DCFT against LoRA r=1 and the baselines on a random-weight architecture from conf/model.

    python scripts/bench.py [--model deberta-v3-base] [--batch 8] [--seq 128] [--steps N] [--warmup N]
                            [--threads N] [--device auto|cpu|cuda] [--rss key|all|none|NAMES]
                            [--out results/bench] [--readme README.md] [--quick] [--arch key=value ...]

Writes <out>/<machine>-<date>.json, the same name .md and <out>/latest.md. CPU defaults: DeBERTaV3-base,
batch 8 × 128, 1 warm-up round (memory-tracked) + 3 timed rounds of all 18 cases + 4 more rounds of the
target cases, medians; ~11 min on 2 idle cores, ~16 min on 1. On a GPU: batch 32, 3 + 20 rounds.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dcft.bench import BenchConfig, run_bench  # noqa: E402


def _arch_item(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--arch {text!r}: expected key=value, e.g. num_hidden_layers=2")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="deberta-v3-base", help="conf/model/<name>.yaml (built with random weights)")
    p.add_argument("--batch", type=int, help="sequences per step (default 8 on CPU, 32 on CUDA)")
    p.add_argument("--seq", type=int, default=128, help="tokens per sequence")
    p.add_argument("--steps", type=int, help="timed interleaved rounds per case (median reported)")
    p.add_argument("--warmup", type=int, help="untimed rounds first")
    p.add_argument("--focus-steps", type=int, help="extra rounds of LoRA r=1 and DCFT fast d8/d2/s1 only")
    p.add_argument("--layer-steps", type=int, help="timed rounds of the one-layer cases")
    p.add_argument("--eval-steps", type=int, help="timed rounds of the evaluation cases")
    p.add_argument("--threads", type=int, help="torch threads (default: the cores this process may use)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--rss", default="", help="peak RSS probes: key | all | none | comma-separated case names")
    p.add_argument("--out", default="results/bench", help="folder for the JSON and markdown")
    p.add_argument("--readme", help="README whose <!-- bench:start -->…<!-- bench:end --> section to refresh")
    p.add_argument("--quick", action="store_true", help="few steps and a subset of the DCFT cases (CI smoke)")
    p.add_argument("--arch", type=_arch_item, action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the model's arch block (e.g. num_hidden_layers=2)")
    p.add_argument("--no-allocator-tuning", action="store_true", help="leave glibc malloc at its defaults")
    a = p.parse_args(argv)
    cfg = BenchConfig(
        model=a.model, batch=a.batch, seq=a.seq, steps=a.steps, warmup=a.warmup, focus_steps=a.focus_steps,
        layer_steps=a.layer_steps, eval_steps=a.eval_steps, threads=a.threads, device=a.device, quick=a.quick,
        rss=a.rss, out=a.out, arch=dict(a.arch), readme=a.readme, tune_allocator=not a.no_allocator_tuning,
        command=" ".join(["python", "scripts/bench.py", *(sys.argv[1:] if argv is None else argv)]),
    )
    results, json_path, md_path = run_bench(cfg)
    for t in results["targets"]:
        verdict = "not measured" if t["passed"] is None else ("pass" if t["passed"] else "FAIL")
        value = "–" if t["measured"] is None else f"{t['measured']:.3f}"
        print(f"{t['description']}: {value} ({t['comparison']} {t['threshold']:g}) {verdict}")
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
