"""flowspin: run any Metaflow @step like a notebook cell.

The public Python API is re-exported here lazily so that `import flowspin` stays cheap for the
language server (which never imports Metaflow) and the CLI.
"""

from __future__ import annotations

TYPE_CHECKING = False  # no `typing` import: the warm shell spin counts milliseconds
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_spin", "spin"]


def __getattr__(name: str) -> Any:
    # Lazy: store and spin pull in Metaflow and cloudpickle, which the LSP must not pay for.
    if name == "load_spin":
        from flowspin.store import load_spin

        return load_spin
    if name == "spin":
        from flowspin.spin.api import spin

        return spin
    raise AttributeError(name)
