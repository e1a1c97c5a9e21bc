"""Which classes of a file are flows, and in which order their bases are looked up.

A flow class is recognised by what it derives from, directly, through other classes of the
file, or through classes of project files it imports (`modules.py` finds those); a class with
steps on an unknown base counts too. `linearize` then gives the classes whose bodies make up
the flow, in the order attribute lookup would visit them, and the bases that stay unknown (so
the rules know what they cannot see).
"""

from __future__ import annotations

import ast

from flowspin.analysis.modules import MAX_DEPTH, Module, Resolver
from flowspin.analysis.nodes import dotted_tail


def base_names(cls: ast.ClassDef) -> list[str]:
    """The bases as the user wrote them, shortened to the class name where there is one."""
    return [dotted_tail(b) or ast.unparse(b) for b in cls.bases]


def flow_classes(
    classes: dict[str, ast.ClassDef], main: Module, resolver: Resolver | None
) -> set[str]:
    """Classes deriving from FlowSpec, directly or through other classes of the file or of
    project files they import; and classes with @step methods deriving from a class imported
    from elsewhere (a flow built on a base flow of another module we cannot see)."""
    flows: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, cls in classes.items():
            if name in flows:
                continue
            if (
                _derives_from_flow(cls, flows)
                or (_has_external_base(cls, classes) and _has_steps(cls))
                or (resolver is not None and _reaches_flowspec(resolver, main, cls, 0, set()))
            ):
                flows.add(name)
                changed = True
    return flows


def _reaches_flowspec(
    resolver: Resolver, module: Module, cls: ast.ClassDef, depth: int, seen: set[tuple[str, str]]
) -> bool:
    """Whether `cls` derives from FlowSpec through classes found in project files."""
    key = (module.path, cls.name)
    if depth > MAX_DEPTH or key in seen:
        return False
    seen.add(key)
    for base in cls.bases:
        if dotted_tail(base) == "FlowSpec":
            return True
        if isinstance(base, ast.Name) and base.id == cls.name:
            continue
        found = resolver.resolve(module, base)
        if found is not None and _reaches_flowspec(resolver, *found, depth + 1, seen):
            return True
    return False


def _derives_from_flow(cls: ast.ClassDef, flows: set[str]) -> bool:
    return any(
        dotted_tail(base) == "FlowSpec"
        or (isinstance(base, ast.Name) and base.id in flows and base.id != cls.name)
        for base in cls.bases
    )


def _has_external_base(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> bool:
    return any(
        dotted_tail(base) not in ("FlowSpec", "object")
        and not (isinstance(base, ast.Name) and base.id in classes)
        for base in cls.bases
    )


def _has_steps(cls: ast.ClassDef) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(dotted_tail(d) == "step" for d in node.decorator_list)
        for node in cls.body
    )


def linearize(
    cls: ast.ClassDef, main: Module, resolver: Resolver | None
) -> tuple[list[tuple[Module, ast.ClassDef]], list[str]]:
    """Classes in lookup order (an approximation of the MRO) with the module defining each,
    and the bases found neither in the file nor in the project's files (other than FlowSpec
    and object): those may define steps, parameters or attributes we cannot see."""
    order: list[tuple[Module, ast.ClassDef]] = []
    external: list[str] = []
    seen: set[tuple[str, str]] = set()

    def visit(module: Module, c: ast.ClassDef, depth: int) -> None:
        key = (module.path, c.name)
        if key in seen or depth > MAX_DEPTH:
            return
        seen.add(key)
        order.append((module, c))
        for base in c.bases:
            if isinstance(base, ast.Name) and base.id in module.classes and base.id != c.name:
                visit(module, module.classes[base.id], depth + 1)
                continue
            if dotted_tail(base) in ("FlowSpec", "object"):
                continue
            found = resolver.resolve(module, base) if resolver is not None else None
            if found is not None and found[1] is not c:
                visit(*found, depth + 1)
            else:
                external.append(ast.unparse(base))

    visit(main, cls, 0)
    return order, external
