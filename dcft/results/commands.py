"""The `run.py` command that fills a missing cell: the row's method and options, the block's hyper-parameter
set, and the settings the block's existing runs share, so the new run lands in the cell the table shows."""

from __future__ import annotations

from typing import Any

from dcft.paths import CONF_DIR
from dcft.results.layouts import Method

PAPER_SEED = 6  # the authors' launch scripts use seed 6 everywhere
DEFAULT_HPARAMS_SET = "released"  # conf/config.yaml's default; other sets are named on the command line
SHORTCUTS = {"dcft": ("kernel", "stride")}  # top-level config keys that set these method options (conf/)


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def method_overrides(method: Method) -> str:
    """`method=dcft kernel=8 stride=8 method.targets=qk`, `method=lora method.r=8 method.targets=qv`."""
    assert method.fixed_tag is None, f"row {method.label!r} came from the records; rerun its own command"
    shortcuts = SHORTCUTS.get(method.name, ())
    parts = [f"method={method.name}"]
    for key, value in method.options:
        parts.append(f"{'' if key in shortcuts else 'method.'}{key}={_value(value)}")
    return " ".join(parts)


def hparams_set_override(hparams_set: str | None) -> str:
    """`hparams_set=paper` when the block's runs used a set other than the default one (and it exists)."""
    if not hparams_set or hparams_set == DEFAULT_HPARAMS_SET:
        return ""
    return f"hparams_set={hparams_set}" if (CONF_DIR / "hparams_set" / f"{hparams_set}.yaml").is_file() else ""


def run_command(
    model: str,
    task: str,
    method: Method,
    seeds: list[int],
    shared: list[str] | None = None,
    hparams_set: str | None = None,
) -> str:
    """The run.py command line that would fill one cell (a Hydra multirun when several seeds)."""
    assert method.tag is not None, f"method {method.label!r} cannot be run by this harness"
    seeds = sorted(seeds) or [PAPER_SEED]
    head = "python run.py -m" if len(seeds) > 1 else "python run.py"
    parts = [head, f"model={model}", f"task={task}", hparams_set_override(hparams_set), method_overrides(method),
             f"seed={','.join(map(str, seeds))}", *(shared or [])]
    return " ".join(p for p in parts if p)
