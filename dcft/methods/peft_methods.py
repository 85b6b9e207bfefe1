"""Baselines from PEFT, used as its docs intend: LoRA, AdaLoRA, (IA)³, DoRA, VeRA, LoRA-FA.

Targets come from our resolver (exact module names), so every method adapts the same layers.
"""

from __future__ import annotations

import dataclasses
import warnings

from peft import AdaLoraConfig, IA3Config, LoraConfig, VeraConfig, get_peft_model
from torch import nn

from dcft.methods.common import Adapted
from dcft.methods.settings import AdaLoraSettings, IA3Settings, LoraSettings, VeraSettings
from dcft.methods.targets import resolve_targets


def _wrap(model: nn.Module, peft_config, method: str, cfg, settings: dict | None = None) -> Adapted:
    """get_peft_model freezes every weight but the adapter's; the settings are recorded as given."""
    peft_model = get_peft_model(model, peft_config)
    return Adapted(model=peft_model, method=method, tag=cfg.tag(),
                   settings=settings if settings is not None else dataclasses.asdict(cfg),
                   merged_model=peft_model.merge_and_unload)


def _names(model: nn.Module, targets) -> list[str]:
    return sorted(resolve_targets(model, targets))


def apply_lora(model: nn.Module, cfg: LoraSettings, use_dora: bool = False) -> Adapted:
    config = LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=_names(model, cfg.targets),
        use_dora=use_dora, bias="none",
    )
    return _wrap(model, config, cfg.name, cfg)


def apply_dora(model: nn.Module, cfg: LoraSettings) -> Adapted:
    return apply_lora(model, cfg, use_dora=True)


def apply_lora_fa(model: nn.Module, cfg: LoraSettings) -> Adapted:
    """LoRA with A frozen at its random init; PEFT's LoRA-FA optimizer projects B's gradient."""
    from peft.optimizers import create_lorafa_optimizer

    adapted = apply_lora(model, cfg)
    for name, p in adapted.model.named_parameters():
        if "lora_A" in name:  # PEFT's own parameter naming; the optimizer below freezes them too
            p.requires_grad_(False)

    def make_optimizer(lr: float, weight_decay: float, **_):
        return create_lorafa_optimizer(adapted.model, r=cfg.r, lora_alpha=cfg.alpha, lr=lr, weight_decay=weight_decay)

    adapted.make_optimizer = make_optimizer
    return adapted


def fit_adalora_schedule(tinit: int, tfinal: int, total_step: int) -> tuple[int, int, bool]:
    """Keep the authors' warm-ups when they fit; on short runs scale them so pruning still happens."""
    if tinit < total_step - tfinal:
        return tinit, tfinal, False
    scale = 0.8 * total_step / max(tinit + tfinal, 1)
    new_init, new_final = int(tinit * scale), int(tfinal * scale)
    if new_init >= total_step - new_final:
        new_init, new_final = 0, max(total_step // 2, 1) if total_step > 1 else 0
    warnings.warn(
        f"adalora: tinit={tinit} + tfinal={tfinal} do not fit in {total_step} steps; scaled to "
        f"tinit={new_init}, tfinal={new_final} so the budget schedule still runs",
        stacklevel=2,
    )
    return new_init, new_final, True


def apply_adalora(model: nn.Module, cfg: AdaLoraSettings, total_step: int) -> Adapted:
    """AdaLoRA with its budget schedule; the trainer must call `after_step` every optimizer step."""
    if total_step < 2:
        raise ValueError(f"adalora: total_step={total_step}; AdaLoRA needs at least 2 optimizer steps")
    tinit, tfinal, scaled = fit_adalora_schedule(cfg.tinit, cfg.tfinal, total_step)
    config = AdaLoraConfig(
        init_r=cfg.init_r, target_r=cfg.target_r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        tinit=tinit, tfinal=tfinal, deltaT=cfg.delta_t, beta1=cfg.beta1, beta2=cfg.beta2,
        orth_reg_weight=cfg.orth_coef, total_step=total_step, target_modules=_names(model, cfg.targets),
    )
    settings = dataclasses.asdict(cfg) | {"tinit": tinit, "tfinal": tfinal, "total_step": total_step,
                                          "schedule_scaled": scaled}
    adapted = _wrap(model, config, "adalora", cfg, settings)
    peft_model = adapted.model
    adapted.after_step = lambda step: peft_model.base_model.update_and_allocate(step)
    adapted.final_state = lambda: {"rank_pattern": _rank_pattern(peft_model)}
    adapted.get_method_state = lambda: _allocator_state(peft_model)
    adapted.set_method_state = lambda tensors, facts: _restore_allocator(peft_model, tensors, facts)
    return adapted


_ALLOCATOR_FIELDS = ("ipt", "exp_avg_ipt", "exp_avg_unc")


def _allocator_state(peft_model) -> tuple[dict, dict]:
    """AdaLoRA's running sensitivity estimates and the fixed rank pattern: needed for an exact resume."""
    allocator = peft_model.base_model.rankallocator
    tensors = {f"{field}/{name}": t.detach().cpu().contiguous()
               for field in _ALLOCATOR_FIELDS for name, t in getattr(allocator, field).items()}
    return tensors, {"rank_pattern": peft_model.peft_config["default"].rank_pattern}


def _restore_allocator(peft_model, tensors: dict, facts: dict) -> None:
    allocator = peft_model.base_model.rankallocator
    allocator.reset_ipt()
    device = next(peft_model.parameters()).device
    for key, tensor in tensors.items():
        field, name = key.split("/", 1)
        getattr(allocator, field)[name] = tensor.to(device)
    if facts.get("rank_pattern"):
        peft_model.peft_config["default"].rank_pattern = facts["rank_pattern"]


def _rank_pattern(peft_model) -> dict[str, int]:
    """Rank per adapted layer: PEFT's final rank_pattern once the budget is fixed, else the live mask
    (pruned singular values are zeroed in lora_E at every reallocation)."""
    pattern = peft_model.peft_config["default"].rank_pattern
    if pattern:
        return {name.removeprefix("base_model.model."): int(sum(bool(b) for b in mask))
                for name, mask in pattern.items()}
    ranks = {}
    for name, module in peft_model.named_modules():
        lora_e = getattr(module, "lora_E", None)
        if lora_e is not None and "default" in lora_e:
            ranks[name.removeprefix("base_model.model.")] = int((lora_e["default"] != 0).sum())
    return ranks


def apply_ia3(model: nn.Module, cfg: IA3Settings) -> Adapted:
    targets = resolve_targets(model, cfg.targets)
    feedforward = sorted(n for n, g in targets.items() if g in ("FFN_IN", "FFN_OUT"))
    config = IA3Config(target_modules=sorted(targets), feedforward_modules=feedforward)
    return _wrap(model, config, "ia3", cfg)


def apply_vera(model: nn.Module, cfg: VeraSettings) -> Adapted:
    config = VeraConfig(r=cfg.r, vera_dropout=cfg.dropout, target_modules=_names(model, cfg.targets))
    return _wrap(model, config, "vera", cfg)
