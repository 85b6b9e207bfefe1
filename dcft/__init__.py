"""DCFT reproduction harness: the method library (`dcft.methods`) and the tools around it.

Names are imported lazily so that torch-free parts (`dcft.results`) import without torch.
"""

from typing import Any

__all__ = ["DCFTLinear", "apply_method", "orthogonality_regularizer"]


def __getattr__(name: str) -> Any:
    if name in ("DCFTLinear", "apply_method"):
        from dcft import methods

        return getattr(methods, name)
    if name == "orthogonality_regularizer":
        from dcft.methods.dcft import orthogonality_regularizer

        return orthogonality_regularizer
    raise AttributeError(f"module 'dcft' has no attribute {name!r}")
