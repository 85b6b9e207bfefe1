"""What a number ran on. Records name the CPU's model and the kernels torch picks for it (AVX2, AVX512, ...):
the same code and libraries on CPUs that take other kernels differ in the last bits within a few steps, and at a
high learning rate those bits grow into another run (results/minilm/README.md, "Reproducing a record")."""

from __future__ import annotations

import platform


def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description() -> str:
    """The GPU's name, or `cpu (<model>, <torch's CPU kernel level>)`."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({cpu_model()}, {torch.backends.cpu.get_cpu_capability()})"
