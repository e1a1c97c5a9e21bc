"""Artifact previews for the editor's Artifacts view and table viewer, and for agents.

Three questions, each answered without a value ever travelling whole:

- `list_artifacts`: a step's artifacts from its latest spin (or a run's task), each with type,
  shape or length, size and a badge: `new` (the spin set it, its base task had none), `changed`
  (the spin changed it), `inherited` (as in the base task). Type, repr and size come from the
  spin record or the task's `data.json`; shape and length from the repr, or from the value
  when it is stored small (`values.LOAD_CAP`).
- `children` (`valuetree`): one level below an artifact path (`["d", "key"]`): dict keys, list
  items, object attributes, DataFrame columns with dtypes, an array's rows.
- `page` (`valuetable`): rows `offset .. offset + limit` of a DataFrame, Series, array or list
  of records, optionally sorted by a column.

This module answers the first and the agents' `agent_preview`, and is the one place callers
import from: the value is read (`artifactread.read_value`: safely, under `PREVIEW_CAP`, the
last few kept) and walked or paged by the modules named above, re-exported here.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from flowspin.agents.artifactread import (
    KEPT_BYTES,
    KEPT_VALUES,
    PREVIEW_CAP,
    PreviewError,
    read_value,
)
from flowspin.agents.values import LOAD_CAP, human_size, one_line, run_values, spin_values
from flowspin.agents.valuetable import CELL_CHARS, MAX_LIMIT, page
from flowspin.agents.valuetree import (
    MAX_CHILDREN,
    children,
    descend,
    kind_of,
    record_columns,
    shape_of,
)

__all__ = [
    "AGENT_CHARS",
    "AGENT_ROWS",
    "BADGE_WAIT_S",
    "CELL_CHARS",
    "KEPT_BYTES",
    "KEPT_VALUES",
    "MAX_CHILDREN",
    "MAX_LIMIT",
    "PREVIEW_CAP",
    "PreviewError",
    "agent_preview",
    "children",
    "descend",
    "list_artifacts",
    "page",
    "read_value",
]

_METAFLOW_OWN = {"name"}  # a task's artifacts Metaflow sets itself (the flow's name)


# --- which artifacts ------------------------------------------------------------------------


def _base_task(flow_file: Path, flow_name: str, step: str, run_id: str | None) -> Any:
    """The run task a listing compares with, or None: a failed lookup costs the badges only."""
    try:
        return run_values(flow_file, flow_name, step, run_id=run_id, load=False)
    except Exception:
        return None


BADGE_WAIT_S = 2.0  # how long a spin's listing waits for its base task (the badges)
_lock = threading.Lock()
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
                summary.update(shape_of(value))
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
    """The spin's record, read once per listing and handed to each small read."""
    from flowspin.store import Store, workspace_root

    record: dict[str, Any] = Store(workspace_root(flow_file)).read_record(flow_file, step, spin_id)
    return record


def _expandable_type(type_name: str) -> bool:
    """Whether a row gets a twisty, from its type name alone: the listing never reads a big
    value to find out."""
    scalar = ("int", "float", "bool", "str", "NoneType", "complex", "bytes", "bytearray")
    return type_name.rsplit(".", 1)[-1] not in scalar


def _table_type(type_name: str) -> bool:
    """Whether a row offers the table viewer, from its type name alone (as above)."""
    short = type_name.rsplit(".", 1)[-1]
    return short in ("DataFrame", "Series", "ndarray", "list", "tuple")


# --- for agents -----------------------------------------------------------------------------

AGENT_ROWS = 10  # rows of a table preview in a tool result
AGENT_CHARS = 4000  # characters of that preview, at most


def agent_preview(value: Any, rows: int = AGENT_ROWS) -> dict[str, Any] | None:
    """A model-sized preview: a table's first rows as columns + rows (cells cut), or one level
    of children; None when the summary says it all."""
    import json

    kind = kind_of(value)
    if kind in ("dataframe", "series", "ndarray") or record_columns(value) is not None:
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
