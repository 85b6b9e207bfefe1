"""Which linear layers a method adapts: the one place where module names are matched.

Groups (Q, K, V, O, FFN_IN, FFN_OUT; dcft.methods.groups) map onto module names per architecture family.
Families are detected from the model's structure, not its name, so any BERT-, RoBERTa-, DeBERTa-,
DistilBERT- or LLaMA-style model resolves without new code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from dcft.methods.groups import GROUP_SETS, GROUPS, parse_groups

__all__ = ["FAMILIES", "GROUPS", "GROUP_SETS", "Family", "detect_family", "parse_groups", "resolve_targets"]

@dataclass(frozen=True)
class Family:
    name: str
    patterns: dict[str, str]  # group -> regex searched in the full module name (anchored at the end)


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
    ),
    Family(
        "distilbert",
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
