"""`run_bench(BenchConfig)`: the whole suite in one process, written to results/bench/<machine>-<date>.json.

Phases: training steps of every case (interleaved), per-case memory/optimizer/adapter figures,
peak RSS of selected cases in fresh processes, one layer's forward+backward, evaluation throughput.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dcft.adapters import WEIGHTS, save_adapter
from dcft.bench import cases as C
from dcft.bench import report, timing
from dcft.params import model_spec_from_conf

RSS_KEY_CASES = ("frozen", "lora-r1", "dcft-fast-d8-s8", "dcft-reference-d8-s8")
FOCUS_CASES = ("lora-r1", "dcft-fast-d8-s8", "dcft-fast-d2-s2", "dcft-fast-d8-s1")  # the targets' comparisons
DEFAULTS = {  # per device; the first warm-up round is the memory-tracked step
    "cpu": dict(batch=8, warmup=1, steps=3, focus_steps=4, layer_steps=15, eval_steps=6, rss="key"),
    "cuda": dict(batch=32, warmup=3, steps=20, focus_steps=0, layer_steps=50, eval_steps=20, rss="all"),
    "quick": dict(warmup=1, steps=2, focus_steps=0, layer_steps=3, eval_steps=2, rss="none"),
}


@dataclass
class BenchConfig:
    model: str = "deberta-v3-base"  # conf/model/<name>.yaml, built from its arch block with random weights
    batch: int | None = None  # None: 8 on CPU, 32 on CUDA
    seq: int = 128
    steps: int | None = None  # timed rounds of all cases (None: 3 CPU, 20 CUDA, 2 quick); median reported
    warmup: int | None = None  # untimed rounds first (>= 1: the first is the memory-tracked step)
    focus_steps: int | None = None  # extra rounds of the target cases only (LoRA, DCFT fast d8/d2/s1)
    layer_steps: int | None = None
    eval_steps: int | None = None
    threads: int | None = None  # torch intra-op threads; None: the cores this process may use
    device: str = "auto"  # auto | cpu | cuda
    quick: bool = False  # fewer steps and a subset of the DCFT cases (CI smoke)
    rss: str = ""  # all | key | none | comma-separated case names; "" = the device default
    out: str = "results/bench"
    arch: dict[str, Any] = field(default_factory=dict)  # overrides of the model's arch block (tests: tiny)
    lr: float = 1e-4
    seed: int = 0
    tune_allocator: bool = True  # glibc: keep freed memory (see timing.tune_cpu_allocator)
    readme: str | None = None  # README to refresh between <!-- bench:start --> / <!-- bench:end -->
    command: str | None = None

    def resolve(self, device: torch.device) -> BenchConfig:
        """Fill the None fields from the device defaults (and the quick profile)."""
        base = dict(DEFAULTS["cuda" if device.type == "cuda" else "cpu"])
        if self.quick:
            base.update(DEFAULTS["quick"])
        filled = {k: (base[k] if getattr(self, k) in (None, "") else getattr(self, k)) for k in base}
        return dataclasses.replace(self, **filled)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available; use device=cpu or auto")
    return torch.device(name)


def run_bench(cfg: BenchConfig) -> tuple[dict[str, Any], Path, Path]:
    """Run the suite; returns the results and the paths of the JSON and markdown written."""
    device = resolve_device(cfg.device)
    cfg = cfg.resolve(device)
    threads, threads_why = timing.configure_threads(cfg.threads)
    allocator = timing.tune_cpu_allocator() if cfg.tune_allocator and device.type == "cpu" else "default"
    started = time.time()
    run_info = _run_info(cfg, device, threads, allocator)
    run_info["threads_reason"] = threads_why
    _log(f"{cfg.model} on {device}, {threads} thread(s) ({threads_why})")
    spec = model_spec_from_conf(cfg.model)
    spec.random_init = True
    spec.arch.update(cfg.arch)
    backbone = C.build_backbone(spec, device, cfg.seed)
    batch = C.make_batch(int(spec.arch["vocab_size"]), cfg.batch, cfg.seq, device, cfg.seed)

    cases = _training_phase(cfg, spec, backbone, batch, device)
    _rss_phase(cfg, cases, device, threads)
    layers = _layer_phase(cfg, spec, device)
    evals = _eval_phase(cfg, spec, backbone, batch, device)

    run_info.update(load_average_end=timing.load_average(), wall_s=round(time.time() - started, 1))
    results = report.assemble(run_info, cases, layers, evals)
    json_path, md_path = report.write(results, cfg.out, readme=cfg.readme)
    return results, json_path, md_path


def _run_info(cfg: BenchConfig, device: torch.device, threads: int, allocator: str) -> dict[str, Any]:
    from dcft.run_record import environment

    env = environment()
    return {
        "command": cfg.command or env["command"], "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": timing.machine_info(device, threads), "versions": env["versions"], "git_commit": env["git_commit"],
        "git_dirty": _git_dirty(),
        "threads": threads, "allocator": allocator, "load_average_start": timing.load_average(),
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("command", "readme")},
        "timing": "median of per-step wall time over interleaved rounds after warm-up (cases rotate each round)",
        "frozen_baseline": "backbone frozen, head + embeddings LayerNorm weight trainable: backward runs "
                           "through every layer (gradients through the activations only)",
    }


def _git_dirty() -> bool | None:
    """Whether the checkout's dcft/ differs from its commit (then git_commit alone does not pin the code)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "dcft"], cwd=root, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _training_phase(cfg, spec, backbone, batch, device) -> list[dict[str, Any]]:
    """Build every case, measure peak memory on its (untimed) first step, then time interleaved rounds."""
    specs = C.training_cases(quick=cfg.quick)
    built: dict[str, C.TrainingCase] = {}
    rows: dict[str, dict[str, Any]] = {c.name: c.as_dict() for c in specs}
    for case in specs:
        try:
            built[case.name] = C.build_training_case(case, spec, backbone, batch, cfg.lr)
            built[case.name].prime_optimizer()
        except Exception as exc:  # noqa: BLE001 - one broken method must not sink the suite
            rows[case.name]["error"] = f"{type(exc).__name__}: {exc}"
            _log(f"{case.name}: build failed: {rows[case.name]['error']}")
    _log(f"training: {len(built)} cases, first step with memory tracking")
    for name, tc in built.items():
        rows[name].update(_peak_memory(tc, device))
    steps = {n: c.step for n, c in built.items()}
    _log(f"training: {len(built)} cases x ({cfg.warmup - 1} warm-up + {cfg.steps} timed) rounds")
    samples = timing.interleave(steps, cfg.steps, max(cfg.warmup - 1, 0), device)
    focus = {n: steps[n] for n in FOCUS_CASES if n in steps}
    if cfg.focus_steps and len(focus) > 1:
        _log(f"training: {len(focus)} target cases x {cfg.focus_steps} more rounds")
        for name, extra in timing.interleave(focus, cfg.focus_steps, 0, device).items():
            samples[name] += extra
    for name in list(built):
        tc = built.pop(name)
        rows[name].update(_step_figures(samples[name]))
        rows[name].update(_case_figures(tc))
        del tc
        gc.collect()
    return list(rows.values())


