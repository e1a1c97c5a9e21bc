"""Warm spins: worker (zygote) per flow file, fork-per-spin children, the `SpinService` facade."""

from flowspin.spin.options import SpinOptions
from flowspin.spin.result import SpinResult

__all__ = ["SpinOptions", "SpinResult"]
