"""HAdapter (Houlsby et al. 2019) and PAdapter (Pfeiffer et al. 2021): bottleneck adapters in output blocks.

An output block computes LN(x + h) with h = dropout(W_o·z) (z: the sub-layer's output, x: its input). The
adapted block keeps the block's own modules under their own names (the backbone's weights keep their keys)
and adds `bottleneck`, A(u) = W_up·act(W_down·u + b_down) + b_up:

    houlsby:  LN(x + h + A(h))              after attention output and FFN output (adapter-bert; adapters'
                                            DoubleSeqBnConfig)
    pfeiffer: LN(x + h + A(LN(x + h)))      after the FFN output only, the block's LayerNorm used twice
                                            (adapters' SeqBnConfig: residual_before_ln, original_ln_before/after)

Both add modules the plain architecture lacks, so they cannot be merged into it (Adapted.merged_model is None).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from dcft.methods.common import Adapted
from dcft.methods.settings import HAdapterSettings, PAdapterSettings
from dcft.methods.targets import OutputBlock, detect_family, resolve_output_blocks

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "swish": nn.SiLU, "silu": nn.SiLU, "tanh": nn.Tanh,
}
PLACEMENTS = {"houlsby": ("O", "FFN_OUT"), "pfeiffer": ("FFN_OUT",)}


class Bottleneck(nn.Module):
    """A(u) = W_up·act(W_down·u + b_down) + b_up; weights N(0, σ²) truncated at ±2σ, biases zero (near identity)."""

    def __init__(self, size: int, bottleneck: int, activation: str, init_std: float,
                 device: torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.down = nn.Linear(size, bottleneck, device=device, dtype=dtype)  # (size -> r)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(bottleneck, size, device=device, dtype=dtype)  # (r -> size)
        for layer in (self.down, self.up):
            nn.init.trunc_normal_(layer.weight, std=init_std, a=-2 * init_std, b=2 * init_std)
            nn.init.zeros_(layer.bias)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(u)))


class AdaptedOutputBlock(nn.Module):
    """An output block with a bottleneck adapter at its placement (module docstring); same call signature."""

    def __init__(self, block: nn.Module, parts: OutputBlock, bottleneck: Bottleneck, placement: str) -> None:
        super().__init__()
        if placement not in PLACEMENTS:
            raise ValueError(f"placement={placement!r} is unknown; choose one of {', '.join(PLACEMENTS)}")
        self.parts, self.placement = parts, placement
        for name in (parts.projection, parts.dropout, parts.norm):
            self.add_module(name, getattr(block, name))
        self.bottleneck = bottleneck

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        project, dropout = getattr(self, self.parts.projection), getattr(self, self.parts.dropout)
        norm = getattr(self, self.parts.norm)
        h = dropout(project(hidden_states))  # (N, L, size)
        adapter_input = h if self.placement == "houlsby" else norm(h + input_tensor)
        return norm(self.bottleneck(adapter_input) + h + input_tensor)

    def extra_repr(self) -> str:
        return f"placement={self.placement}"


def attach_bottlenecks(model: nn.Module, cfg: HAdapterSettings, placement: str) -> Adapted:
    """Freeze the model and put an adapter into each output block of the placement; only adapters train."""
    model.requires_grad_(False)
    parts = detect_family(model).output_block
    for name in resolve_output_blocks(model, PLACEMENTS[placement]):
        block = model.get_submodule(name)
        projection = getattr(block, parts.projection)
        adapter = Bottleneck(projection.out_features, cfg.bottleneck, cfg.activation, cfg.init_std,
                             device=projection.weight.device, dtype=projection.weight.dtype)
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, AdaptedOutputBlock(block, parts, adapter, placement))
    return Adapted(model=model, method=cfg.name, tag=cfg.tag(), settings=dataclasses.asdict(cfg))


def apply_hadapter(model: nn.Module, cfg: HAdapterSettings) -> Adapted:
    return attach_bottlenecks(model, cfg, "houlsby")


def apply_padapter(model: nn.Module, cfg: PAdapterSettings) -> Adapted:
    return attach_bottlenecks(model, cfg, "pfeiffer")
