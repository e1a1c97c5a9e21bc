"""Artifact previews for the editor's Artifacts view and table viewer, and for agents.

Three questions, each answered without a value ever travelling whole:

- `list_artifacts`: a step's artifacts from its latest spin (or a run's task), each with type,
  shape or length, size and a badge: `new` (the spin set it, its base task had none), `changed`
  (the spin changed it), `inherited` (as in the base task). Type, repr and size come from the
  spin record or the task's `data.json`; shape and length from the repr, or from the value
  when it is stored small (`values.LOAD_CAP`).
- `children`: one level below an artifact path (`["d", "key"]`): dict keys, list items,
  object attributes, DataFrame columns with dtypes, an array's rows; at most `MAX_CHILDREN`.
- `page`: rows `offset .. offset + limit` of a DataFrame, Series, array or list of records,
  optionally sorted by a column; only those rows are formatted (a sort's order is computed once
  per value and column and kept with the value).

Values are read with `values._SafeUnpickler` (standard library and data libraries only: the
language server never imports user code) and only when stored under `PREVIEW_CAP` bytes; the
last few values read are kept (`_values`), so paging and sorting do not read a value again.
"""

from __future__ import annotations

import io
import math
import pickle
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from flowspin.agents.values import (
    LOAD_CAP,
    _SafeUnpickler,
    human_size,
    one_line,
    run_values,
    spin_values,
)

PREVIEW_CAP = 1_000_000_000  # bytes as stored: a value over this is described, never read
MAX_CHILDREN = 200  # children listed per level
MAX_LIMIT = 500  # rows per page
CELL_CHARS = 200  # characters of a text cell
KEPT_VALUES = 4  # values kept in memory for paging
KEPT_BYTES = 2_000_000_000  # and their stored size at most


_METAFLOW_OWN = {"name"}  # a task's artifacts Metaflow sets itself (the flow's name)


class PreviewError(LookupError):
    """What cannot be shown, and why (the message is for the user)."""


# --- which artifacts ------------------------------------------------------------------------


def _base_task(flow_file: Path, flow_name: str, step: str, run_id: str | None) -> Any:
    try:
        return run_values(flow_file, flow_name, step, run_id=run_id, load=False)
    except Exception:
        return None


BADGE_WAIT_S = 2.0  # how long a spin's listing waits for its base task (the badges)
_pool: ThreadPoolExecutor | None = None
_pending: dict[tuple[str, str, str, str], Future[Any]] = {}


def _base_task_waiting(flow_file: Path, flow_name: str, step: str, run_id: str) -> Any:
    """`_base_task` waited for at most BADGE_WAIT_S: a slow metadata service costs the listing
    its new/changed distinction (every changed artifact reads "changed"), never the file's
    worker thread for minutes; the lookup goes on and its answer is cached for the next."""
    global _pool
    key = (str(flow_file), flow_name, step, run_id)
    with _lock:
        future = _pending.get(key)
        if future is None or (future.done() and future.result() is None):
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowspin-preview")
            future = _pool.submit(_base_task, flow_file, flow_name, step, run_id)
            _pending[key] = future
    try:
        return future.result(timeout=BADGE_WAIT_S)
    except FutureTimeout:
        return None


