"""Parse a flow file with `ast` (never importing it) into a `FlowModel`.

The parser records what the source says (steps, decorators, every `self.next` call, artifact
reads and writes, parameters); `graph.py` then resolves start/end and node types the way
Metaflow 2.19 does, so the lint rules and the editor see the same DAG Metaflow would build.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

from flowspin.analysis.graph import build_graph
from flowspin.analysis.model import (
    ArtifactAccess,
    Decorator,
    Expr,
    Flow,
    FlowModel,
    ParameterDef,
    Span,
    Step,
    SyntaxProblem,
    Transition,
)
from flowspin.analysis.modules import (
    MAX_DEPTH,
    Module,
    Reader,
    Resolver,
    module_of,
    subclassed_elsewhere,
)

# Decorators whose class sets IS_PARALLEL in Metaflow and its common extensions.
PARALLEL_DECORATORS = {"parallel", "pytorch_parallel", "torchrun", "deepspeed", "metaflow_ray"}
PARAMETER_KINDS = {"Parameter": "Parameter", "IncludeFile": "Parameter", "Config": "Config"}


_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


class _Source:
    """Source lines plus conversion of `ast`'s UTF-8 byte columns to character columns."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Split as Python's tokenizer does (str.splitlines also splits on \f, \v, \x1c...).
        self.lines = _LINE_BREAKS.split(text)
        self.all_ascii = text.isascii()

    def line(self, lineno: int) -> str:
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""

    def col(self, lineno: int, byte_col: int) -> int:
        if self.all_ascii:
            return byte_col
        text = self.line(lineno)
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        end_line = getattr(node, "end_lineno", None) or line
        col = self.col(line, getattr(node, "col_offset", 0))
        end_col = getattr(node, "end_col_offset", None)
        end = self.col(end_line, end_col) if end_col is not None else len(self.line(end_line))
        return Span(line, col, end_line, end)

    def segment(self, node: ast.AST) -> str:
        try:
            text = ast.get_source_segment(self.text, node)
        except Exception:  # noqa: BLE001 - positions can be odd on edited code
            text = None
        return text if text is not None else ast.unparse(node)


def _dotted_tail(node: ast.AST) -> str | None:
    """`card` for `card`, `metaflow.card`, `card(...)`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_self_attr(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _value(node: ast.AST, src: _Source) -> Any:
    """A literal's value, else its source text as `Expr` (nothing is evaluated)."""
    try:
        return ast.literal_eval(node)
    except Exception:  # noqa: BLE001 - anything non-literal is kept as text
        return Expr(src.segment(node))


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
        model.syntax_error = _syntax_problem(exc, source)
        return model
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        model.syntax_error = SyntaxProblem(f"cannot parse file: {exc}", Span(1, 0, 1, 1))
        return model
    src = _Source(source)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    main = module_of(path, source, tree)
    main.classes, main.src = classes, src
    resolver = Resolver(main, read) if _is_file_path(path) else None
    flow_names = _flow_classes(classes, main, resolver)
    for cls in classes.values():
        if cls.name in flow_names:
            model.flows.append(_parse_flow(cls, main, resolver))
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
        for sub in _walk([stmt]):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                called.add(sub.func.id)
    return called


def _called_in_order(tree: ast.Module) -> list[str]:
    """Like `_called_names`, in the order the calls appear (each name once)."""
    order: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            continue
        calls = [s for s in _walk([stmt]) if isinstance(s, ast.Call)]
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


def _syntax_problem(exc: SyntaxError, source: str) -> SyntaxProblem:
    lines = _LINE_BREAKS.split(source)
    line = exc.lineno or 1
    line = max(1, min(line, max(len(lines), 1)))
    text = lines[line - 1] if lines else ""
    col = max((exc.offset or 1) - 1, 0)
    col = min(col, len(text))
    end_line = exc.end_lineno or line
    end_col = (exc.end_offset - 1) if exc.end_offset else col + 1
    if end_line < line or (end_line == line and end_col <= col):
        end_line, end_col = line, max(col + 1, len(text)) if col >= len(text) else col + 1
    return SyntaxProblem(exc.msg or "invalid syntax", Span(line, col, end_line, end_col))


def _base_names(cls: ast.ClassDef) -> list[str]:
    return [_dotted_tail(b) or ast.unparse(b) for b in cls.bases]


