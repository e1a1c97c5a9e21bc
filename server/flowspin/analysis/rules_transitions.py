"""Rules on the edges: `self.next()` present, last, well-formed and pointing at real steps; no
loops; no step unreachable from start.

They also decide which findings are knock-ons: a mistyped target or a missing transition
strands the steps behind it, which are then named in that finding instead of being reported
as orphans of their own (`RuleContext.knock_ons`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

from flowspin.analysis.dag import known_out, strongly_connected
from flowspin.analysis.model import Diagnostic, Span, Step
from flowspin.analysis.rules_context import RuleContext, quoted


def static_transitions(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.metaflow_type == "end" or step.tail_transition is not None:
            continue
        inner = [t for t in step.transitions if not t.is_tail]
        hint = (
            f" Line {inner[0].span.line} calls self.next() but not as the last statement."
            if inner
            else ""
        )
        stranded: list[str] = []
        if step.name in ctx.facts.reachable:
            meant = [name for t in inner for name in t.targets if name in ctx.steps]
            for target in meant:
                stranded += [n for n in _stranded_by(ctx, step.name, target) if n not in stranded]
            if not meant:
                stranded = _stranded_dead_end(ctx)
        yield ctx.diag(
            "missing-transition",
            f"Step '{step.name}' does not end with a self.next() transition.{hint} Add "
            f"self.next(self.<next_step>) as the last statement of the step."
            f"{_stranding(ctx, stranded)}",
            step.name_span,
            step.name,
            stranded,
        )


def misplaced_transitions(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        for t in step.transitions:
            if not t.is_tail:
                yield ctx.diag(
                    "misplaced-transition",
                    f"self.next() in step '{step.name}' is not the step's last statement, so "
                    "Metaflow cannot see this transition (and a step may call self.next() only "
                    "once). Use a single self.next() as the last statement; for a choice made "
                    "at run time use a switch: self.next({...}, condition='artifact').",
                    t.span,
                    step.name,
                )


def valid_transitions(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        tail = step.tail_transition
        if tail is None or tail.valid or step.metaflow_type == "end":
            continue
        if step.name == ctx.flow.end_step:
            continue
        yield ctx.diag(
            "invalid-transition",
            f"Step '{step.name}' has an invalid self.next() transition: "
            f"{tail.invalid_reason}. Supported forms: self.next(self.a); "
            "self.next(self.a, self.b); self.next(self.a, foreach='items'); "
            "self.next(self.a, num_parallel=4); "
            "self.next({'x': self.a, 'y': self.b}, condition='artifact').",
            tail.span,
            step.name,
        )


def unknown_transitions(ctx: RuleContext) -> Iterator[Diagnostic]:
    known = list(ctx.steps)
    for step in ctx.steps.values():
        for t in step.transitions:
            for target, span in zip(t.targets, t.target_spans, strict=False):
                if target in ctx.steps:
                    continue
                close = difflib.get_close_matches(target, known, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                stranded = _stranded_by(ctx, step.name, close[0]) if close and t.is_tail else []
                hint += _stranding(ctx, stranded)
                yield ctx.diag(
                    "unknown-transition",
                    f"Step '{step.name}' transitions to '{target}', which is not a step of "
                    f"flow '{ctx.flow.name}'.{hint} Define a @step named '{target}' or fix "
                    "the name.",
                    span,
                    step.name,
                    [target, *stranded],
                )


def _stranded_dead_end(ctx: RuleContext) -> list[str]:
    """When the path from start never reaches the end step (it stops at a step without a
    transition, or turns in a loop), the end step is unreachable because of that, not an
    orphan of its own. (Other unreachable steps may be real orphans: they stay reported.)"""
    end = ctx.flow.end_step
    if ctx.flow.start_step is None or end is None or end in ctx.facts.reachable:
        return []
    return [end]


def _stranding(ctx: RuleContext, stranded: list[str]) -> str:
    """Mark `stranded` orphans as knock-ons of the finding whose message this ends."""
    if not stranded:
        return ""
    ctx.knock_ons.update(("orphan-step", name) for name in stranded)
    return f" (Until then {quoted(stranded)} cannot be reached from the start step.)"


def _stranded_by(ctx: RuleContext, source: str, meant: str) -> list[str]:
    """Steps unreachable now that would be reached if `source` went to `meant` (the likely
    intended target of a mistyped transition): orphans caused by the typo, not by themselves."""
    start = ctx.flow.start_step
    if start is None or source not in ctx.facts.reachable:
        return []
    seen = set(ctx.facts.reachable)
    queue = [meant] if meant not in seen else []
    seen.update(queue)
    for name in queue:
        for child in known_out(ctx.flow, name):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return [name for name in ctx.steps if name in queue]


def cycles(ctx: RuleContext) -> Iterator[Diagnostic]:
    def is_switch_self_loop(a: str, b: str) -> bool:
        return a == b and ctx.mf_type(a) == "split-switch"

    order = {name: i for i, name in enumerate(ctx.steps)}
    for component in strongly_connected(ctx.flow, is_switch_self_loop):
        members = set(component)
        if len(component) == 1:
            (only,) = component
            if only not in known_out(ctx.flow, only) or is_switch_self_loop(only, only):
                continue
        # Report on the edge that closes the loop: from the last member (in source order)
        # back to an earlier one.
        first = min(component, key=order.__getitem__)
        path = _path_within(ctx, first, members, is_switch_self_loop)
        closing = path[-2] if len(path) >= 2 else first
        step = ctx.steps[closing]
        span = _target_span(step, path[-1]) or ctx.tail_span(step)
        stranded = _stranded_dead_end(ctx) if closing in ctx.facts.reachable else []
        yield ctx.diag(
            "cycle",
            f"There is a loop in flow '{ctx.flow.name}': {' -> '.join(path)}. Metaflow "
            "graphs must be acyclic (only a switch step may loop back to itself). Change the "
            f"self.next() in '{closing}' to break the loop.{_stranding(ctx, stranded)}",
            span,
            closing,
            [n for n in path if n != closing] + stranded,
        )


def _path_within(
    ctx: RuleContext, first: str, members: set[str], skip: Callable[[str, str], bool]
) -> list[str]:
    """A shortest loop first -> ... -> first inside one strongly connected component."""
    parents: dict[str, str | None] = {first: None}
    queue = [first]
    for node in queue:
        for child in known_out(ctx.flow, node):
            if child not in members or skip(node, child):
                continue
            if child == first:
                path = [node]
                while (parent := parents[path[-1]]) is not None:
                    path.append(parent)
                return list(reversed(path)) + [first]
            if child not in parents:
                parents[child] = node
                queue.append(child)
    return [first, first]


def _target_span(step: Step, target: str) -> Span | None:
    tail = step.tail_transition
    if tail is None:
        return None
    for name, span in zip(tail.targets, tail.target_spans, strict=False):
        if name == target:
            return span
    return None


def orphans(ctx: RuleContext) -> Iterator[Diagnostic]:
    start = ctx.flow.start_step
    if start is None:
        return
    for step in ctx.steps.values():
        if step.name not in ctx.facts.reachable:
            yield ctx.diag(
                "orphan-step",
                f"Step '{step.name}' is unreachable from the start step '{start}'. Add "
                f"self.next(self.{step.name}) in another step, or remove '{step.name}'.",
                step.name_span,
                step.name,
            )
