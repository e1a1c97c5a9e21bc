"""Lint rules over a `FlowModel`: every check of Metaflow 2.19's linter plus flowspin's own.

Metaflow stops at the first problem; here every rule runs and reports everything it finds, so a
user fixes a broken flow in one pass. Each rule is a generator over one flow, run in isolation:
a bug in one rule becomes an `internal-error` hint and never hides the others. Rule ids are a
stable contract (CLI JSON, LSP diagnostic codes); `RULES` documents them.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterator

from flowspin.analysis.dag import DagFacts, compute_facts, known_out, strongly_connected
from flowspin.analysis.model import Diagnostic, Flow, FlowModel, Severity, Span, Step
from flowspin.analysis.modules import Reader
from flowspin.analysis.parser import parse_source

# rule id -> (severity, does Metaflow's own `check` also reject it)
RULES: dict[str, tuple[Severity, bool]] = {
    "syntax-error": ("error", True),
    "reserved-step-name": ("error", True),
    "missing-start-step": ("error", True),
    "multiple-start-steps": ("error", True),
    "missing-end-step": ("error", True),
    "multiple-end-steps": ("error", True),
    "ambiguous-start-step": ("error", True),
    "ambiguous-end-step": ("error", True),
    "start-has-incoming": ("error", True),
    "end-has-transition": ("error", True),
    "end-is-join": ("error", True),
    "invalid-step-name": ("error", True),
    "too-many-arguments": ("error", True),
    "join-and-split": ("error", True),
    "missing-self-argument": ("error", True),
    "missing-transition": ("error", True),
    "invalid-transition": ("error", True),
    "unknown-transition": ("error", True),
    "cycle": ("error", True),
    "orphan-step": ("error", True),
    "unjoined-split": ("error", True),
    "join-mismatch": ("error", True),
    "join-without-split": ("error", True),
    "cross-join": ("error", True),
    "switch-too-few-cases": ("error", True),
    "empty-foreach": ("error", True),
    "parallel-missing-decorator": ("error", True),
    "parallel-not-followed-by-join": ("error", True),
    "parallel-not-called-parallel": ("error", True),
    "ambiguous-join": ("error", True),
    # flowspin's own rules
    "misplaced-transition": ("error", False),
    "step-shadows-parameter": ("error", False),
    "duplicate-step": ("warning", False),
    "undefined-artifact": ("warning", False),
    "unknown-foreach-artifact": ("warning", False),
    "unknown-condition-artifact": ("warning", False),
    "unresolved-base": ("hint", False),
    # run-time failures Metaflow's `check` lets through (error where certain, else warning)
    "modifies-parameter": ("error", False),
    "join-unmerged-artifact": ("error", False),
    "input-outside-foreach": ("warning", False),
    "invalid-foreach-value": ("error", False),
    "internal-error": ("hint", False),
}

RESERVED_NAMES = {"name", "next", "input", "index", "cmd"}
STEP_NAME = re.compile(r"[^a-z0-9_]")
# Attributes every FlowSpec has (reading them is not reading an artifact).
FLOWSPEC_ATTRS = {
    "next",
    "input",
    "index",
    "foreach_stack",
    "merge_artifacts",
    "name",
    "cmd",
    "script_name",
}


# Flow (class) decorators of Metaflow known not to set attributes on the flow; with any other
# one (e.g. `@comet_flow`, which injects `self.comet_experiment`) reads are not checked.
PLAIN_FLOW_DECORATORS = {
    "project",
    "schedule",
    "trigger",
    "trigger_on_finish",
    "conda_base",
    "pypi_base",
    "uv_base",
    "exit_hook",
}


# Step decorators (Metaflow's own and common ones) known not to set attributes on the flow;
# reads in a step with any other decorator are not checked (it may inject them).
PLAIN_DECORATORS = {
    "card",
    "retry",
    "catch",
    "timeout",
    "resources",
    "batch",
    "kubernetes",
    "environment",
    "conda",
    "pypi",
    "uv",
    "secrets",
    "parallel",
    "pytorch_parallel",
    "checkpoint",
    "model",
    "huggingface_hub",
}


class _Ctx:
    """One flow plus the graph facts the rules share (computed once)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.steps = flow.steps
        self.facts: DagFacts = compute_facts(flow)
        # A flow built on a base class from another module may inherit steps we cannot see
        # (start, end, transition targets): then only step-local rules are reliable.
        self.partial = flow.has_external_bases and (
            flow.start_step is None
            or flow.end_step is None
            or any(t not in self.steps for s in self.steps.values() for t in s.out_steps)
        )
        # (rule, step) findings that are knock-on effects of another finding (reported there
        # as related information): dropped after all rules ran, so a user sees the root cause.
        self.knock_ons: set[tuple[str, str]] = set()

    def diag(
        self,
        rule: str,
        message: str,
        span: Span,
        step: str | None = None,
        related: list[str] | None = None,
        certain: bool = True,
    ) -> Diagnostic:
        """A finding of `rule`; one that may not happen on every run (`certain=False`, e.g.
        the line is under an `if`) is a warning even when the rule's failures are errors."""
        severity = RULES[rule][0]
        if not certain and severity == "error":
            severity = "warning"
        return Diagnostic(
            rule=rule,
            severity=severity,
            message=message,
            span=span,
            step=step,
            flow=self.flow.name,
            related=related or [],
        )

    def tail_span(self, step: Step) -> Span:
        """Metaflow's `tail_next_lineno` when the step has a tail `self.next`, else the def."""
        tail = step.tail_transition
        return tail.span if tail else step.name_span

    def mf_type(self, name: str) -> str | None:
        return self.steps[name].metaflow_type


