"""Rules on what the flow class declares: its steps' names and signatures, start and end,
names defined twice or clashing with a Parameter, and bases that cannot be read.

These look at declarations, not at the paths between steps (except start's incoming edges),
so most of them still run on a flow whose graph is only partly known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flowspin.analysis.model import Diagnostic
from flowspin.analysis.rules_context import RuleContext, quoted

RESERVED_NAMES = {"name", "next", "input", "index", "cmd"}
STEP_NAME = re.compile(r"[^a-z0-9_]")


def reserved_names(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.name in RESERVED_NAMES:
            yield ctx.diag(
                "reserved-step-name",
                f"Step '{step.name}' uses a name Metaflow reserves "
                f"({quoted(RESERVED_NAMES)}). Rename the step and update the self.next() "
                "calls that point to it.",
                step.name_span,
                step.name,
            )


def start_and_end(ctx: RuleContext) -> Iterator[Diagnostic]:
    flow = ctx.flow
    for which, marker_attr in (("start", "is_start_marker"), ("end", "is_end_marker")):
        resolved = flow.start_step if which == "start" else flow.end_step
        marked = [s for s in ctx.steps.values() if getattr(s, marker_attr)]
        if resolved is None:
            if len(marked) > 1:
                for step in marked:
                    others = [s.name for s in marked if s is not step]
                    yield ctx.diag(
                        f"multiple-{which}-steps",
                        f"Steps {quoted([s.name for s in marked])} are all annotated with "
                        f"@step({which}=True); a flow has exactly one {which} step. Remove the "
                        f"annotation from all but one of them.",
                        step.name_span,
                        step.name,
                        others,
                    )
            else:
                yield ctx.diag(
                    f"missing-{which}-step",
                    f"Flow '{flow.name}' has no {which} step. Name a step '{which}' or mark "
                    f"one with @step({which}=True).",
                    flow.name_span,
                )
        elif resolved != which and which in ctx.steps:
            named = ctx.steps[which]
            yield ctx.diag(
                f"ambiguous-{which}-step",
                f"Ambiguous {which} step: '{resolved}' is annotated with @step({which}=True) "
                f"but a step named '{which}' also exists. Rename '{which}' or remove the "
                "annotation.",
                named.name_span,
                which,
                [resolved],
            )


def start_has_incoming(ctx: RuleContext) -> Iterator[Diagnostic]:
    start = ctx.flow.start_step
    if start is None or ctx.flow.end_step is None:
        return
    incoming = ctx.facts.nodes[start].in_funcs
    if incoming:
        yield ctx.diag(
            "start-has-incoming",
            f"The start step '{start}' has incoming transitions from {quoted(incoming)}. "
            f"Nothing may transition to the start step; point those self.next() calls "
            "at another step.",
            ctx.steps[start].name_span,
            start,
            list(incoming),
        )


def end_is_end(ctx: RuleContext) -> Iterator[Diagnostic]:
    end = ctx.flow.end_step
    if end is None:
        return
    step = ctx.steps[end]
    tail = step.tail_transition
    if tail is not None:
        yield ctx.diag(
            "end-has-transition",
            f"The end step '{end}' must not call self.next(); the flow finishes there. "
            "Remove the self.next() call (or make another step the end step).",
            tail.span,
            end,
        )
    if step.num_args > 1:
        yield ctx.diag(
            "end-is-join",
            f"The end step '{end}' takes an extra argument, which makes it a join. An end "
            f"step cannot be a join: add a join step before '{end}' and remove the argument.",
            step.name_span,
            end,
        )


def step_names(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if STEP_NAME.search(step.name) or step.name.startswith("_"):
            suggestion = re.sub(r"[^a-z0-9_]", "_", step.name.lower()).lstrip("_") or "step"
            yield ctx.diag(
                "invalid-step-name",
                f"Step '{step.name}' has an invalid name: only lowercase ASCII letters, digits "
                f"and underscores are allowed, and it cannot start with '_'. Rename it, e.g. "
                f"'{suggestion}'.",
                step.name_span,
                step.name,
            )


def num_args(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.num_args > 2:
            yield ctx.diag(
                "too-many-arguments",
                f"Step '{step.name}' has too many arguments. Normal steps take only 'self'; "
                "join steps take 'self' and 'inputs'.",
                step.name_span,
                step.name,
            )
        elif step.num_args == 2 and step.metaflow_type not in ("join", "end", None):
            yield ctx.diag(
                "join-and-split",
                f"Step '{step.name}' takes 'inputs' (a join) but transitions to "
                f"{quoted(step.out_steps)} as a split. Split and join must be separate "
                "steps: add a new step after this join for the split, or remove 'inputs'.",
                step.name_span,
                step.name,
            )
        elif step.num_args == 0:
            yield ctx.diag(
                "missing-self-argument",
                f"Step '{step.name}' is missing the 'self' argument. Write "
                f"'def {step.name}(self):'.",
                step.name_span,
                step.name,
            )


def step_shadows_parameter(ctx: RuleContext) -> Iterator[Diagnostic]:
    for param in ctx.flow.parameters:
        for name in dict.fromkeys((param.attr, param.name)):
            step = ctx.steps.get(name)
            if step is None:
                continue
            yield ctx.diag(
                "step-shadows-parameter",
                f"Step '{name}' has the same name as the {param.kind} "
                f"'{param.attr}' (line {param.span.line}); one hides the other and the flow "
                f"breaks at run time. Rename the step or the {param.kind}.",
                step.name_span,
                name,
            )


def duplicate_steps(ctx: RuleContext) -> Iterator[Diagnostic]:
    for name, span in ctx.flow.duplicates:
        winner = ctx.steps.get(name)
        where = f" at line {winner.span.line}" if winner else " later in the class"
        yield ctx.diag(
            "duplicate-step",
            f"'{name}' is defined again{where}; Python keeps only the last definition, so "
            "this one is ignored. Remove it or rename one of them.",
            span,
            name,
        )


def unresolved_bases(ctx: RuleContext) -> Iterator[Diagnostic]:
    flow = ctx.flow
    if not flow.unresolved_bases:
        return
    off = (
        "checks of the whole graph and of artifact reads are off"
        if ctx.partial
        else "artifact reads are not checked"
    )
    yield ctx.diag(
        "unresolved-base",
        f"Flow '{flow.name}' builds on {quoted(flow.unresolved_bases)}, which flowspin cannot "
        "read (an installed package, or a module not found in this project), so "
        f"{off}: they may define steps, Parameters or artifacts.",
        flow.name_span,
    )