def list_artifacts(
    flow_file: Path, flow_name: str, step: str, source: str = "spin"
) -> dict[str, Any]:
    """The step's artifacts from `source`: "spin" (its latest successful spin), "run" (the
    spin's base run, else the latest run) or "run:<id>". A step never spun answers "spin"
    with the latest run's task, saying so (`note`; `source_key` is then "run": what the
    children and pages of these rows are read from)."""
    spin = spin_values(flow_file, step)
    base_run = spin.source.run_id if spin is not None else None
    if source == "spin" and spin is None:
        try:
            answer = list_artifacts(flow_file, flow_name, step, "run")
        except PreviewError:
            raise PreviewError(
                f"step {step!r} has no successful spin and no finished task in a recent run: "
                "spin it or run the flow"
            ) from None
        return {**answer, "note": "not spun yet: the latest run's task"}
    if source == "spin" and spin is not None:
        base = _base_task_waiting(flow_file, flow_name, step, str(base_run)) if base_run else None
        shown = spin
    else:
        run_id = source.split(":", 1)[1] if source.startswith("run:") else base_run
        shown = _base_task(flow_file, flow_name, step, str(run_id) if run_id else None)
        if shown is None:
            which = f"run {run_id}" if run_id else "any recent run"
            raise PreviewError(f"step {step!r} has no finished task in {which}")
        base = None
    base_names = set(base.values) if base is not None else set()
    rows = []
    record: dict[str, Any] | None = None
    for name in sorted(shown.values):
        if name in _METAFLOW_OWN:
            continue
        summary = dict(shown.values[name])
        badge = None
        if shown.source.kind == "spin":
            if summary.get("changed"):
                badge = "changed" if name in base_names or base is None else "new"
            else:
                badge = "inherited"
        if summary.get("size") is not None and summary["size"] <= LOAD_CAP:
            try:
                if record is None and shown.source.kind == "spin":
                    record = _record(flow_file, step, shown.source.spin_id)
                value = read_value(flow_file, flow_name, step, source, name, False, record)
                summary.update(_shape_of(value))
            except Exception:
                pass
        rows.append(
            {
                "name": name,
                "type": summary.get("type"),
                "shape": summary.get("shape"),
                "len": summary.get("len"),
                "size": summary.get("size"),
                "size_text": human_size(summary.get("size")),
                "badge": badge,
                "summary": one_line(summary, 80),
                "expandable": _expandable_type(str(summary.get("type") or "")),
                "table": _table_type(str(summary.get("type") or "")),
            }
        )
    return {"ok": True, "source": shown.source.as_dict(), "label": shown.source.label(),
            "source_key": source, "note": None, "artifacts": rows}  # fmt: skip


def _record(flow_file: Path, step: str, spin_id: str | None) -> dict[str, Any]:
    from flowspin.store import Store, workspace_root

    record: dict[str, Any] = Store(workspace_root(flow_file)).read_record(flow_file, step, spin_id)
    return record


def _expandable_type(type_name: str) -> bool:
    scalar = ("int", "float", "bool", "str", "NoneType", "complex", "bytes", "bytearray")
    return type_name.rsplit(".", 1)[-1] not in scalar


def _table_type(type_name: str) -> bool:
    short = type_name.rsplit(".", 1)[-1]
    return short in ("DataFrame", "Series", "ndarray", "list", "tuple")


def _shape_of(value: Any) -> dict[str, Any]:
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        return {"shape": list(shape)}
    if isinstance(value, (list, tuple, dict, set, frozenset, bytes)):
        return {"len": len(value)}
    return {}


# --- reading a value ------------------------------------------------------------------------

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
    return _SafeUnpickler(io.BytesIO(head), buffers=buffers).load()


def _read_blob(store: Any, sha: str) -> Any:
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
    from flowspin.agents.values import _load_safely
    from flowspin.store.mfload import open_task

    opened = open_task(pathspec)
    key = opened.tds._objects.get(name)
    if key is None:
        raise PreviewError(f"task {pathspec} has no artifact {name!r}")
    loaded = _load_safely(opened, {name: key})
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
    """The artifact's value from `source` (see `list_artifacts`), read safely; kept for the
    next pages when `keep` (the listing's small reads are not: they would push out the big
    value being paged). `record`: the spin's record, when the caller has read it."""
    from flowspin.agents.values import _open_datastore
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
            _open_datastore(flow_file)
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


def _memo(value: Any) -> dict[Any, Any]:
    """Per-value scratch (sort orders), kept as long as the value is."""
    with _lock:
        for kept, _, memo in _values.values():
            if kept is value:
                return memo
    return {}


# --- walking into a value -------------------------------------------------------------------


def _kind(value: Any) -> str:
    cls = type(value)
    module = cls.__module__.split(".", 1)[0]
    if module == "pandas" and cls.__name__ in ("DataFrame", "Series", "Index"):
        return cls.__name__.lower()
    if module == "numpy" and cls.__name__ == "ndarray":
        return "ndarray"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, (set, frozenset)):
        return "set"
    if isinstance(value, (str, bytes, bytearray, int, float, complex, bool)) or value is None:
        return "scalar"
    if module == "numpy":
        return "scalar"
    return "object"


