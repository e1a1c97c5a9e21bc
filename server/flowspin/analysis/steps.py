"""One `@step` method into a `Step`: decorators, arguments, transitions, artifact reads/writes.

All of it comes from a single walk over the body (the parser's hot path), including what the
run-time rules need to tell a certain failure from a possible one: whether an access may be
skipped (under an `if`, a loop, `try`, a lambda...) or come after a `return`.
"""

from __future__ import annotations

import ast
from typing import Any

from flowspin.analysis.model import ArtifactAccess, Decorator, Span, Step
from flowspin.analysis.nodes import dotted_tail, is_self_attr, literal_kind, value_of, walk
from flowspin.analysis.source import Source, end_position, name_span
from flowspin.analysis.transitions import parse_transition

# Decorators whose class sets IS_PARALLEL in Metaflow and its common extensions.
PARALLEL_DECORATORS = {"parallel", "pytorch_parallel", "torchrun", "deepspeed", "metaflow_ray"}


def parse_step(node: ast.FunctionDef | ast.AsyncFunctionDef, src: Source) -> Step:
    """The step as its source says it (the graph fills in its type later). `self.next` and
    its targets are not counted as artifact reads, nor `self.x` inside `self.next(...)`."""
    start_line = node.lineno
    step = Step(
        name=node.name,
        span=Span(start_line, src.col(start_line, node.col_offset), *end_position(node, src)),
        name_span=name_span(node, src, "def"),
    )
    step.first_line = min([start_line] + [d.lineno for d in node.decorator_list])
    for deco in node.decorator_list:
        name = dotted_tail(deco) or src.segment(deco)
        if name == "step":
            if isinstance(deco, ast.Call):
                for kw in deco.keywords:
                    if kw.arg in ("start", "end"):
                        flag = value_of(kw.value, src) is True
                        if kw.arg == "start":
                            step.is_start_marker = flag
                        else:
                            step.is_end_marker = flag
            continue
        decorator = Decorator(name=name, span=src.span(deco))
        if isinstance(deco, ast.Call):
            decorator.positional = [value_of(a, src) for a in deco.args]
            for kw in deco.keywords:
                key = kw.arg if kw.arg is not None else "**"
                decorator.args[key] = value_of(kw.value, src)
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
            and is_self_attr(stmt.targets[0])
        ):
            literal = literal_kind(stmt.value)
            if literal is not None:
                assigned_literals[id(stmt.targets[0])] = literal
    skipped: list[tuple[int, int]] = []  # line ranges of code that may not run (see below)
    exits: list[int] = []
    for sub in walk(body):
        if isinstance(sub, _MAYBE_SKIPPED):
            skipped.append((sub.lineno, getattr(sub, "end_lineno", None) or sub.lineno))
        elif isinstance(sub, (ast.Return, ast.Raise)):
            exits.append(sub.lineno)
        if id(sub) in skip:
            continue
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and is_self_attr(sub.func)
            and sub.func.attr == "next"
        ):
            is_tail = isinstance(tail, ast.Expr) and tail.value is sub
            step.transitions.append(parse_transition(sub, src, is_tail=is_tail))
            skip.add(id(sub.func))
            for arg in sub.args:
                if is_self_attr(arg):
                    skip.add(id(arg))
                elif isinstance(arg, ast.Dict):
                    skip.update(id(v) for v in arg.values if is_self_attr(v))
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
            and is_self_attr(sub.func)
            and sub.func.attr == "merge_artifacts"
        ):
            kwargs = {k.arg: value_of(k.value, src) for k in sub.keywords if k.arg}
            include: Any = kwargs.get("include")
            listed = isinstance(include, (list, tuple))
            step.merges.append(
                (sub.lineno, list(include) if listed else None, "include" in kwargs and not listed)
            )
        elif isinstance(sub, ast.Attribute) and is_self_attr(sub):
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
        elif isinstance(sub, ast.AugAssign) and is_self_attr(sub.target):
            # `self.x += 1` reads x before writing it
            target = sub.target
            assert isinstance(target, ast.Attribute)
            step.reads.append(ArtifactAccess(target.attr, src.span(target)))
    _mark_certain(step, body, skipped, exits)
    step.reads.sort(key=lambda a: (a.span.line, a.span.col))
    step.writes.sort(key=lambda a: (a.span.line, a.span.col))
    return step


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
