"""Small questions about `ast` nodes that every part of the parser asks.

Is this `self.x`? What is a decorator's or base's name (`card` for `metaflow.card(...)`)? What
literal does this hold (kept as source text when it is not one, since nothing is evaluated)?
And a walk over a statement list, faster than `ast.walk`, since walking the step bodies is the
bulk of a parse.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from flowspin.analysis.model import Expr
from flowspin.analysis.source import Source


def dotted_tail(node: ast.AST) -> str | None:
    """`card` for `card`, `metaflow.card`, `card(...)`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def is_self_attr(node: ast.AST) -> bool:
    """`self.x`: an artifact, a step (in `self.next`) or a member, never a local name."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def value_of(node: ast.AST, src: Source) -> Any:
    """A literal's value, else its source text as `Expr` (nothing is evaluated)."""
    try:
        return ast.literal_eval(node)
    except Exception:  # noqa: BLE001 - anything non-literal is kept as text
        return Expr(src.segment(node))


def literal_kind(node: ast.expr) -> tuple[str, int | None] | None:
    """("int", None), ("list", 3)... for a literal value (containers sized), else None."""
    if isinstance(node, ast.Constant):
        value = node.value
        kind = "none" if value is None else type(value).__name__
        return kind, (len(value) if isinstance(value, (str, bytes)) else None)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return type(node).__name__.lower(), len(node.elts)
    if isinstance(node, ast.Dict):
        return "dict", len(node.keys)
    return None


def walk(nodes: list[ast.stmt]) -> Iterator[ast.AST]:
    """Pre-order walk (parents before children), faster than `ast.walk`: it skips the
    `ctx` markers that make up a third of all nodes."""
    stack: list[ast.AST] = list(reversed(nodes))
    node_type = ast.AST
    while stack:
        node = stack.pop()
        yield node
        for name in node._fields:
            if name == "ctx":
                continue
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(v for v in reversed(value) if isinstance(v, node_type))
            elif isinstance(value, node_type):
                stack.append(value)
