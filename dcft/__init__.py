"""DCFT reproduction harness: the method library (`dcft.methods`) and the tools around it."""

from dcft.methods import DCFTLinear, apply_method
from dcft.methods.dcft import orthogonality_regularizer

__all__ = ["DCFTLinear", "apply_method", "orthogonality_regularizer"]