def _step_figures(samples: list[dict[str, float]]) -> dict[str, Any]:
    summary = timing.summarize(samples)
    return {"step_time_median_s": summary["median_s"], "step_time_min_s": summary["min_s"],
            "step_time_max_s": summary["max_s"], "cpu_time_median_s": summary["cpu_median_s"],
            "timed_steps": summary["n"], "step_times_s": [round(x["wall_s"], 6) for x in samples]}


def _case_figures(tc: C.TrainingCase) -> dict[str, Any]:
    """Parameter counts, optimizer-state bytes (AdamW state after the steps) and adapter-file bytes."""
    figures: dict[str, Any] = dict(tc.adapted.counts())
    figures["settings_resolved"] = tc.adapted.settings
    figures["optimizer_state_bytes"] = timing.tensor_bytes(_optimizer_state(tc))
    with tempfile.TemporaryDirectory() as tmp:
        save_adapter(tc.adapted, Path(tmp) / "adapter")
        figures["adapter_bytes"] = (Path(tmp) / "adapter" / WEIGHTS).stat().st_size
    return figures


def _optimizer_state(tc: C.TrainingCase) -> list[torch.Tensor]:
    return [t for s in tc.optimizer.state.values() for t in s.values() if torch.is_tensor(t)]


def _peak_memory(tc: C.TrainingCase, device: torch.device) -> dict[str, Any]:
    """One training step under the live-tensor tracker (CPU); on CUDA the probe process measures."""
    if device.type == "cuda":
        tc.step()
        return {"peak_memory_mb": None, "peak_memory_kind": "cuda max_memory_allocated (a process per case)"}
    existing = [*tc.adapted.model.parameters(), *tc.adapted.model.buffers(), *_optimizer_state(tc),
                *tc.batch.values()]
    tracker = timing.PeakTensorMemory(device.type, existing)
    with tracker:
        tc.step()
    return {"peak_memory_mb": tracker.peak / 2**20, "peak_memory_kind": "live tensor bytes (dispatch mode)"}