def _attrs(value: Any) -> dict[str, Any]:
    found = getattr(value, "__dict__", None)
    if isinstance(found, dict):
        return {str(k): v for k, v in found.items() if not str(k).startswith("__")}
    slots = getattr(type(value), "__slots__", ())
    return {s: getattr(value, s) for s in slots if hasattr(value, s)}


def descend(value: Any, path: list[Any]) -> Any:
    """The value at `path` below `value` (keys as shown by `children`)."""
    for part in path:
        kind = _kind(value)
        text = str(part)
        if kind == "dict":
            for key in value:
                if str(key) == text:
                    value = value[key]
                    break
            else:
                raise PreviewError(f"no key {text!r}")
        elif kind in ("list", "ndarray", "series"):
            try:
                index = int(text)
                value = value.iloc[index] if kind == "series" else value[index]
            except (ValueError, IndexError) as exc:
                raise PreviewError(f"no item {text!r}") from exc
        elif kind == "dataframe":
            matches = [c for c in value.columns if str(c) == text]
            if not matches:
                raise PreviewError(f"no column {text!r}")
            value = value[matches[0]]
        elif kind == "object":
            attrs = _attrs(value)
            if text not in attrs:
                raise PreviewError(f"no attribute {text!r}")
            value = attrs[text]
        else:
            raise PreviewError(f"{type(value).__name__} has nothing below it")
    return value


def _summary(value: Any) -> dict[str, Any]:
    from flowspin.agents.summary import type_name

    summary: dict[str, Any] = {"type": type_name(value), **_shape_of(value)}
    kind = _kind(value)
    if kind in ("scalar", "list", "dict", "set", "object") or (
        kind == "ndarray" and getattr(value, "size", 0) <= 20
    ):
        from flowspin.agents.summary import _safe_repr

        summary["repr"] = _safe_repr(value, 120)
    if kind == "series" or kind == "ndarray":
        summary["dtype"] = str(value.dtype)
    return summary


def _child(key: Any, value: Any, label: str | None = None) -> dict[str, Any]:
    summary = _summary(value)
    kind = _kind(value)
    expandable = kind in ("dict", "list", "set", "object", "dataframe") or (
        kind in ("ndarray", "series") and len(getattr(value, "shape", ())) >= 1
    )
    if kind in ("list", "dict", "set") and not len(value):
        expandable = False
    text = one_line(summary, 80)
    if summary.get("dtype"):
        text += f" {summary['dtype']}"
    return {
        "key": str(key),
        "label": label or str(key),
        "type": summary["type"],
        "summary": text,
        "expandable": expandable and kind != "set",
        "table": kind in ("dataframe", "series", "ndarray") or _records(value) is not None,
    }


def children(value: Any, limit: int = MAX_CHILDREN) -> dict[str, Any]:
    """One level below `value`: {"children": [...], "total": n, "more": left out}."""
    kind = _kind(value)
    out: list[dict[str, Any]] = []
    total = 0
    if kind == "dataframe":
        total = value.shape[1]
        for i, (column, dtype) in enumerate(value.dtypes.items()):
            if i >= limit:
                break
            out.append(
                {
                    "key": str(column),
                    "label": str(column),
                    "type": str(dtype),
                    "summary": f"{dtype}, {len(value)} rows",
                    "expandable": False,
                    "table": True,
                }
            )
    elif kind == "dict":
        total = len(value)
        for i, (key, item) in enumerate(value.items()):
            if i >= limit:
                break
            out.append(_child(key, item, repr(key) if not isinstance(key, str) else key))
    elif kind == "list":
        total = len(value)
        for i in range(min(total, limit)):
            out.append(_child(i, value[i], f"[{i}]"))
    elif kind in ("ndarray", "series"):
        shape = getattr(value, "shape", ())
        total = shape[0] if shape else 0
        if kind == "ndarray":
            out.append(
                {"key": "", "label": "shape", "type": "", "summary":
                 f"{' x '.join(str(n) for n in shape)} of {value.dtype}",
                 "expandable": False, "table": False, "info": True}
            )  # fmt: skip
        for i in range(min(total, limit)):
            item = value.iloc[i] if kind == "series" else value[i]
            out.append(_child(i, item, f"[{i}]"))
    elif kind == "set":
        total = len(value)
        for i, item in enumerate(value):
            if i >= limit:
                break
            out.append({**_child(i, item, "·"), "expandable": False})
    elif kind == "object":
        attrs = _attrs(value)
        total = len(attrs)
        for i, (key, item) in enumerate(attrs.items()):
            if i >= limit:
                break
            out.append(_child(key, item))
    return {"children": out, "total": total, "more": max(0, total - len(out))}


