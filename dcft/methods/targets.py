"""Which linear layers a method adapts: the one place where module names are matched.

Groups are Q, K, V, O (attention output), FFN_IN, FFN_OUT (SPEC §2). Families are detected from the
model's structure, not its name, so any BERT-, RoBERTa-, DeBERTa-, DistilBERT- or LLaMA-style
model resolves without new code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

GROUPS = ("Q", "K", "V", "O", "FFN_IN", "FFN_OUT")

# Named group sets. "qkvo" is the natural reading (attention output only); "qkvo_paper" is what the
# paper's Table 6 "(Q,K,V,O)" adapted: the released code matched "output" as a substring, so O also
# caught the FFN output projection (18,816 params = the printed 18.4K; SPEC §3).
GROUP_SETS: dict[str, tuple[str, ...]] = {
    "all": GROUPS,
    "qk": ("Q", "K"),
    "qv": ("Q", "V"),
    "qkv": ("Q", "K", "V"),
    "qkvo": ("Q", "K", "V", "O"),
    "qkvo_paper": ("Q", "K", "V", "O", "FFN_OUT"),
    "attention": ("Q", "K", "V", "O"),
    "ffn": ("FFN_IN", "FFN_OUT"),
    "kv_ffnout": ("K", "V", "FFN_OUT"),  # (IA)³'s usual placement
}


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


def parse_groups(targets: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'all' / 'qkvo_paper' / 'q,k,v' / ['Q','V'] -> canonical group names, validated."""
    if isinstance(targets, str):
        key = targets.strip().lower()
        if key in GROUP_SETS:
            return GROUP_SETS[key]
        items = [t for t in re.split(r"[,+ ]+", targets) if t]
    else:
        items = list(targets)
    groups = []
    for item in items:
        name = str(item).strip().upper().replace("-", "_")
        if name not in GROUPS:
            raise ValueError(
                f"targets: unknown group {item!r}; use groups {', '.join(GROUPS)} or a named set "
                f"({', '.join(GROUP_SETS)})"
            )
        groups.append(name)
    return tuple(dict.fromkeys(groups))


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