def _rss_phase(cfg, rows: list[dict[str, Any]], device: torch.device, threads: int) -> None:
    """Peak resident set (CPU) or allocator peak (CUDA) of one training step, in a fresh process per case."""
    wanted = {"all": None, "key": set(RSS_KEY_CASES), "none": set()}.get(cfg.rss, set(cfg.rss.split(",")))
    for row in rows:
        row.setdefault("peak_rss_mb", None)
        if "error" in row or (wanted is not None and row["name"] not in wanted):
            continue
        _log(f"probe: {row['name']}")
        probe = run_probe(cfg, row, device, threads)
        if device.type == "cuda":
            row["peak_memory_mb"] = probe.get("peak_memory_mb")
        row["peak_rss_mb"] = probe.get("peak_rss_mb")
        if probe.get("error"):
            row["probe_error"] = probe["error"]


def run_probe(cfg: BenchConfig, row: dict[str, Any], device: torch.device, threads: int) -> dict[str, Any]:
    job = {"model": cfg.model, "arch": cfg.arch, "case": {k: row[k] for k in ("name", "method", "settings")},
           "batch": cfg.batch, "seq": cfg.seq, "device": str(device), "threads": threads, "lr": cfg.lr,
           "seed": cfg.seed, "tune_allocator": cfg.tune_allocator}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                       os.environ.get("PYTHONPATH", "")]))
    try:
        out = subprocess.run([sys.executable, "-m", "dcft.bench.probe", json.dumps(job)], capture_output=True,
                             text=True, timeout=1800, env=env)
    except subprocess.TimeoutExpired:
        return {"error": "probe timed out after 1800 s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


def _layer_phase(cfg, spec, device) -> list[dict[str, Any]]:
    hidden, ffn = int(spec.arch["hidden_size"]), int(spec.arch["intermediate_size"])
    tokens = (cfg.batch, cfg.seq)
    rows = []
    for n_in, n_out in ((hidden, hidden), (hidden, ffn), (ffn, hidden)):
        modules = C.layer_modules(n_in, n_out, device, cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        x = torch.randn(*tokens, n_in, generator=gen).to(device)
        grad = torch.randn(*tokens, n_out, generator=gen).to(device)
        _log(f"layer {n_in}x{n_out}: {len(modules)} cases x {cfg.layer_steps} rounds")
        steps = {name: C.layer_step(m, x, grad) for name, m in modules.items()}
        samples = timing.interleave(steps, cfg.layer_steps, max(cfg.warmup, 2), device)
        for name, module in modules.items():
            trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
            rows.append({"name": name, "in_features": n_in, "out_features": n_out, "tokens": tokens[0] * tokens[1],
                         "trainable_params": trainable, **_step_figures(samples[name])})
    return rows


def _eval_phase(cfg, spec, backbone, batch, device) -> list[dict[str, Any]]:
    models = C.eval_models(spec, backbone)
    _log(f"eval: {len(models)} cases x {cfg.eval_steps} rounds")
    steps = {name: C.eval_step(m, batch) for name, m in models.items()}
    samples = timing.interleave(steps, cfg.eval_steps, cfg.warmup, device)
    tokens = batch["input_ids"].numel()
    rows = []
    for name in models:
        figures = _step_figures(samples[name])
        median = figures["step_time_median_s"]
        rows.append({"name": name, "tokens_per_step": tokens, **figures,
                     "tokens_per_s": tokens / median if median else None})
    return rows
