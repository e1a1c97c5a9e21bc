"""Rules on splits and joins: every split joined by one join of exactly its branches, switch,
foreach and `@parallel` shapes.

Metaflow's checker walks every path to find these; here one walk with a stack of open splits
per (step, stack) pair does it, and a finding goes where the fix goes (the step where branches
meet without a join, the first step of a foreach body taking `inputs`).
"""

from __future__ import annotations

from collections.abc import Iterator

from flowspin.analysis.dag import known_out
from flowspin.analysis.model import Diagnostic, Step
from flowspin.analysis.rules_context import RuleContext, quoted


def split_join_balance(ctx: RuleContext) -> Iterator[Diagnostic]:
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
                    f"The branches of the split at '{split}' ({quoted(roots)}) meet at "
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
                    f"{quoted(roots)}) is joined. Add a join step (taking 'inputs') before "
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
                        detail.append(f"branches {quoted(missing)} never reach it")
                    if extra:
                        detail.append(f"{quoted(extra)} reach it from another split")
                    report(
                        "join-mismatch",
                        step,
                        f"Join step '{name}' should join all {len(roots)} branches of the "
                        f"split at '{split}' ({quoted(roots)}), but "
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
                    f"({quoted(nodes[name].in_funcs)}). Every split needs its own join: "
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


def _meeting_step(ctx: RuleContext, split: str) -> str | None:
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


def switch_shape(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.metaflow_type == "split-switch" and len(step.out_steps) < 2:
            yield ctx.diag(
                "switch-too-few-cases",
                f"Switch step '{step.name}' has {len(step.out_steps)} case(s); a switch needs "
                "at least 2. Add another case, or use a plain self.next(self.<step>).",
                step.name_span,
                step.name,
            )


def empty_foreaches(ctx: RuleContext) -> Iterator[Diagnostic]:
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


def _next_join(ctx: RuleContext, name: str) -> str | None:
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


def parallel_rules(ctx: RuleContext) -> Iterator[Diagnostic]:
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
                    f"{quoted(missing)} has no @parallel decorator. Add @parallel to "
                    f"{quoted(missing)}.",
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


def ambiguous_joins(ctx: RuleContext) -> Iterator[Diagnostic]:
    for step in ctx.steps.values():
        if step.metaflow_type != "join":
            continue
        switches = [
            p for p in ctx.facts.nodes[step.name].in_funcs if ctx.mf_type(p) == "split-switch"
        ]
        if switches:
            yield ctx.diag(
                "ambiguous-join",
                f"Switch step(s) {quoted(switches)} lead directly to the join '{step.name}'. "
                "A conditional path cannot end in a join: add an intermediate step on that "
                "path before the join.",
                step.name_span,
                step.name,
                switches,
            )
