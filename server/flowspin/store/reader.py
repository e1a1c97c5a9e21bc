"""Reading spins back: `flowspin.load_spin(...)` and the shared artifact resolver."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowspin.store.layout import workspace_root
from flowspin.store.store import Store


def resolve_ref(store: Store, ref: dict[str, Any]) -> Any:
    """Value behind a record's artifact reference (a blob, or a Metaflow task artifact)."""
    if not ref:
        raise LookupError("this artifact was not saved (a --no-persist spin, or its write failed)")
    kind = ref.get("kind")
    if kind == "blob":
        return store.get_value(ref["sha"])
    if kind == "metaflow":
        return _metaflow_value(ref["pathspec"], ref["name"])
    raise KeyError(f"unknown artifact reference {ref!r}")


_opened: dict[str, Any] = {}  # pathspec -> mfload.OpenTask (a few; a spin's parents)


def _metaflow_value(pathspec: str, name: str) -> Any:
    """A task artifact read through the datastore layer with flowspin's artifact cache (so a
    run in S3 reads back with no network once cached, and fails fast when it is not); the
    Client, as before, for what that cannot read. DatastoreUnreachable propagates."""
    from flowspin.store.mfload import open_task
    from flowspin.store.remote import DatastoreUnreachable

    try:
        opened = _opened.get(pathspec)
        if opened is None:
            if len(_opened) >= 16:
                _opened.pop(next(iter(_opened)))
            opened = _opened[pathspec] = open_task(pathspec)
        return opened.load([name])[0][1]
    except DatastoreUnreachable:
        raise
    except Exception:
        from metaflow import Task

        return Task(pathspec, _namespace_check=False)[name].data


class LazyArtifacts(Mapping[str, Any]):
    """Maps artifact names to values; each value loads on first access only."""

    def __init__(self, store: Store, entries: dict[str, dict[str, Any]]) -> None:
        self._store = store
        self._entries = entries
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            try:
                entry = self._entries[name]
            except KeyError:
                raise KeyError(f"no artifact {name!r}; have: {', '.join(self)}") from None
            if not entry.get("ref") and entry.get("error"):
                raise LookupError(f"artifact {name!r} was not saved: {entry['error']}")
            self._cache[name] = resolve_ref(self._store, entry["ref"])
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._entries if not n.startswith("_"))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def info(self, name: str) -> dict[str, Any]:
        return {k: v for k, v in self._entries[name].items() if k != "ref"}


@dataclass
class LoadedSpin:
    flow_file: str
    step: str
    spin_id: str
    record: dict[str, Any]
    artifacts: LazyArtifacts = field(repr=False)

    @property
    def result(self):  # -> SpinResult; imported lazily to keep this module light
        from flowspin.results import SpinResult

        return SpinResult.from_dict(self.record.get("result") or {})

    @property
    def status(self) -> str:
        return self.record.get("status", "")


def load_spin(
    flow_file: str | os.PathLike[str], step: str, spin_id: str | None = None
) -> LoadedSpin:
    """The newest (or the given) persisted spin of `step` of `flow_file`."""
    path = Path(flow_file).resolve()
    store = Store(workspace_root(path))
    record = store.read_record(path, step, spin_id)
    return LoadedSpin(
        flow_file=str(path),
        step=step,
        spin_id=record["spin_id"],
        record=record,
        artifacts=LazyArtifacts(store, record.get("artifacts", {})),
    )
