"""What sort of value an artifact is, and what lies one level below it.

Its own module because the Artifacts tree opens a value a level at a time (dict keys, list
items, object attributes, a DataFrame's columns with dtypes, an array's rows) and each level
must stay small (`MAX_CHILDREN`) however big the value is; the table pages and the agents'
previews ask the same questions of a value (`kind_of`, `record_columns`, `shape_of`), so they
are answered here once, by type and without importing any data library.
"""

from __future__ import annotations

from typing import Any

from flowspin.agents.artifactread import PreviewError
from flowspin.agents.values import one_line

MAX_CHILDREN = 200  # children listed per level


def kind_of(value: Any) -> str:
    """The few kinds the previews tell apart ("dataframe", "series", "index", "ndarray",
    "dict", "list", "set", "scalar", "object"), by class name and module so that pandas and
    numpy are never imported just to ask."""
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


def record_columns(value: Any) -> list[str] | None:
    """The columns of a list of records (dicts with str keys), else None: such a list is shown
    as a table, a column per key (its first 100 items decide)."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    columns: dict[str, None] = {}
    for item in value[:100]:
        if not isinstance(item, dict):
            return None
        for key in item:
            columns[str(key)] = None
    return list(columns)


def shape_of(value: Any) -> dict[str, Any]:
    """{"shape": [...]} or {"len": n} when the value has one, for the one-line summaries: the
    size of a thing is what a reader looks for first."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        return {"shape": list(shape)}
    if isinstance(value, (list, tuple, dict, set, frozenset, bytes)):
        return {"len": len(value)}
    return {}


def _attrs(value: Any) -> dict[str, Any]:
    """An object's own attributes (its `__dict__`, else its slots): what it holds, not what its
    properties or methods would compute."""
    found = getattr(value, "__dict__", None)
    if isinstance(found, dict):
        return {str(k): v for k, v in found.items() if not str(k).startswith("__")}
    slots = getattr(type(value), "__slots__", ())
    return {s: getattr(value, s) for s in slots if hasattr(value, s)}


def descend(value: Any, path: list[Any]) -> Any:
    """The value at `path` below `value` (keys as shown by `children`)."""
    for part in path:
        kind = kind_of(value)
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
    """A child's type, size and (when short enough to be worth it) repr; a big array's repr is
    left out, as its shape and dtype say more."""
    from flowspin.agents.summary import type_name

    summary: dict[str, Any] = {"type": type_name(value), **shape_of(value)}
    kind = kind_of(value)
    if kind in ("scalar", "list", "dict", "set", "object") or (
        kind == "ndarray" and getattr(value, "size", 0) <= 20
    ):
        from flowspin.agents.summary import safe_repr

        summary["repr"] = safe_repr(value, 120)
    if kind == "series" or kind == "ndarray":
        summary["dtype"] = str(value.dtype)
    return summary


def _child(key: Any, value: Any, label: str | None = None) -> dict[str, Any]:
    """One row of the tree: whether it opens further and whether it opens as a table."""
    summary = _summary(value)
    kind = kind_of(value)
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
        "table": kind in ("dataframe", "series", "ndarray") or record_columns(value) is not None,
    }


def children(value: Any, limit: int = MAX_CHILDREN) -> dict[str, Any]:
    """One level below `value`: {"children": [...], "total": n, "more": left out}."""
    kind = kind_of(value)
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
