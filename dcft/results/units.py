"""How numbers are printed: parameter counts in the paper's binary units, metrics to two decimals.

The one parameter formatter of the harness (the tables, the parameter summary and the benchmarks use it).
Standard library only.
"""

from __future__ import annotations

DASH = "—"  # no number (no run yet, or the paper printed none)
PARAM_UNITS = ("M", "K", "%")


def format_params(n: int | None, unit: str = "M", total: int | None = None, decimals: int | None = None) -> str:
    """A parameter count as the paper prints it, binary units (K = 1024, M = 2**20; docs/method.md):
    25344 -> '0.024M' (unit M) / '24.8K' (unit K); unit '%' = share of `total` (M when the total is unknown);
    None -> '—'. `decimals` fixes the digits (else: the paper's, by size)."""
    if unit not in PARAM_UNITS:
        raise ValueError(f"unit={unit!r}: choose one of {', '.join(PARAM_UNITS)}")
    if n is None:
        return DASH
    if unit == "%" and total:
        return f"{100.0 * n / total:.2f}%"
    if decimals is not None and unit in ("K", "M"):
        return f"{n / {'K': 1024, 'M': 2**20}[unit]:.{decimals}f}{unit}"
    if unit == "K":
        return f"{n / 1024:.1f}K"
    mega = n / 2**20
    if mega >= 1024:
        return f"{mega / 1024:.1f}B"
    return f"{mega:.0f}M" if mega >= 100 else f"{mega:.1f}M" if mega >= 1 else f"{mega:.3f}M"


def fmt(x: float) -> str:
    """A metric to two decimals; never '-0.00'."""
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def fmt_diff(x: float) -> str:
    """A signed difference to two decimals; never '-0.00'."""
    text = f"{x:+.2f}"
    return "+0.00" if text == "-0.00" else text


def fmt_lr(x: float) -> str:
    return f"{x:g}"
