"""`SpinResult`, the result contract of a spin (it lives in `flowspin.results`, below every
package, because the store reads it back from records too)."""

from flowspin.results import SpinResult

__all__ = ["SpinResult"]
