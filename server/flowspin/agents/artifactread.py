"""Reading one artifact's value for a preview, safely, and keeping the last few read.

Its own module because every preview (children, pages, an agent's head of a table) starts by
reading a value, and reading has rules of its own that the walking and the paging need not
know: the language server never imports user code (values are read with
`values.SafeUnpickler`: standard library and data libraries only), a stored blob is checked
against its content hash before it is trusted, and nothing stored over `PREVIEW_CAP` bytes is
read at all. The last few values read are kept (with a scratch dict each, `memo_for`), so
paging and sorting a big value do not read it again.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flowspin.agents.values import SafeUnpickler, human_size, run_values, spin_values

PREVIEW_CAP = 1_000_000_000  # bytes as stored: a value over this is described, never read
KEPT_VALUES = 4  # values kept in memory for paging
KEPT_BYTES = 2_000_000_000  # and their stored size at most


class PreviewError(LookupError):
    """What cannot be shown, and why (the message is for the user)."""


_lock = threading.Lock()
_values: OrderedDict[tuple[str, ...], tuple[Any, int, dict[Any, Any]]] = OrderedDict()


def _loads_safely(data: bytes | memoryview) -> Any:
    """A store blob (`store.loads_value`'s layout) read with the safe unpickler; its data
    buffers stay views on the bytes read (nothing big is copied)."""
    view = memoryview(data)
    count = int.from_bytes(view[:8], "big")
    hlen = int.from_bytes(view[8:16], "big")
    pos = 16
    head = view[pos : pos + hlen]
    pos += hlen
    buffers = []
    for _ in range(count):
        blen = int.from_bytes(view[pos : pos + 8], "big")
        pos += 8
        buffers.append(view[pos : pos + blen])
        pos += blen
    return SafeUnpickler(io.BytesIO(head), buffers=buffers).load()


def _read_blob(store: Any, sha: str) -> Any:
    """A spin's blob, trusted only when its bytes still hash to its name (a torn or edited
    file says so instead of showing a wrong value)."""
    from flowspin.store.store import content_hash

    data = store.blob_path(sha).read_bytes()
    if content_hash([data]) != sha:
        raise PreviewError("the stored value does not match its content hash: spin again")
    try:
        return _loads_safely(data)
    except pickle.UnpicklingError as exc:
        raise PreviewError(
            f"not read here: its class is not one the editor may import ({exc})"
        ) from None


def _read_task_artifact(pathspec: str, name: str) -> Any:
    """A run task's artifact from Metaflow's datastore, through the same safe unpickler."""
    from flowspin.agents.values import load_safely
    from flowspin.store.mfload import open_task

    opened = open_task(pathspec)
    key = opened.tds._objects.get(name)
    if key is None:
        raise PreviewError(f"task {pathspec} has no artifact {name!r}")
    loaded = load_safely(opened, {name: key})
    if name not in loaded:
        raise PreviewError(f"{name!r} not read here: its class is not one the editor may import")
    return loaded[name]


def read_value(
    flow_file: Path,
    flow_name: str,
    step: str,
    source: str,
    name: str,
    keep: bool = True,
    record: dict[str, Any] | None = None,
) -> Any:
    """The artifact's value from `source` (see `preview.list_artifacts`), read safely; kept for
    the next pages when `keep` (the listing's small reads are not: they would push out the big
    value being paged). `record`: the spin's record, when the caller has read it."""
    from flowspin.agents.values import open_datastore
    from flowspin.store import Store, workspace_root

    if source == "spin":
        store = Store(workspace_root(flow_file))
        if record is None:
            found = spin_values(flow_file, step)
            if found is None:
                raise PreviewError(f"step {step!r} has no successful spin yet")
            record = store.read_record(flow_file, step, found.source.spin_id)
        entry = (record.get("artifacts") or {}).get(name)
        if entry is None:
            raise PreviewError(f"spin {record.get('spin_id')} has no artifact {name!r}")
        ref = entry.get("ref") or {}
        size = int(entry.get("size") or 0)
        if ref.get("kind") == "blob":
            key: tuple[str, ...] = ("blob", str(ref["sha"]))
            reader = lambda: _read_blob(store, str(ref["sha"]))  # noqa: E731
        elif ref.get("kind") == "metaflow":
            pathspec, ref_name = str(ref["pathspec"]), str(ref["name"])
            key = ("task", pathspec, ref_name)
            open_datastore(flow_file)
            reader = lambda: _read_task_artifact(pathspec, ref_name)  # noqa: E731
        else:
            raise PreviewError(f"{name!r} was not saved by that spin")
    else:
        run_id = source.split(":", 1)[1] if source.startswith("run:") else None
        if run_id is None:
            spun = spin_values(flow_file, step)
            run_id = spun.source.run_id if spun is not None else None
        task = run_values(flow_file, flow_name, step, run_id=run_id, load=False)
        if task is None or name not in task.values:
            raise PreviewError(f"no run task of {step!r} holds {name!r}")
        size = int(task.values[name].get("size") or 0)
        pathspec = str(task.source.pathspec)
        key = ("task", pathspec, name)
        reader = lambda: _read_task_artifact(pathspec, name)  # noqa: E731
    with _lock:
        kept = _values.get(key)
        if kept is not None:
            _values.move_to_end(key)
            return kept[0]
    if size > PREVIEW_CAP:
        raise PreviewError(
            f"{name!r} is {human_size(size)} stored, over the preview cap of "
            f"{human_size(PREVIEW_CAP)}"
        )
    value = reader()
    if not keep:
        return value
    with _lock:
        _values[key] = (value, size, {})
        while len(_values) > KEPT_VALUES or (
            len(_values) > 1 and sum(v[1] for v in _values.values()) > KEPT_BYTES
        ):
            _values.popitem(last=False)
    return value


def memo_for(value: Any) -> dict[Any, Any]:
    """Per-value scratch (sort orders), kept as long as the value is: a sort computed once
    serves every later page, and goes when the value is pushed out. A value not kept gets a
    fresh dict (its work is simply not remembered)."""
    with _lock:
        for kept, _, memo in _values.values():
            if kept is value:
                return memo
    return {}
