"""Which linear layers (and output blocks) a method adapts: the one place where module names are matched.

Groups (Q, K, V, O, FFN_IN, FFN_OUT; dcft.methods.groups) map onto module names per architecture family.
Families are detected from the model's structure, not its name, so any BERT-, RoBERTa-, DeBERTa-,
DistilBERT- or LLaMA-style model resolves without new code. Bottleneck adapters attach to *output blocks*
(the module holding the O or FFN_OUT projection with its dropout and post-residual LayerNorm); a family
lists the names of those three parts, or None where its layers have no such block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from dcft.methods.groups import GROUP_SETS, GROUPS, parse_groups

__all__ = ["FAMILIES", "GROUPS", "GROUP_SETS", "Family", "OutputBlock", "detect_family", "parse_groups",
           "resolve_output_blocks", "resolve_targets"]

OUTPUT_GROUPS = ("O", "FFN_OUT")  # the projections that close a sub-layer: attention output, FFN output


@dataclass(frozen=True)
class OutputBlock:
    """A post-LN output block: `norm(dropout(projection(h)) + input_tensor)`, by its children's names."""

    projection: str
    dropout: str
    norm: str


@dataclass(frozen=True)
class Family:
    name: str
    patterns: dict[str, str]  # group -> regex searched in the full module name (anchored at the end)
    output_block: OutputBlock | None = None  # the parent of an O / FFN_OUT projection, where it is one


FAMILIES: tuple[Family, ...] = (
    Family(
        "deberta",
        {
            "Q": r"attention\.self\.query_proj$",
            "K": r"attention\.self\.key_proj$",
            "V": r"attention\.self\.value_proj$",
            "O": r"attention\.output\.dense$",
            "FFN_IN": r"intermediate\.dense$",
            "FFN_OUT": r"layer\.\d+\.output\.dense$",
        },
        OutputBlock("dense", "dropout", "LayerNorm"),
    ),
    Family(
        "bert",  # BERT, RoBERTa, XLM-R, ELECTRA, MiniLM ...
        {
            "Q": r"attention\.self\.query$",
            "K": r"attention\.self\.key$",
            "V": r"attention\.self\.value$",
            "O": r"attention\.output\.dense$",
            "FFN_IN": r"intermediate\.dense$",
            "FFN_OUT": r"layer\.\d+\.output\.dense$",
        },
        OutputBlock("dense", "dropout", "LayerNorm"),
    ),
    Family(
        "distilbert",  # residual and LayerNorm live in the layer, not in an output block
        {
            "Q": r"attention\.q_lin$",
            "K": r"attention\.k_lin$",
            "V": r"attention\.v_lin$",
            "O": r"attention\.out_lin$",
            "FFN_IN": r"ffn\.lin1$",
            "FFN_OUT": r"ffn\.lin2$",
        },
    ),
    Family(
        "llama",  # decoder blocks with q/k/v/o_proj and gated MLPs
        {
            "Q": r"self_attn\.q_proj$",
            "K": r"self_attn\.k_proj$",
            "V": r"self_attn\.v_proj$",
            "O": r"self_attn\.o_proj$",
            "FFN_IN": r"mlp\.(gate|up)_proj$",
            "FFN_OUT": r"mlp\.down_proj$",
        },
    ),
)


def detect_family(model: nn.Module) -> Family:
    """The family whose Q pattern matches some nn.Linear of the model."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    for family in FAMILIES:
        if any(re.search(family.patterns["Q"], n) for n in names):
            return family
    raise ValueError(
        f"{type(model).__name__}: no known attention layout (tried {', '.join(f.name for f in FAMILIES)}); "
        "add a Family with its module-name patterns to dcft/methods/targets.py"
    )


def resolve_targets(model: nn.Module, targets: str | list[str] = "all") -> dict[str, str]:
    """Full module name -> group, for every nn.Linear the groups select (head modules excluded)."""
    groups = parse_groups(targets)
    family = detect_family(model)
    chosen: dict[str, str] = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        for group in groups:
            if re.search(family.patterns[group], name):
                chosen[name] = group
                break
    missing = [g for g in groups if g not in chosen.values()]
    if missing:
        raise ValueError(f"targets: groups {missing} match no linear layer of this {family.name}-style model")
    return chosen


def resolve_output_blocks(model: nn.Module, groups: tuple[str, ...]) -> dict[str, str]:
    """Full module name of each output block -> group, for the blocks whose projection is one of `groups`
    (O: attention output, FFN_OUT: FFN output). The block must hold the family's projection, dropout and norm."""
    unknown = [g for g in groups if g not in OUTPUT_GROUPS]
    if unknown:
        raise ValueError(f"output blocks: groups {unknown} do not close a sub-layer; use {', '.join(OUTPUT_GROUPS)}")
    family = detect_family(model)
    block = family.output_block
    if block is None:
        raise ValueError(f"{type(model).__name__}: {family.name}-style layers have no post-LN output block "
                         "(dense, dropout, LayerNorm) to attach a bottleneck adapter to; use a BERT-, RoBERTa- "
                         "or DeBERTa-style model")
    blocks: dict[str, str] = {}
    for name, group in resolve_targets(model, list(groups)).items():
        parent, _, child = name.rpartition(".")
        module = model.get_submodule(parent)
        if child != block.projection or not all(hasattr(module, part) for part in (block.dropout, block.norm)):
            raise ValueError(f"{parent}: expected an output block with {block.projection}, {block.dropout} and "
                             f"{block.norm}; add this layout to dcft/methods/targets.py")
        blocks[parent] = group
    return blocks
