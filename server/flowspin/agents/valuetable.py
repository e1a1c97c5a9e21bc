"""A page of rows of a table-like value, optionally sorted, for the table viewer and agents.

Its own module because paging has a job the tree does not: a DataFrame, Series, array or list
of records may hold millions of rows, and the viewer asks for `offset .. offset + limit` of
them, sorted by any column. Only the rows shown are formatted (cells made JSON-ready and cut
to `CELL_CHARS`), and a sort's order is computed once per value, column and direction and kept
with the value (`artifactread.memo_for`), so the next page is a slice. A list's page is plain
Python: the server's interpreter may have no pandas.
"""

from __future__ import annotations

import math
from typing import Any

from flowspin.agents.artifactread import memo_for
from flowspin.agents.valuetree import kind_of, record_columns

MAX_LIMIT = 500  # rows per page
CELL_CHARS = 200  # characters of a text cell


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

    memo = memo_for(value)
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
    kind = kind_of(value)
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
    columns = record_columns(value)
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
        memo = memo_for(value)
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
    """What the viewer shows of a value that is no table: JSON when it is data, else its repr
    (both cut, so a huge string never travels whole)."""
    import json

    from flowspin.agents.summary import safe_repr

    if isinstance(value, str):
        return value[:limit]
    try:
        return json.dumps(value, indent=2, default=str)[:limit]
    except (TypeError, ValueError):
        return safe_repr(value, limit)
