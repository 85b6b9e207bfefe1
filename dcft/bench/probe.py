"""One case's peak memory in a fresh process: `python -m dcft.bench.probe '<job json>'`.

Builds the model and the method, runs one warm-up step, resets the peak, runs one more step and
prints one JSON line: peak resident set (Linux) and, on CUDA, the allocator's peak.
"""

from __future__ import annotations

import json
import sys

import torch

from dcft.bench import cases as C
from dcft.bench import timing
from dcft.params import model_spec_from_conf


def probe(job: dict) -> dict:
    device = torch.device(job["device"])
    timing.configure_threads(job["threads"])  # the parent's choice
    if job.get("tune_allocator") and device.type == "cpu":
        timing.tune_cpu_allocator()
    spec = model_spec_from_conf(job["model"])
    spec.random_init = True
    spec.arch.update(job.get("arch") or {})
    case = job["case"]
    batch = C.make_batch(int(spec.arch["vocab_size"]), job["batch"], job["seq"], device, job["seed"])
    tc = C.build_training_case(C.CaseSpec(case["name"], case["method"], case["settings"]), spec, None, batch,
                               job["lr"])
    tc.step()  # warm-up: optimizer state exists, allocator pools are filled
    timing.synchronize(device)
    reset = timing.reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tc.step()
    timing.synchronize(device)
    result = {"name": case["name"], "peak_rss_mb": timing.peak_rss_mb() if reset else None}
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(json.dumps(probe(json.loads(argv[0]))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
