"""Target groups by name (torch-free): which of a layer's six matrices a method adapts.

Groups are Q, K, V, O (attention output), FFN_IN, FFN_OUT (docs/method.md, "Where it is applied").
`dcft.methods.targets` maps them onto module names; this module only parses and names them.
"""

from __future__ import annotations

import re

GROUPS = ("Q", "K", "V", "O", "FFN_IN", "FFN_OUT")

# Named group sets. "qkvo" is the natural reading (attention output only: 12,288 parameters on DeBERTaV3-base
# at d=8). The paper's Table 6 "(Q,K,V,O)" prints 18.4K, which is Q,K,V,O plus one FFN matrix: FFN_OUT
# ("qkvo_paper", 18,816) and FFN_IN ("qkvo_ffnin") add the same 544 per layer, so the count cannot tell which.
# The released code picks modules by substring tests ("attention.output", "intermediate", "layer.output") on its
# --lora_module string, and no string naming only Q, K, V and O yields five matrices. We run qkvo_paper for
# that row (the FFN output sits in the `output` module, the likelier slip); the table note states the ambiguity.
GROUP_SETS: dict[str, tuple[str, ...]] = {
    "all": GROUPS,
    "qk": ("Q", "K"),
    "qv": ("Q", "V"),
    "qkv": ("Q", "K", "V"),
    "qkvo": ("Q", "K", "V", "O"),
    "qkvo_paper": ("Q", "K", "V", "O", "FFN_OUT"),
    "qkvo_ffnin": ("Q", "K", "V", "O", "FFN_IN"),
    "attention": ("Q", "K", "V", "O"),
    "ffn": ("FFN_IN", "FFN_OUT"),
    "kv_ffnout": ("K", "V", "FFN_OUT"),  # (IA)³'s usual placement
}


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
    if not groups:
        raise ValueError(f"targets={targets!r} names no group; use groups {', '.join(GROUPS)} or a named set")
    return tuple(dict.fromkeys(groups))


def targets_name(targets: str | list[str] | tuple[str, ...]) -> str:
    """One name per set of groups (order-free): the first named set that equals it, else 'q+v+ffn_in'."""
    chosen = set(parse_groups(targets))
    for name, groups in GROUP_SETS.items():
        if set(groups) == chosen:
            return name
    return "+".join(g.lower() for g in GROUPS if g in chosen)