Rule = Callable[[_Ctx], Iterator[Diagnostic]]
# Rules that look at one step at a time: they still run when the graph is only partly known.
LOCAL_RULES = {
    "reserved_names",
    "step_names",
    "num_args",
    "static_transitions",
    "misplaced_transitions",
    "valid_transitions",
    "switch_shape",
    "step_shadows_parameter",
    "duplicate_steps",
    "unresolved_bases",
    "modifies_parameter",
    "invalid_foreach_value",
}
_RULES: list[Rule] = []


def _rule(fn: Rule) -> Rule:
    _RULES.append(fn)
    return fn


def _names(names: list[str] | set[str]) -> str:
    return ", ".join(f"'{n}'" for n in sorted(names))


# --- Metaflow's fundamentals -------------------------------------------------------------


@_rule
def reserved_names(ctx: _Ctx) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.name in RESERVED_NAMES:
            yield ctx.diag(
                "reserved-step-name",
                f"Step '{step.name}' uses a name Metaflow reserves "
                f"({_names(RESERVED_NAMES)}). Rename the step and update the self.next() "
                "calls that point to it.",
                step.name_span,
                step.name,
            )


@_rule
def start_and_end(ctx: _Ctx) -> Iterator[Diagnostic]:
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
                        f"Steps {_names([s.name for s in marked])} are all annotated with "
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


@_rule
def start_has_incoming(ctx: _Ctx) -> Iterator[Diagnostic]:
    start = ctx.flow.start_step
    if start is None or ctx.flow.end_step is None:
        return
    incoming = ctx.facts.nodes[start].in_funcs
    if incoming:
        yield ctx.diag(
            "start-has-incoming",
            f"The start step '{start}' has incoming transitions from {_names(incoming)}. "
            f"Nothing may transition to the start step; point those self.next() calls "
            "at another step.",
            ctx.steps[start].name_span,
            start,
            list(incoming),
        )