def _flow_classes(
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
    resolver: Resolver, module: Module, cls: ast.ClassDef, depth: int, seen: set
) -> bool:
    """Whether `cls` derives from FlowSpec through classes found in project files."""
    key = (module.path, cls.name)
    if depth > MAX_DEPTH or key in seen:
        return False
    seen.add(key)
    for base in cls.bases:
        if _dotted_tail(base) == "FlowSpec":
            return True
        if isinstance(base, ast.Name) and base.id == cls.name:
            continue
        found = resolver.resolve(module, base)
        if found is not None and _reaches_flowspec(resolver, *found, depth + 1, seen):
            return True
    return False


def _derives_from_flow(cls: ast.ClassDef, flows: set[str]) -> bool:
    return any(
        _dotted_tail(base) == "FlowSpec"
        or (isinstance(base, ast.Name) and base.id in flows and base.id != cls.name)
        for base in cls.bases
    )


def _has_external_base(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> bool:
    return any(
        _dotted_tail(base) not in ("FlowSpec", "object")
        and not (isinstance(base, ast.Name) and base.id in classes)
        for base in cls.bases
    )


def _has_steps(cls: ast.ClassDef) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(_dotted_tail(d) == "step" for d in node.decorator_list)
        for node in cls.body
    )


def _linearize(
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
            if _dotted_tail(base) in ("FlowSpec", "object"):
                continue
            found = resolver.resolve(module, base) if resolver is not None else None
            if found is not None and found[1] is not c:
                visit(*found, depth + 1)
            else:
                external.append(ast.unparse(base))

    visit(main, cls, 0)
    return order, external


def _source_of(module: Module) -> _Source:
    if module.src is None:
        module.src = _Source(module.text)
    return module.src  # type: ignore[return-value]


def _parse_flow(cls: ast.ClassDef, main: Module, resolver: Resolver | None) -> Flow:
    src = _source_of(main)
    flow = Flow(
        name=cls.name,
        span=src.span(cls),
        name_span=_name_span(cls, src, "class"),
        bases=_base_names(cls),
        decorators=[_dotted_tail(d) or src.segment(d) for d in cls.decorator_list],
    )
    order, flow.unresolved_bases = _linearize(cls, main, resolver)
    flow.has_external_bases = bool(flow.unresolved_bases)
    flow.base_files = list(dict.fromkeys(m.path for m, _ in order if m is not main))
    # The first class in lookup order that defines a name wins, as attribute lookup does;
    # inside one class body the last definition wins. Parameters are kept even when a step
    # reuses their name, so the clash can be reported instead of silently lost.
    claimed: set[str] = set()
    claimed_params: set[str] = set()
    steps: list[Step] = []
    for module, owner in order:
        osrc = _source_of(module)
        file = None if module is main else module.path
        if owner is not cls:  # a base's flow decorators (a FlowMutator...) apply too
            flow.decorators += [_dotted_tail(d) or osrc.segment(d) for d in owner.decorator_list]
        for node in reversed(owner.body):
            for name, kind in _defined_names(node):
                if kind == "param":
                    assert isinstance(node, (ast.Assign, ast.AnnAssign))
                    if name not in claimed_params:
                        claimed_params.add(name)
                        param = _parse_parameter(name, node, osrc)
                        if param:
                            param.file = file
                            flow.parameters.append(param)
                    if name not in claimed:
                        flow.members.setdefault(name, osrc.span(node))
                    continue
                if name in claimed:
                    if kind == "step" and owner is cls:
                        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        flow.duplicates.append((name, _name_span(node, osrc, "def")))
                    elif kind == "member" and isinstance(
                        node, (ast.FunctionDef, ast.AsyncFunctionDef)
                    ):
                        # An overridden method may still run (`super().__init__(...)`).
                        flow.helper_writes.update(_self_stores(node))
                    continue
                claimed.add(name)
                if kind == "step":
                    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    step = _parse_step(node, osrc)
                    if owner is not cls:
                        step.defined_in = owner.name
                    step.file = file
                    steps.append(step)
                else:
                    flow.members[name] = osrc.span(node)
                    if (
                        isinstance(node, (ast.Assign, ast.AnnAssign))
                        and not name.startswith("_")  # Metaflow leaves those writable
                        and node.value is not None
                        and _literal_kind(node.value) is not None
                    ):
                        flow.constants.add(name)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        flow.helper_writes.update(_self_stores(node))
    flow.parameters.sort(key=lambda p: (p.file is not None, p.span.line))
    flow.duplicates.sort(key=lambda d: d[1].line)
    steps.sort(key=lambda s: (s.defined_in is not None, s.file is not None, s.span.line))
    flow.steps = {s.name: s for s in steps}
    return flow


def _self_stores(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Attributes a method assigns on `self`."""
    return {
        sub.attr
        for sub in _walk(node.body)
        if isinstance(sub, ast.Attribute) and _is_self_attr(sub) and isinstance(sub.ctx, ast.Store)
    }


def _defined_names(node: ast.stmt) -> list[tuple[str, str]]:
    """(name, kind) pairs a class-body statement defines; kind is step, param or member."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        is_step = any(_dotted_tail(d) == "step" for d in node.decorator_list)
        return [(node.name, "step" if is_step else "member")]
    if isinstance(node, ast.ClassDef):
        return [(node.name, "member")]
    targets: list[ast.expr] = []
    value: ast.expr | None = None
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value
    elif isinstance(node, ast.AugAssign):
        targets = [node.target]
    names: list[str] = []
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.append(sub.id)
    is_param = (
        isinstance(value, ast.Call)
        and _dotted_tail(value.func) in PARAMETER_KINDS
        and len(names) == 1
    )
    return [(n, "param" if is_param else "member") for n in names]


def _parse_parameter(
    attr: str, node: ast.Assign | ast.AnnAssign, src: _Source
) -> ParameterDef | None:
    call = node.value
    if not isinstance(call, ast.Call):
        return None
    kind = PARAMETER_KINDS[_dotted_tail(call.func) or "Parameter"]
    name: str = attr
    if call.args:
        value = _value(call.args[0], src)
        name = value if isinstance(value, str) else attr
    kwargs = {k.arg: k.value for k in call.keywords if k.arg}
    if "name" in kwargs:
        value = _value(kwargs["name"], src)
        name = value if isinstance(value, str) else name
    param = ParameterDef(attr=attr, name=name, kind=kind, span=src.span(node))  # type: ignore[arg-type]
    if "default" in kwargs:
        param.default = _value(kwargs["default"], src)
        param.has_default = True
    elif "default_value" in kwargs:  # Config(..., default_value=...)
        param.default = _value(kwargs["default_value"], src)
        param.has_default = True
    if "help" in kwargs:
        help_value = _value(kwargs["help"], src)
        param.help = help_value if isinstance(help_value, str) else None
    if "type" in kwargs:
        param.type = src.segment(kwargs["type"])
    return param


def _name_span(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, src: _Source, keyword: str
) -> Span:
    line = node.lineno
    text = src.line(line)
    start = src.col(line, node.col_offset)
    idx = text.find(node.name, start + len(keyword))
    if idx < 0:
        idx = start
    return Span(line, idx, line, idx + len(node.name))


def _parse_step(node: ast.FunctionDef | ast.AsyncFunctionDef, src: _Source) -> Step:
    start_line = node.lineno
    step = Step(
        name=node.name,
        span=Span(start_line, src.col(start_line, node.col_offset), *_end(node, src)),
        name_span=_name_span(node, src, "def"),
    )
    step.first_line = min([start_line] + [d.lineno for d in node.decorator_list])
    for deco in node.decorator_list:
        name = _dotted_tail(deco) or src.segment(deco)
        if name == "step":
            if isinstance(deco, ast.Call):
                for kw in deco.keywords:
                    if kw.arg in ("start", "end"):
                        flag = _value(kw.value, src) is True
                        if kw.arg == "start":
                            step.is_start_marker = flag
                        else:
                            step.is_end_marker = flag
            continue
        decorator = Decorator(name=name, span=src.span(deco))
        if isinstance(deco, ast.Call):
            decorator.positional = [_value(a, src) for a in deco.args]
            for kw in deco.keywords:
                key = kw.arg if kw.arg is not None else "**"
                decorator.args[key] = _value(kw.value, src)
        step.decorators.append(decorator)
        if name in PARALLEL_DECORATORS or name.endswith("_parallel"):
            step.parallel = True
    args = node.args
    params = [a.arg for a in args.posonlyargs + args.args]
    step.args = params[1:]
    step.num_args = len(params)
    step.docstring = ast.get_docstring(node)
    body = node.body
    tail = body[-1] if body else None
    skip: set[int] = set()  # `self.next` itself and its `self.<step>` targets are not reads
    # `self.x = <literal>` statements of the body: target node -> the literal's kind and size
    assigned_literals: dict[int, tuple[str, int | None]] = {}
    for stmt in body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and _is_self_attr(stmt.targets[0])
        ):
            literal = _literal_kind(stmt.value)
            if literal is not None:
                assigned_literals[id(stmt.targets[0])] = literal
    skipped: list[tuple[int, int]] = []  # line ranges of code that may not run (see below)
    exits: list[int] = []
    for sub in _walk(body):
        if isinstance(sub, _MAYBE_SKIPPED):
            skipped.append((sub.lineno, getattr(sub, "end_lineno", None) or sub.lineno))
        elif isinstance(sub, (ast.Return, ast.Raise)):
            exits.append(sub.lineno)
        if id(sub) in skip:
            continue
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and _is_self_attr(sub.func)
            and sub.func.attr == "next"
        ):
            is_tail = isinstance(tail, ast.Expr) and tail.value is sub
            step.transitions.append(_parse_transition(sub, src, is_tail=is_tail))
            skip.add(id(sub.func))
            for arg in sub.args:
                if _is_self_attr(arg):
                    skip.add(id(arg))
                elif isinstance(arg, ast.Dict):
                    skip.update(id(v) for v in arg.values if _is_self_attr(v))
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Name)
            and sub.func.id == "setattr"
            and sub.args
            and isinstance(sub.args[0], ast.Name)
            and sub.args[0].id == "self"
        ):
            step.dynamic_writes = True
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and _is_self_attr(sub.func)
            and sub.func.attr == "merge_artifacts"
        ):
            kwargs = {k.arg: _value(k.value, src) for k in sub.keywords if k.arg}
            include: Any = kwargs.get("include")
            listed = isinstance(include, (list, tuple))
            step.merges.append(
                (sub.lineno, list(include) if listed else None, "include" in kwargs and not listed)
            )
        elif isinstance(sub, ast.Attribute) and _is_self_attr(sub):
            if sub.attr == "__dict__":
                step.dynamic_writes = True
            access = ArtifactAccess(sub.attr, src.span(sub))
            if isinstance(sub.ctx, ast.Store):
                literal = assigned_literals.get(id(sub))
                if literal is not None:
                    access.literal = literal
                step.writes.append(access)
            elif isinstance(sub.ctx, ast.Load):
                step.reads.append(access)
        elif isinstance(sub, ast.AugAssign) and _is_self_attr(sub.target):
            # `self.x += 1` reads x before writing it
            target = sub.target
            assert isinstance(target, ast.Attribute)
            step.reads.append(ArtifactAccess(target.attr, src.span(target)))
    _mark_certain(step, body, skipped, exits)
    step.reads.sort(key=lambda a: (a.span.line, a.span.col))
    step.writes.sort(key=lambda a: (a.span.line, a.span.col))
    return step


