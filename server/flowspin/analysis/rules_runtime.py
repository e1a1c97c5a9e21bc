"""Rules for failures Metaflow's `check` lets through and a run then hits: writing a
Parameter or class attribute, `self.input` outside a foreach, a foreach over a value that
cannot split.

Each finding is an error when the line runs whenever the step runs, and a warning when it may
not (`certain=False`): the user sees how sure the checker is.
"""

from __future__ import annotations

from collections.abc import Iterator

from flowspin.analysis.model import Diagnostic, Step
from flowspin.analysis.rules_context import RuleContext


def modifies_parameter(ctx: RuleContext) -> Iterator[Diagnostic]:
    flow = ctx.flow
    params = {p.attr: p for p in flow.parameters}
    for step in ctx.steps.values():
        for write in step.writes:
            param = params.get(write.name)
            if param is None and write.name not in flow.constants:
                continue
            what = (
                f"the {param.kind} '{param.attr}'"
                if param
                else f"the class attribute '{write.name}'"
            )
            yield ctx.diag(
                "modifies-parameter",
                f"Step '{step.name}' assigns self.{write.name}, {what}. Metaflow makes "
                "Parameters, Configs and class attributes read-only in steps: this raises "
                "AttributeError ('Flow level attributes and Parameters are not modifiable') at "
                f"run time. Store the new value under another name, e.g. "
                f"self.{write.name}_value = ...",
                write.span,
                step.name,
                certain=write.certain,
            )


def input_outside_foreach(ctx: RuleContext) -> Iterator[Diagnostic]:
    nodes = ctx.facts.nodes
    for name in ctx.facts.order:
        step = ctx.steps[name]
        reads = [r for r in step.reads if r.name == "input"]
        if not reads:
            continue
        parents = nodes[name].split_parents
        if ctx.mf_type(name) == "join":
            parents = parents[:-1]  # the split it joins is behind it
        if any(ctx.mf_type(p) == "foreach" for p in parents if p in ctx.steps):
            continue
        yield ctx.diag(
            "input-outside-foreach",
            f"self.input is None in step '{name}': only steps inside a foreach (between "
            "self.next(..., foreach='...') and its join) get an input. Read the artifact "
            "itself here, or move this code into the foreach body.",
            reads[0].span,
            name,
        )


def _a(kind: str) -> str:
    """'an int', 'a float', 'None' for a literal's kind."""
    if kind == "none":
        return "None"
    return ("an " if kind[0] in "aeiou" else "a ") + kind


_NOT_ITERABLE = {"int", "float", "bool", "none", "complex", "Ellipsis"}


def invalid_foreach_value(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        tail = step.tail_transition
        if tail is None or tail.kind != "foreach" or not tail.foreach_is_literal:
            continue
        var = tail.foreach
        writer: Step | None = step
        writes = [w for w in step.writes if w.name == var]
        if not writes and not step.dynamic_writes and not ctx.partial and var is not None:
            writer = _only_upstream_writer(ctx, step.name, var)
            writes = [w for w in writer.writes if w.name == var] if writer else []
        if not writes or writer is None or writer.dynamic_writes:
            continue
        last = max(writes, key=lambda w: (w.span.line, w.span.col))
        if last.literal is None or not last.certain:
            continue
        kind, size = last.literal
        if kind in _NOT_ITERABLE:
            problem = (
                f"is {_a(kind)}, which is not iterable "
                "(Metaflow: 'Foreach variable ... is not iterable')"
            )
        elif size == 0:
            problem = (
                "is empty, so the foreach would have no branches (Metaflow: 'produced zero splits')"
            )
        else:
            continue
        where = "" if writer is step else f" (set in '{writer.name}')"
        yield ctx.diag(
            "invalid-foreach-value",
            f"foreach='{var}' in step '{step.name}': self.{var}{where} {problem}, and the "
            f"run fails at that self.next(). Assign a non-empty list, e.g. "
            f"self.{var} = [1, 2, 3].",
            last.span,
            writer.name,
            [] if writer is step else [step.name],
        )


def _only_upstream_writer(ctx: RuleContext, name: str, var: str) -> Step | None:
    """The step whose value of `var` reaches `name` when there is only one way it can: up
    a chain of single parents, none of them a join that does not set it (joins start
    without their inputs' artifacts) nor a step setting artifacts by computed names."""
    if var in ctx.flow.helper_writes or name not in ctx.facts.reachable:
        return None
    seen = {name}
    current = name
    while True:
        parents = ctx.facts.nodes[current].in_funcs
        if len(parents) != 1 or parents[0] in seen:
            return None
        current = parents[0]
        seen.add(current)
        step = ctx.steps[current]
        if step.dynamic_writes:
            return None
        if any(w.name == var for w in step.writes):
            return step
        if ctx.mf_type(current) == "join":
            return None
