"""Compact, size-capped descriptions of artifact values for agents.

An agent reads tool results as tokens, so a 160 MB DataFrame must come back as its shape, dtypes
and first rows, never as the whole thing; every other value is cut to a short repr. Nothing here
imports pandas or numpy: a value is recognised by duck typing, so the MCP server pays for those
libraries only when the artifact really is one of them (and it was already imported to unpickle it).
"""

from __future__ import annotations

import reprlib
from typing import Any

REPR_LIMIT = 500
HEAD_ROWS = 5
MAX_COLUMNS_LISTED = 50
TEXT_LIMIT = 2000


def cut(text: str, limit: int = REPR_LIMIT) -> str:
    """`text` shortened to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more chars]"


def type_name(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _is_dataframe(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")


def _is_series(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "Series" and cls.__module__.startswith("pandas")


def _is_ndarray(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "ndarray" and cls.__module__ == "numpy"


def safe_repr(value: Any, limit: int) -> str:
    try:
        # reprlib bounds the work for huge containers; plain repr is nicer for everything else.
        if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > 100:
            short = reprlib.Repr()
            short.maxlist = short.maxtuple = short.maxset = short.maxfrozenset = 20
            short.maxdict = 20
            short.maxstring = short.maxother = 200
            text = short.repr(value)
        else:
            text = repr(value)
    except Exception as exc:  # a user class whose __repr__ raises must not break the tool
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    return cut(text, limit)


def summarize(value: Any, limit: int = REPR_LIMIT) -> dict[str, Any]:
    """A JSON-ready summary of `value` whose size does not grow with the value."""
    summary: dict[str, Any] = {"type": type_name(value)}
    try:
        if _is_dataframe(value):
            summary["shape"] = list(value.shape)
            dtypes = {str(col): str(dtype) for col, dtype in value.dtypes.items()}
            if len(dtypes) > MAX_COLUMNS_LISTED:
                summary["dtypes_truncated"] = len(dtypes) - MAX_COLUMNS_LISTED
                dtypes = dict(list(dtypes.items())[:MAX_COLUMNS_LISTED])
            summary["dtypes"] = dtypes
            summary["head"] = cut(value.head(HEAD_ROWS).to_string(), TEXT_LIMIT)
            return summary
        if _is_series(value):
            summary["shape"] = list(value.shape)
            summary["dtype"] = str(value.dtype)
            summary["name"] = None if value.name is None else str(value.name)
            summary["head"] = cut(value.head(HEAD_ROWS).to_string(), TEXT_LIMIT)
            return summary
        if _is_ndarray(value):
            summary["shape"] = list(value.shape)
            summary["dtype"] = str(value.dtype)
            if value.size <= 20:
                summary["repr"] = safe_repr(value, limit)
            return summary
    except Exception as exc:  # summarising must never fail the tool call
        summary["summary_error"] = f"{type(exc).__name__}: {exc}"
    if isinstance(value, (list, tuple, dict, set, frozenset, str, bytes)):
        summary["len"] = len(value)
    summary["repr"] = safe_repr(value, limit)
    return summary
