"""Local spin store under `.flowspin/` (content-addressed blobs + one record per spin)."""

from flowspin.store.layout import flow_key, new_spin_id, workspace_root
from flowspin.store.reader import LazyArtifacts, LoadedSpin, load_spin, resolve_ref
from flowspin.store.store import Store

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
