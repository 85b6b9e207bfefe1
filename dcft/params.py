"""Parameter accounting the way the paper prints it: adapter only (head excluded), binary units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcft.heads import attach_method
from dcft.models import ModelSpec, build_model
from dcft.paths import CONF_DIR
from dcft.results.units import format_params


def paper_units(count: int) -> dict[str, str]:
    return {"M": format_params(count, "M", decimals=3), "K": format_params(count, "K", decimals=1)}


def nominal_total_steps(options: dict[str, Any]) -> int:
    """A step count that fits AdaLoRA's schedule: its shapes, hence its counts, do not depend on it."""
    return int(options.get("tinit", 0)) + int(options.get("tfinal", 0)) + 1000


def count_parameters(
    spec: ModelSpec, method: str, options: dict[str, Any], head: str = "sequence_classification", num_labels: int = 2
) -> dict[str, Any]:
    """Build the architecture on the meta device (no weights, no download), apply the method, count."""
    model = build_model(spec, head, num_labels, meta=True)
    adapted = attach_method(model, method, options, total_steps=nominal_total_steps(options))
    counts = adapted.counts()
    counts["paper_units"] = paper_units(counts["trainable_params"])
    counts["method_tag"] = adapted.tag
    return counts


def model_spec_from_conf(name: str, conf_dir: Path = CONF_DIR) -> ModelSpec:
    """A model's architecture from conf/model/<name>.yaml, without Hydra (for tables and benchmarks)."""
    from omegaconf import OmegaConf

    path = conf_dir / "model" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (conf_dir / "model").glob("*.yaml"))
        raise ValueError(f"model={name!r} has no conf/model/{name}.yaml; known: {', '.join(known)}")
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    raw["path"] = None  # counting needs only the architecture
    return ModelSpec(**raw)
