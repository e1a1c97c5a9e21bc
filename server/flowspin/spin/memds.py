"""An in-memory stand-in for Metaflow's TaskDataStore, serving parent artifacts to a flow.

FlowSpec reads artifacts through `self._datastore` (`in`, `[]`, `items()`, `is_none`,
`passdown_partial`); this class answers those from values the worker already holds, so a
spin child never touches Metaflow's datastore.
"""

from __future__ import annotations

from typing import Any


class MemDataStore:
    def __init__(
        self,
        values: dict[str, Any] | None = None,
        keys: dict[str, Any] | None = None,
        origin: dict[str, Any] | None = None,
        info: dict[str, Any] | None = None,
        fingerprints: dict[str, Any] | None = None,
    ) -> None:
        # Not copied: a lazy mapping must stay lazy, and the child owns its (forked) copy anyway.
        self.values: dict[str, Any] = values if values is not None else {}
        # name -> identity key ("mf", sha1) / ("fs", sha256) / ("override", n); Metaflow's
        # merge_artifacts compares these to detect conflicting branch values.
        self._objects: dict[str, Any] = dict(keys or {})
        # name -> the store reference an untouched artifact keeps pointing at
        self.origin: dict[str, Any] = dict(origin or {})
        # name -> precomputed {"type", "repr", "size"} (the worker computes these once)
        self.info: dict[str, Any] = info if info is not None else {}
        # name -> the parent value's fingerprint (not copied: a lazy load in the child adds to it)
        self.fingerprints: dict[str, Any] = fingerprints if fingerprints is not None else {}

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __iter__(self):
        return iter(self.values)

    def items(self):
        return [(k, _hashable(self._objects.get(k))) for k in self.values]

    def is_none(self, name: str) -> bool:
        return self.values.get(name) is None

    def passdown_partial(self, origin: MemDataStore, variables) -> None:
        for var in variables:
            if var in origin.values:
                self.values[var] = origin.values[var]
                self._objects[var] = origin._objects.get(var)
                if var in origin.origin:
                    self.origin[var] = origin.origin[var]
                if var in origin.info:
                    self.info[var] = origin.info[var]
                if var in origin.fingerprints:
                    self.fingerprints[var] = origin.fingerprints[var]


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
