"""The benchmark suite: training step, one layer and evaluation, DCFT against LoRA r=1 and baselines.

`run_bench(BenchConfig(...))` measures everything in one process (peak RSS in a fresh process per
case) and writes results/bench/<machine>-<date>.{json,md}; `scripts/bench.py` is the CLI.
"""

from dcft.bench.suite import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench"]