@_rule
def end_is_end(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def step_names(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def num_args(ctx: _Ctx) -> Iterator[Diagnostic]:
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
                f"{_names(step.out_steps)} as a split. Split and join must be separate "
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


# --- transitions -------------------------------------------------------------------------


@_rule
def static_transitions(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def misplaced_transitions(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def valid_transitions(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def unknown_transitions(ctx: _Ctx) -> Iterator[Diagnostic]:
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


def _stranded_dead_end(ctx: _Ctx) -> list[str]:
    """When the path from start never reaches the end step (it stops at a step without a
    transition, or turns in a loop), the end step is unreachable because of that, not an
    orphan of its own. (Other unreachable steps may be real orphans: they stay reported.)"""
    end = ctx.flow.end_step
    if ctx.flow.start_step is None or end is None or end in ctx.facts.reachable:
        return []
    return [end]


def _stranding(ctx: _Ctx, stranded: list[str]) -> str:
    """Mark `stranded` orphans as knock-ons of the finding whose message this ends."""
    if not stranded:
        return ""
    ctx.knock_ons.update(("orphan-step", name) for name in stranded)
    return f" (Until then {_names(stranded)} cannot be reached from the start step.)"


def _stranded_by(ctx: _Ctx, source: str, meant: str) -> list[str]:
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


@_rule
def cycles(ctx: _Ctx) -> Iterator[Diagnostic]:
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


def _path_within(ctx: _Ctx, first: str, members: set[str], skip) -> list[str]:  # noqa: ANN001
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


@_rule
def orphans(ctx: _Ctx) -> Iterator[Diagnostic]:
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


# --- splits and joins --------------------------------------------------------------------


@_rule
def split_join_balance(ctx: _Ctx) -> Iterator[Diagnostic]:
    flow = ctx.flow
    if flow.start_step is None or flow.end_step is None:
        return
    nodes = ctx.facts.nodes
    reported: set[tuple[str, str]] = set()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(flow.start_step, ())]
    found: list[Diagnostic] = []
    # A loop through a split would grow the stack forever; no simple path holds more splits.
    max_depth = sum(1 for s in ctx.steps.values() if s.metaflow_type in ("split", "foreach"))

    def report(rule: str, step: Step, message: str, related: list[str]) -> None:
        if (rule, step.name) not in reported:
            reported.add((rule, step.name))
            found.append(ctx.diag(rule, message, step.name_span, step.name, related))

    while stack:
        name, split_stack = stack.pop()
        if (name, split_stack) in seen:
            continue
        seen.add((name, split_stack))
        step = ctx.steps[name]
        mf_type = step.metaflow_type
        new_stack = split_stack
        if mf_type in ("split", "foreach"):
            new_stack = split_stack + (name,)
        elif mf_type == "end" and split_stack:
            split = split_stack[-1]
            roots = ctx.steps[split].out_steps
            meet = _meeting_step(ctx, split)
            if meet is not None and meet != name:
                # The branches meet at a step that lacks `inputs`: that is where the fix goes
                # (Metaflow reports at the end step, where the stack is found unbalanced).
                report(
                    "unjoined-split",
                    ctx.steps[meet],
                    f"The branches of the split at '{split}' ({_names(roots)}) meet at "
                    f"'{meet}', but '{meet}' is not a join, so the split is never joined "
                    f"(the end step '{name}' is reached with the branches still apart). Make "
                    f"'{meet}' a join: def {meet}(self, inputs).",
                    [split, name],
                )
            else:
                report(
                    "unjoined-split",
                    step,
                    f"The end step '{name}' is reached before the split at '{split}' (into "
                    f"{_names(roots)}) is joined. Add a join step (taking 'inputs') before "
                    f"'{name}'.",
                    [split],
                )
        elif mf_type == "join":
            if split_stack:
                split = split_stack[-1]
                roots = known_out(flow, split)
                new_stack = split_stack[:-1]
                resolved = {
                    nodes[p].split_branches[-1]
                    for p in nodes[name].in_funcs
                    if nodes[p].split_branches
                }
                direct = ctx.mf_type(split) == "foreach" and name in roots
                if resolved != set(roots) and not direct:  # direct: see empty-foreach
                    missing = set(roots) - resolved
                    extra = resolved - set(roots)
                    detail = []
                    if missing:
                        detail.append(f"branches {_names(missing)} never reach it")
                    if extra:
                        detail.append(f"{_names(extra)} reach it from another split")
                    report(
                        "join-mismatch",
                        step,
                        f"Join step '{name}' should join all {len(roots)} branches of the "
                        f"split at '{split}' ({_names(roots)}), but "
                        f"{' and '.join(detail) or 'the paths do not match'}. Make every "
                        f"branch of '{split}' lead to '{name}', and nothing else.",
                        [split, *sorted(missing | extra)],
                    )
            else:
                report(
                    "join-without-split",
                    step,
                    f"Step '{name}' takes 'inputs' (a join) but no split comes before it. "
                    f"Remove the 'inputs' argument, or add a split (self.next(self.a, "
                    f"self.b) or foreach=) upstream.",
                    [],
                )

            def parents_of(p: str) -> tuple[str, ...]:
                if ctx.mf_type(p) == "join":
                    return tuple(nodes[p].split_parents[:-1])
                return tuple(nodes[p].split_parents)

            lineages = {parents_of(p) for p in nodes[name].in_funcs}
            if len(lineages) > 1:
                report(
                    "cross-join",
                    step,
                    f"Join step '{name}' joins steps from unrelated splits "
                    f"({_names(nodes[name].in_funcs)}). Every split needs its own join: "
                    "join the inner split first, then the outer one.",
                    list(nodes[name].in_funcs),
                )
        if len(new_stack) > max_depth:
            continue  # inside a loop, which the cycle rule reports
        for child in known_out(flow, name):
            if child == name and mf_type == "split-switch":
                continue
            stack.append((child, new_stack))
    yield from found


def _meeting_step(ctx: _Ctx, split: str) -> str | None:
    """The first step (in graph order) inside `split` that several of its branches lead to
    without being a join: where a join was meant to be."""
    nodes = ctx.facts.nodes
    for name in ctx.facts.order:
        facts = nodes[name]
        if ctx.mf_type(name) == "join" or split not in facts.split_parents:
            continue
        branches = {tuple(nodes[p].split_branches) for p in facts.in_funcs}
        if len(facts.in_funcs) > 1 and len(branches) > 1:
            return name
    return None


@_rule
def switch_shape(ctx: _Ctx) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.metaflow_type == "split-switch" and len(step.out_steps) < 2:
            yield ctx.diag(
                "switch-too-few-cases",
                f"Switch step '{step.name}' has {len(step.out_steps)} case(s); a switch needs "
                "at least 2. Add another case, or use a plain self.next(self.<step>).",
                step.name_span,
                step.name,
            )


@_rule
def empty_foreaches(ctx: _Ctx) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.metaflow_type != "foreach":
            continue
        joins = [n for n in known_out(ctx.flow, step.name) if ctx.mf_type(n) == "join"]
        if not joins:
            continue
        head = joins[0]
        later = _next_join(ctx, head)
        if later is not None and ctx.facts.nodes[head].in_funcs == [step.name]:
            # `inputs` on the first step of the body: that step is the mistake, and the join
            # after it "without a split" only follows from it.
            ctx.knock_ons.update(
                (rule, later) for rule in ("join-without-split", "join-mismatch", "cross-join")
            )
            yield ctx.diag(
                "empty-foreach",
                f"Step '{head}' takes 'inputs', which makes it a join, but it is the first "
                f"step of the foreach at '{step.name}' (its body, joined later at "
                f"'{later}'). Remove 'inputs': def {head}(self).",
                ctx.steps[head].name_span,
                head,
                [step.name, later],
            )
            continue
        yield ctx.diag(
            "empty-foreach",
            f"Foreach step '{step.name}' goes straight to the join '{head}', so the "
            "foreach has no body. Add at least one step between the split and the join.",
            step.name_span,
            step.name,
            [head],
        )


def _next_join(ctx: _Ctx, name: str) -> str | None:
    """The first join strictly after `name` on its linear continuation (None at a split)."""
    seen = {name}
    out = known_out(ctx.flow, name)
    while len(out) == 1 and out[0] not in seen:
        current = out[0]
        seen.add(current)
        if ctx.mf_type(current) == "join":
            return current
        if ctx.mf_type(current) not in ("linear", "start"):
            return None
        out = known_out(ctx.flow, current)
    return None


@_rule
def parallel_rules(ctx: _Ctx) -> Iterator[Diagnostic]:
    steps = ctx.steps
    for step in steps.values():
        tail = step.tail_transition
        is_parallel_foreach = step.metaflow_type == "foreach" and tail and tail.kind == "parallel"
        if is_parallel_foreach:
            missing = [n for n in known_out(ctx.flow, step.name) if not steps[n].parallel]
            if missing:
                yield ctx.diag(
                    "parallel-missing-decorator",
                    f"Step '{step.name}' starts a parallel split (num_parallel=) but "
                    f"{_names(missing)} has no @parallel decorator. Add @parallel to "
                    f"{_names(missing)}.",
                    step.name_span,
                    step.name,
                    missing,
                )
        if step.parallel:
            out = step.out_steps
            if out and out[0] in steps and steps[out[0]].metaflow_type != "join":
                yield ctx.diag(
                    "parallel-not-followed-by-join",
                    f"Step '{out[0]}' follows the @parallel step '{step.name}' but is not a "
                    f"join. Add an 'inputs' argument: def {out[0]}(self, inputs).",
                    step.name_span,
                    step.name,
                    [out[0]],
                )
            for other in steps.values():
                if step.name in other.out_steps:
                    other_tail = other.tail_transition
                    if not (
                        other.metaflow_type == "foreach"
                        and other_tail
                        and other_tail.kind == "parallel"
                    ):
                        yield ctx.diag(
                            "parallel-not-called-parallel",
                            f"Step '{step.name}' has @parallel but step '{other.name}' does "
                            f"not call it with self.next(self.{step.name}, num_parallel=N). "
                            "Use num_parallel=, or remove @parallel.",
                            step.name_span,
                            step.name,
                            [other.name],
                        )


@_rule
def ambiguous_joins(ctx: _Ctx) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.metaflow_type != "join":
            continue
        switches = [
            p for p in ctx.facts.nodes[step.name].in_funcs if ctx.mf_type(p) == "split-switch"
        ]
        if switches:
            yield ctx.diag(
                "ambiguous-join",
                f"Switch step(s) {_names(switches)} lead directly to the join '{step.name}'. "
                "A conditional path cannot end in a join: add an intermediate step on that "
                "path before the join.",
                step.name_span,
                step.name,
                switches,
            )


# --- flowspin's own rules ----------------------------------------------------------------


@_rule
def step_shadows_parameter(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def duplicate_steps(ctx: _Ctx) -> Iterator[Diagnostic]:
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


def _known_attrs(flow: Flow) -> set[str]:
    known = set(FLOWSPEC_ATTRS) | set(flow.members) | set(flow.steps) | flow.helper_writes
    for param in flow.parameters:
        known.add(param.attr)
    return known


def _written_names(step: Step) -> list[str]:
    """Artifacts a step sets: its `self.x = ...` targets and `@catch(var="x")`."""
    names = [access.name for access in step.writes]
    for deco in step.decorators:
        var = deco.args.get("var") if deco.name == "catch" else None
        if isinstance(var, str):
            names.append(var)
    return names


def _available_artifacts(ctx: _Ctx) -> tuple[dict[str, int], dict[str, int]]:
    """Bit per artifact name, and for each reachable step the artifacts written by some step
    on a path from start to it (itself excluded unless it lies on a loop): a forward
    may-analysis over int bitsets, linear in the graph for a DAG."""
    order = ctx.facts.order
    bit: dict[str, int] = {}
    writes: dict[str, int] = {}
    for name in order:
        mask = 0
        for artifact in _written_names(ctx.steps[name]):
            b = bit.get(artifact)
            if b is None:
                b = bit[artifact] = 1 << len(bit)
            mask |= b
        writes[name] = mask
    avail = dict.fromkeys(order, 0)
    children = {name: [c for c in known_out(ctx.flow, name) if c in avail] for name in order}
    changed = True
    rounds = 0
    while changed and rounds < 50:
        changed = False
        rounds += 1
        for name in order:
            out = avail[name] | writes[name]
            for child in children[name]:
                merged = avail[child] | out
                if merged != avail[child]:
                    avail[child] = merged
                    changed = True
    return bit, {name: avail[name] | writes[name] for name in order}


@_rule
def undefined_artifacts(ctx: _Ctx) -> Iterator[Diagnostic]:
    flow = ctx.flow
    if flow.has_external_bases or flow.start_step is None:
        return  # attributes may come from code we cannot see
    if any(d not in PLAIN_FLOW_DECORATORS for d in flow.decorators):
        return  # a flow decorator of an extension may set attributes (@comet_flow)
    if any(step.dynamic_writes for step in ctx.steps.values()):
        return  # artifacts set by computed names: any read may be defined
    known = _known_attrs(flow)
    bit, available = _available_artifacts(ctx)

    def is_defined(attr: str, mask: int) -> bool:
        return attr in known or bool(bit.get(attr, 0) & mask)

    for name in ctx.facts.order:
        step = ctx.steps[name]
        mask = available[name]
        tail = step.tail_transition
        if tail and tail.kind == "foreach" and tail.foreach_is_literal and tail.foreach_span:
            if tail.foreach and not is_defined(tail.foreach, mask):
                yield ctx.diag(
                    "unknown-foreach-artifact",
                    f"foreach='{tail.foreach}' in step '{name}' names an artifact that neither "
                    f"'{name}' nor any step before it sets. Assign self.{tail.foreach} = [...] "
                    "before self.next(), or fix the name.",
                    tail.foreach_span,
                    name,
                )
        if tail and tail.kind == "switch" and tail.condition and tail.condition_span:
            if not is_defined(tail.condition, mask) and tail.condition.isidentifier():
                yield ctx.diag(
                    "unknown-condition-artifact",
                    f"condition='{tail.condition}' in step '{name}' names an artifact that "
                    f"neither '{name}' nor any step before it sets. Assign "
                    f"self.{tail.condition} = ... before self.next(), or fix the name.",
                    tail.condition_span,
                    name,
                )
        if any(d.name not in PLAIN_DECORATORS for d in step.decorators):
            continue  # an extension decorator may set attributes (e.g. @tensorboard: self.obtb)
        reported: set[str] = set()
        for read in step.reads:
            attr = read.name
            if attr in reported or attr.startswith("_") or is_defined(attr, mask):
                continue
            reported.add(attr)
            yield ctx.diag(
                "undefined-artifact",
                f"self.{attr} is read in step '{name}' but no step on a path from "
                f"'{flow.start_step}' to '{name}' sets it, and it is not a Parameter or "
                f"Config. Set self.{attr} in an earlier step, or fix the name.",
                read.span,
                name,
            )


@_rule
def unresolved_bases(ctx: _Ctx) -> Iterator[Diagnostic]:
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
        f"Flow '{flow.name}' builds on {_names(flow.unresolved_bases)}, which flowspin cannot "
        "read (an installed package, or a module not found in this project), so "
        f"{off}: they may define steps, Parameters or artifacts.",
        flow.name_span,
    )


# --- what Metaflow finds only at run time ------------------------------------------------


@_rule
def modifies_parameter(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def join_unmerged_artifacts(ctx: _Ctx) -> Iterator[Diagnostic]:
    flow = ctx.flow
    if flow.has_external_bases or flow.start_step is None:
        return
    if any(d not in PLAIN_FLOW_DECORATORS for d in flow.decorators):
        return
    known = _known_attrs(flow) | flow.constants
    writers = {name: _written_names(ctx.steps[name]) for name in ctx.facts.order}
    for name in ctx.facts.order:
        step = ctx.steps[name]
        if step.metaflow_type != "join" or step.dynamic_writes:
            continue
        if any(d.name not in PLAIN_DECORATORS for d in step.decorators):
            continue
        merges = step.merges
        upstream = _upstream_writes(ctx, name, writers)
        reported: set[str] = set()
        for read in step.reads:
            attr = read.name
            if attr in reported or attr in known or attr.startswith("_"):
                continue
            if attr not in upstream:
                continue  # set nowhere upstream: undefined-artifact says so
            if any(w.name == attr and w.span.line < read.span.line for w in step.writes):
                continue  # set earlier in the join itself
            if any(
                line < read.span.line and (unknown or include is None or attr in include)
                for line, include, unknown in merges
            ):
                continue  # merged from the inputs
            reported.add(attr)
            setters = [s for s in _upstream_setters(ctx, name, attr, writers)]
            where = f" (set in {_names(setters)})" if setters else ""
            yield ctx.diag(
                "join-unmerged-artifact",
                f"Join step '{name}' reads self.{attr}, but a join starts without its inputs' "
                f"artifacts: '{attr}'{where} is neither merged nor set here, so this raises "
                f"AttributeError at run time. Read it from the inputs (inputs[0].{attr}, "
                f"[i.{attr} for i in inputs]) or call self.merge_artifacts(inputs) before.",
                read.span,
                name,
                setters,
                certain=read.certain,
            )


def _upstream_writes(ctx: _Ctx, step: str, writers: dict[str, list[str]]) -> set[str]:
    return {a for s in _ancestors(ctx, step) for a in writers.get(s, [])}


def _upstream_setters(ctx: _Ctx, step: str, attr: str, writers: dict[str, list[str]]) -> list[str]:
    return sorted(s for s in _ancestors(ctx, step) if attr in writers.get(s, []))


def _ancestors(ctx: _Ctx, step: str) -> set[str]:
    seen: set[str] = set()
    queue = list(ctx.facts.nodes[step].in_funcs)
    while queue:
        name = queue.pop()
        if name in seen or name == step:
            continue
        seen.add(name)
        queue.extend(ctx.facts.nodes[name].in_funcs)
    return seen


@_rule
def input_outside_foreach(ctx: _Ctx) -> Iterator[Diagnostic]:
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


@_rule
def invalid_foreach_value(ctx: _Ctx) -> Iterator[Diagnostic]:
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


def _only_upstream_writer(ctx: _Ctx, name: str, var: str) -> Step | None:
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


# --- running -----------------------------------------------------------------------------


def check_flow(flow: Flow) -> list[Diagnostic]:
    """All diagnostics of one flow, each rule isolated from the others' failures."""
    if flow.is_base:
        return []
    try:
        ctx = _Ctx(flow)
    except Exception as exc:  # noqa: BLE001 - a broken model must not crash the editor
        return [_internal(flow, "graph", exc)]
    found: list[Diagnostic] = []
    for rule in _RULES:
        if ctx.partial and rule.__name__ not in LOCAL_RULES:
            continue
        try:
            found.extend(rule(ctx))
        except Exception as exc:  # noqa: BLE001 - one buggy rule must not hide the others
            found.append(_internal(flow, rule.__name__, exc))
    found = [_relocated(flow, d) for d in found if (d.rule, d.step or "") not in ctx.knock_ons]
    found.sort(key=lambda d: (d.span.line, d.span.col, d.rule))
    return found


def _relocated(flow: Flow, diag: Diagnostic) -> Diagnostic:
    """A finding about a step written in another file (a base flow or mixin) goes on the
    flow's class name, where this file can show it; the message and `origin` say where the
    step is."""
    step = flow.steps.get(diag.step or "")
    if step is None or step.file is None:
        return diag
    name = os.path.basename(step.file)
    diag.origin = (step.file, diag.span)
    diag.message = (
        f"{diag.message} (In step '{step.name}' of {step.defined_in or 'a base'}, "
        f"{name} line {diag.span.line}.)"
    )
    diag.span = flow.name_span
    return diag


def _internal(flow: Flow, where: str, exc: Exception) -> Diagnostic:
    return Diagnostic(
        rule="internal-error",
        severity="hint",
        message=f"flowspin could not run check '{where}' on this flow ({exc!r}); "
        "other checks still ran. Please report this.",
        span=flow.name_span,
        flow=flow.name,
    )


def check_model(model: FlowModel) -> list[Diagnostic]:
    if model.syntax_error is not None:
        problem = model.syntax_error
        return [
            Diagnostic(
                rule="syntax-error",
                severity="error",
                message=f"Syntax error: {problem.message}. Fix it to see the flow's checks.",
                span=problem.span,
            )
        ]
    found: list[Diagnostic] = []
    for flow in model.flows:
        found.extend(check_flow(flow))
    return found


def check_source(
    source: str, path: str = "<string>", read: Reader | None = None
) -> tuple[FlowModel, list[Diagnostic]]:
    """Parse and check; `read` as for `parse_source` (how other project files are read)."""
    model = parse_source(source, path, read)
    return model, check_model(model)
