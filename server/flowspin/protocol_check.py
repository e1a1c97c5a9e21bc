"""Whether a payload has the shape `flowspin.protocol` gives it, at run time.

TypedDicts are only hints to a type checker; the tests hold the server's real payloads (and
the generated TypeScript validators) against them with this checker, so a field renamed or
dropped on one side fails a test instead of a user's session. A module of its own so the
protocol module stays definitions only.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union


def check(value: Any, tp: Any, where: str = "$") -> list[str]:
    """What in `value` does not match `tp` (a type of this module), as `path: problem` lines;
    empty when it matches. Extra keys are fine; a float field takes an int (JSON has one
    number type)."""
    if tp is Any:
        return []
    if tp is None or tp is type(None):
        return _expect(value is None, where, "null", value)
    if tp is bool:
        return _expect(isinstance(value, bool), where, "a boolean", value)
    if tp is int or tp is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        whole = not (tp is int and isinstance(value, float) and not value.is_integer())
        return _expect(number and whole, where, "a number", value)
    if tp is str:
        return _expect(isinstance(value, str), where, "a string", value)
    if typing.is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: expected an object ({tp.__name__}), got {type(value).__name__}"]
        found: list[str] = []
        hints = typing.get_type_hints(tp)
        for key, hint in hints.items():
            if key in value:
                found += check(value[key], hint, f"{where}.{key}")
            elif key in tp.__required_keys__:
                found.append(f"{where}: missing {key!r} ({tp.__name__})")
        return found
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return _expect(value in args, where, f"one of {list(args)}", value)
    if origin is Union or origin is types.UnionType:
        options = [check(value, option, where) for option in args]
        if any(not problems for problems in options):
            return []
        return min(options, key=len)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in check(item, args[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        return [p for k, item in value.items() for p in check(item, args[1], f"{where}.{k}")]
    raise TypeError(f"{where}: the protocol has no type {tp!r}")


def _expect(ok: bool, where: str, what: str, value: Any) -> list[str]:
    if ok:
        return []
    text = repr(value)
    return [f"{where}: expected {what}, got {text if len(text) <= 60 else text[:57] + '...'}"]