def _literal_kind(node: ast.expr) -> tuple[str, int | None] | None:
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


_COMPOUND = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.Match,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)
if hasattr(ast, "TryStar"):
    _COMPOUND = (*_COMPOUND, ast.TryStar)  # type: ignore[assignment]  # Python 3.11+


_MAYBE_SKIPPED = (
    ast.Lambda,
    ast.ListComp,
    ast.GeneratorExp,
    ast.SetComp,
    ast.DictComp,
    ast.IfExp,
    ast.BoolOp,
)


def _mark_certain(
    step: Step, body: list[ast.stmt], skipped: list[tuple[int, int]], exits: list[int]
) -> None:
    """Clear `certain` on accesses that may not run whenever the step runs: inside `if`,
    loops, `try`, nested functions, lambdas, comprehensions, conditional expressions
    (`skipped`: their line ranges), or after a statement that may return or raise (`exits`:
    lines of `return`/`raise`). Both come from the step's one walk, so this costs no other."""
    uncertain = list(skipped)
    after: int | None = None  # from this line on, an earlier statement may have returned
    for stmt in body:
        end = getattr(stmt, "end_lineno", None) or stmt.lineno
        if isinstance(stmt, _COMPOUND):
            uncertain.append((stmt.lineno, end))
        if any(stmt.lineno <= line <= end for line in exits):
            after = end + 1
            break
    for access in step.reads + step.writes:
        line = access.span.line
        if (after is not None and line >= after) or any(a <= line <= b for a, b in uncertain):
            access.certain = False


