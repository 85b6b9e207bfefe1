"""PEFT's methods built for tiny budgets, DCFT's rivals at its size: C3A (block-circulant convolution),
FourierFT (sparse Fourier spectrum), WaveFT (sparse wavelet coefficients). Used as PEFT ships them.

Targets come from our resolver, as for the other PEFT baselines (dcft.methods.peft_methods).
"""

from __future__ import annotations

import math
from functools import reduce

from peft import C3AConfig, FourierFTConfig, WaveFTConfig
from torch import nn

from dcft.methods.common import Adapted
from dcft.methods.peft_methods import _names, _wrap
from dcft.methods.settings import C3ASettings, FourierFTSettings, WaveFTSettings


def largest_block(model: nn.Module, names: list[str]) -> int:
    """The largest C3A block size dividing every named layer's in and out sizes (the fewest parameters)."""
    sizes = [s for n in names for s in (model.get_submodule(n).in_features, model.get_submodule(n).out_features)]
    return reduce(math.gcd, sizes)


def apply_c3a(model: nn.Module, cfg: C3ASettings) -> Adapted:
    names = _names(model, cfg.targets)
    fits = largest_block(model, names)
    block = cfg.block_size or fits
    if fits % block:
        raise ValueError(f"c3a: block_size={block} does not divide every adapted layer's sizes; use a divisor of "
                         f"{fits} (or block_size=null for {fits} itself)")
    config = C3AConfig(block_size=block, target_modules=names,
                       init_weights=True if cfg.init == "zeros" else cfg.init)
    adapted = _wrap(model, config, "c3a", cfg)
    adapted.final_state = lambda: {"block_size": block}
    return adapted


def apply_fourierft(model: nn.Module, cfg: FourierFTSettings) -> Adapted:
    config = FourierFTConfig(n_frequency=cfg.n_frequency, scaling=cfg.scaling, random_loc_seed=cfg.random_loc_seed,
                             target_modules=_names(model, cfg.targets))
    return _wrap(model, config, "fourierft", cfg)


def apply_waveft(model: nn.Module, cfg: WaveFTSettings) -> Adapted:
    config = WaveFTConfig(n_frequency=cfg.n_frequency, scaling=cfg.scaling, wavelet_family=cfg.wavelet_family,
                          random_loc_seed=cfg.random_loc_seed, target_modules=_names(model, cfg.targets))
    return _wrap(model, config, "waveft", cfg)