# --- tables ---------------------------------------------------------------------------------


def _records(value: Any) -> list[str] | None:
    """The columns of a list of records (dicts with str keys), else None."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    columns: dict[str, None] = {}
    for item in value[:100]:
        if not isinstance(item, dict):
            return None
        for key in item:
            columns[str(key)] = None
    return list(columns)


def _cell(value: Any) -> Any:
    """A JSON-ready cell: numbers as numbers (NaN and infinities as text), the rest as text."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        try:
            value = item()
        except Exception:
            pass
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception as exc:
        text = f"<{type(exc).__name__}>"
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _order(value: Any, column: str | None, descending: bool, frame: Any) -> Any:
    """Row positions in sorted order (numpy), computed once per value, column and direction."""
    import numpy as np

    memo = _memo(value)
    key = ("order", column, descending)
    if key in memo:
        return memo[key]
    series = frame.iloc[:, 0] if column is None else frame[column]
    data = series.to_numpy()
    if data.dtype.kind in "iub" or (data.dtype.kind == "f" and not np.isnan(data).any()):
        order = np.argsort(data, kind="stable")  # numpy's radix/timsort: no NaN handling
    else:
        try:
            order = series.argsort(kind="stable").to_numpy()  # missing values last
        except TypeError:  # mixed types: by their text
            order = series.astype(str).argsort(kind="stable").to_numpy()
    if descending:
        order = order[::-1]
    order = np.asarray(order)
    memo[key] = order
    return order


