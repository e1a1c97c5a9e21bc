"""Local spin store under `.flowspin/` (content-addressed blobs + one record per spin).

Exports are lazy so that the CLI's hot path (`flowspin spin` talking to the daemon) only
imports what it uses.
"""

from __future__ import annotations

TYPE_CHECKING = False  # no `typing` import: the warm shell spin counts milliseconds
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LazyArtifacts",
    "LoadedSpin",
    "Store",
    "flow_key",
    "load_spin",
    "new_spin_id",
    "resolve_ref",
    "workspace_root",
]

_WHERE = {
    "LazyArtifacts": "reader",
    "LoadedSpin": "reader",
    "load_spin": "reader",
    "resolve_ref": "reader",
    "Store": "store",
    "flow_key": "layout",
    "new_spin_id": "layout",
    "workspace_root": "layout",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"flowspin.store.{_WHERE[name]}"), name)
    raise AttributeError(name)