def _walk(nodes: list[ast.stmt]):  # noqa: ANN202 - a generator of ast nodes
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


def _end(node: ast.AST, src: _Source) -> tuple[int, int]:
    end_line = getattr(node, "end_lineno", None) or node.lineno  # type: ignore[attr-defined]
    end_col = getattr(node, "end_col_offset", None)
    return end_line, (
        src.col(end_line, end_col) if end_col is not None else len(src.line(end_line))
    )


def _parse_transition(call: ast.Call, src: _Source, is_tail: bool) -> Transition:
    """One `self.next(...)`, classified exactly as Metaflow's `DAGNode._parse` would."""
    keywords = {k.arg: k for k in call.keywords}
    span = src.span(call)
    if len(call.args) == 1 and isinstance(call.args[0], ast.Dict) and "condition" in keywords:
        return _parse_switch(call, call.args[0], keywords, span, src, is_tail)
    t = Transition(kind="linear", span=span, is_tail=is_tail)
    for arg in call.args:
        if _is_self_attr(arg):
            assert isinstance(arg, ast.Attribute)
            t.targets.append(arg.attr)
            t.target_spans.append(src.span(arg))
        else:
            t.unresolved.append(src.span(arg))
    if None in keywords:
        t.unresolved.append(src.span(keywords[None]))
    problems: list[str] = []
    if t.unresolved:
        problems.append("every target must be written as self.<step_name>")
    if "foreach" in keywords:
        t.kind = "foreach"
        kw = keywords["foreach"]
        t.foreach_span = src.span(kw.value)
        value = kw.value.value if isinstance(kw.value, ast.Constant) else None
        if isinstance(value, str):
            t.foreach = value
        else:
            t.foreach = src.segment(kw.value)
            t.foreach_is_literal = False
    if "num_parallel" in keywords:
        t.kind = "parallel"
        kw = keywords["num_parallel"]
        t.num_parallel = _value(kw.value, src)
    if "condition" in keywords:
        problems.append("a condition= needs a dict of cases as the only positional argument")
    other = [k for k in keywords if k not in ("foreach", "num_parallel", "condition")]
    if other:
        problems.append(
            "unsupported keyword(s) " + ", ".join(repr(k) if k else "**" for k in other)
        )
    if len(keywords) > 1 and not other:
        problems.append("use only one of foreach=, num_parallel= or condition=")
    if t.kind in ("foreach", "parallel"):
        if len(call.args) != 1:
            word = "foreach" if t.kind == "foreach" else "parallel"
            problems.append(f"a {word} split takes exactly one target step")
    elif not keywords:
        if not call.args:
            problems.append("self.next() needs at least one target step")
        elif len(call.args) > 1:
            t.kind = "split"
    if problems:
        t.valid = False
        t.invalid_reason = "; ".join(problems)
    return t


