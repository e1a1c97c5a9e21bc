"""Parse a flow file with `ast` (never importing it) into a `FlowModel`.

The parser records what the source says (steps, decorators, every `self.next` call, artifact
reads and writes, parameters); `graph.py` then resolves start/end and node types the way
Metaflow 2.19 does, so the lint rules and the editor see the same DAG Metaflow would build.

This module is the entry point and decides what the file is: which of its flows are bases for
subclasses elsewhere rather than flows to check. The work is split by job: `source.py`
(positions), `nodes.py` (node helpers), `inheritance.py` (which classes are flows, their bases),
`flows.py` (a class body into a `Flow`), `steps.py` (a step body), `transitions.py`
(`self.next` calls).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from flowspin.analysis.flows import parse_flow
from flowspin.analysis.graph import build_graph
from flowspin.analysis.inheritance import flow_classes
from flowspin.analysis.model import Flow, FlowModel, Span, SyntaxProblem
from flowspin.analysis.modules import Reader, Resolver, module_of, subclassed_elsewhere
from flowspin.analysis.nodes import walk
from flowspin.analysis.source import Source, syntax_problem


def parse_file(path: str | Path, read: Reader | None = None) -> FlowModel:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return parse_source(text, str(path), read)


def parse_source(source: str, path: str = "<string>", read: Reader | None = None) -> FlowModel:
    """The model of `source`. When `path` names a file, base classes and mixins imported from
    other files of the project are parsed too (`read(path)` gives a file's text, default:
    from disk; the language server passes its open documents' unsaved text)."""
    model = FlowModel(path=path)
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        model.syntax_error = syntax_problem(exc, source)
        return model
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        model.syntax_error = SyntaxProblem(f"cannot parse file: {exc}", Span(1, 0, 1, 1))
        return model
    src = Source(source)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    main = module_of(path, source, tree)
    main.classes, main.src = classes, src
    resolver = Resolver(main, read) if _is_file_path(path) else None
    flow_names = flow_classes(classes, main, resolver)
    for cls in classes.values():
        if cls.name in flow_names:
            model.flows.append(parse_flow(cls, main, resolver))
    if resolver is not None:
        model.dependencies = dict(resolver.files)
    subclassed = {
        base.id
        for cls in classes.values()
        if cls.name in flow_names
        for base in cls.bases
        if isinstance(base, ast.Name) and base.id != cls.name
    }
    instantiated = _called_names(tree)
    model.instantiated = [
        name for name in _called_in_order(tree) if any(f.name == name for f in model.flows)
    ]
    for flow in model.flows:
        build_graph(flow)
        flow.is_base = flow.name in subclassed or (
            flow.name not in instantiated
            and (
                _incomplete(flow)
                or (
                    resolver is not None
                    and _open_ended(flow)
                    and subclassed_elsewhere(path, flow.name, read) is not None
                )
            )
        )
    return model


def _is_file_path(path: str) -> bool:
    """A real file name (not `<string>` or an untitled editor buffer's URI)."""
    if not path or path.startswith("<") or "://" in path:
        return False
    return os.path.isdir(os.path.dirname(os.path.abspath(path)))


def _called_names(tree: ast.Module) -> set[str]:
    """Names called outside class bodies, e.g. `MyFlow()` under `if __name__ == "__main__"`."""
    called: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            continue
        for sub in walk([stmt]):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                called.add(sub.func.id)
    return called


def _called_in_order(tree: ast.Module) -> list[str]:
    """Like `_called_names`, in the order the calls appear (each name once)."""
    order: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            continue
        calls = [s for s in walk([stmt]) if isinstance(s, ast.Call)]
        for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
            if isinstance(call.func, ast.Name) and call.func.id not in order:
                order.append(call.func.id)
    return order


def _incomplete(flow: Flow) -> bool:
    """No start or no end step (or a lone step pointing elsewhere): on its own it is a base
    for subclasses defined in other files. A class with both is a flow being written, so its
    DAG is checked even before the file has its `if __name__ == "__main__"` block."""
    if flow.start_step is None or flow.end_step is None:
        return True
    # One step that goes somewhere else: Metaflow calls it both start and end, but it is the
    # head of a flow whose other steps a subclass adds.
    return len(flow.steps) == 1 and any(s.out_steps for s in flow.steps.values())


def _open_ended(flow: Flow) -> bool:
    """Transitions to steps the class does not define. In a file that never runs it, with a
    subclass in another project file, it is a base flow whose subclass adds those steps: the
    subclass is checked with them; checked alone, the base would show errors that are not
    there. (Without such a subclass it is a flow being written, checked as usual.)"""
    return any(t not in flow.steps for s in flow.steps.values() for t in s.out_steps)