def page(
    value: Any,
    offset: int = 0,
    limit: int = 100,
    sort: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Rows `offset .. offset + limit` of a table-like value:
    {"kind": "table", "columns": [{name, dtype, numeric}], "rows": [[cell]], "index": [label],
     "total": rows, "offset", "sort"}; other values: {"kind": "text", "text": ...}."""
    offset = max(0, int(offset))
    limit = max(1, min(int(limit), MAX_LIMIT))
    kind = _kind(value)
    frame = None
    if kind == "dataframe":
        frame = value
    elif kind == "series":
        frame = value.to_frame(name=str(value.name) if value.name is not None else "value")
    elif kind == "ndarray" and value.ndim in (1, 2):
        import pandas as pd

        frame = pd.DataFrame(value if value.ndim == 2 else value.reshape(-1, 1))
        if value.ndim == 1:
            frame.columns = ["value"]
    elif kind == "list":
        return _list_page(value, offset, limit, sort)
    if frame is None:
        return {"kind": "text", "text": _as_text(value)}
    names = [str(c) for c in frame.columns]
    total = len(frame)
    sorted_by = None
    if sort and isinstance(sort.get("column"), str) and sort["column"] in names:
        column = frame.columns[names.index(sort["column"])]
        descending = bool(sort.get("descending"))
        order = _order(value, column, descending, frame)
        rows_at = order[offset : offset + limit]
        shown = frame.iloc[rows_at]
        sorted_by = {"column": sort["column"], "descending": descending}
    else:
        shown = frame.iloc[offset : offset + limit]
    out_columns = []
    for name, dtype in zip(names, frame.dtypes, strict=True):
        numeric = getattr(dtype, "kind", "") in "iufc" and str(dtype) != "bool"
        out_columns.append({"name": name, "dtype": str(dtype), "numeric": bool(numeric)})
    rows = [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    return {
        "kind": "table",
        "columns": out_columns,
        "index": [_cell(i) for i in shown.index],
        "rows": rows,
        "total": total,
        "offset": offset,
        "limit": limit,
        "sort": sorted_by,
    }


def _sort_key(cell: Any) -> tuple[int, Any]:
    """Numbers first by value, then text, then missing values: any mix compares."""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return (0, cell) if cell == cell else (2, 0)  # NaN with the missing values
    if cell is None:
        return (2, 0)
    return (1, str(cell))


def _list_page(value: Any, offset: int, limit: int, sort: dict[str, Any] | None) -> dict[str, Any]:
    """A page of a list: of records (dicts), a column per key; else one column `value`.
    Plain Python (no pandas needed); a sort's order is kept with the value."""
    columns = _records(value)
    names = columns or ["value"]
    keys = [None] * len(names) if columns is None else names

    def cells(item: Any) -> list[Any]:
        if columns is None:
            return [item]
        found = {str(k): v for k, v in item.items()} if isinstance(item, dict) else {}
        return [found.get(str(k)) for k in keys]

    total = len(value)
    positions: Any = range(total)
    sorted_by = None
    if sort and isinstance(sort.get("column"), str) and sort["column"] in names:
        at = names.index(sort["column"])
        descending = bool(sort.get("descending"))
        memo = _memo(value)
        key = ("order", sort["column"], descending)
        if key not in memo:
            ranks = [_sort_key(cells(value[i])[at]) for i in range(total)]
            present = [i for i in range(total) if ranks[i][0] != 2]
            present.sort(key=lambda i: ranks[i], reverse=descending)
            memo[key] = present + [i for i in range(total) if ranks[i][0] == 2]  # missing last
        positions = memo[key]
        sorted_by = {"column": sort["column"], "descending": descending}
    shown = list(positions[offset : offset + limit])
    rows = [[_cell(c) for c in cells(value[i])] for i in shown]
    sample = [cells(item) for item in value[:100]]
    out_columns = []
    for j, name in enumerate(names):
        kinds = {type(r[j]).__name__ for r in sample if r[j] is not None}
        numeric = bool(kinds) and kinds <= {"int", "float"}
        dtype = kinds.pop() if len(kinds) == 1 else "object"
        out_columns.append({"name": name, "dtype": dtype, "numeric": numeric})
    return {
        "kind": "table",
        "columns": out_columns,
        "index": shown,
        "rows": rows,
        "total": total,
        "offset": offset,
        "limit": limit,
        "sort": sorted_by,
    }


def _as_text(value: Any, limit: int = 20_000) -> str:
    import json

    from flowspin.agents.summary import _safe_repr

    if isinstance(value, str):
        return value[:limit]
    try:
        return json.dumps(value, indent=2, default=str)[:limit]
    except (TypeError, ValueError):
        return _safe_repr(value, limit)


# --- for agents -----------------------------------------------------------------------------

AGENT_ROWS = 10  # rows of a table preview in a tool result
AGENT_CHARS = 4000  # characters of that preview, at most


def agent_preview(value: Any, rows: int = AGENT_ROWS) -> dict[str, Any] | None:
    """A model-sized preview: a table's first rows as columns + rows (cells cut), or one level
    of children; None when the summary says it all."""
    import json

    kind = _kind(value)
    if kind in ("dataframe", "series", "ndarray") or _records(value) is not None:
        try:
            table = page(value, 0, rows)
        except Exception:
            return None
        if table["kind"] != "table":
            return None
        preview: dict[str, Any] = {
            "total_rows": table["total"],
            "columns": [c["name"] for c in table["columns"]][:50],
            "rows": [],
        }
        used = len(json.dumps(preview["columns"]))
        for row in table["rows"]:
            row = [c[:60] + "…" if isinstance(c, str) and len(c) > 60 else c for c in row[:50]]
            used += len(json.dumps(row, default=str))
            if used > AGENT_CHARS:
                preview["rows_cut"] = True
                break
            preview["rows"].append(row)
        return preview
    if kind in ("dict", "object", "list"):
        listed = children(value, 30)
        return {
            "children": {c["label"]: c["summary"] for c in listed["children"]},
            "children_total": listed["total"],
        }
    return None