def _parse_switch(
    call: ast.Call,
    cases: ast.Dict,
    keywords: dict[str | None, ast.keyword],
    span: Span,
    src: _Source,
    is_tail: bool,
) -> Transition:
    t = Transition(kind="switch", span=span, is_tail=is_tail, switch_cases={})
    problems: list[str] = []
    cond = keywords["condition"].value
    t.condition_span = src.span(cond)
    if isinstance(cond, ast.Constant) and isinstance(cond.value, str):
        t.condition = cond.value
    else:
        t.condition = src.segment(cond)
        problems.append("condition= must be a string literal naming an artifact")
    assert t.switch_cases is not None
    for key, value in zip(cases.keys, cases.values, strict=False):
        if key is None:
            problems.append("switch cases cannot use ** unpacking")
            continue
        if isinstance(key, ast.Constant):
            key_text = key.value if isinstance(key.value, str) else repr(key.value)
        elif (
            isinstance(key, ast.Attribute)
            and isinstance(key.value, ast.Attribute)
            and isinstance(key.value.value, ast.Name)
            and key.value.value.id == "self"
        ):
            key_text = src.segment(key)  # a config value: self.<config>.<key>
        else:
            key_text = src.segment(key)
            problems.append(
                f"switch key {key_text} must be a literal or a config value self.<config>.<key>"
            )
        if _is_self_attr(value):
            assert isinstance(value, ast.Attribute)
            t.switch_cases[key_text] = value.attr
            t.targets.append(value.attr)
            t.target_spans.append(src.span(value))
        else:
            t.unresolved.append(src.span(value))
            problems.append(f"switch case {key_text} must map to self.<step_name>")
    if not cases.keys:
        problems.append("a switch needs at least one case")
    if problems:
        t.valid = False
        t.invalid_reason = "; ".join(dict.fromkeys(problems))
    return t
