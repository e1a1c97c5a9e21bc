"""Rules on where an artifact read gets its value: set by a step on some path from start
(`undefined-artifact`, the foreach and condition names), and, in a join, merged from the
inputs or set in the join itself (`join-unmerged-artifact`).

Both need the same knowledge of what is not an artifact (FlowSpec's own attributes, members,
Parameters) and of when reads cannot be judged (a decorator that may inject attributes, names
set by `setattr`), kept here in one place.
"""

from __future__ import annotations

from collections.abc import Iterator

from flowspin.analysis.dag import known_out
from flowspin.analysis.model import Diagnostic, Flow, Step
from flowspin.analysis.rules_context import RuleContext, quoted

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


def _available_artifacts(ctx: RuleContext) -> tuple[dict[str, int], dict[str, int]]:
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


def undefined_artifacts(ctx: RuleContext) -> Iterator[Diagnostic]:
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


def join_unmerged_artifacts(ctx: RuleContext) -> Iterator[Diagnostic]:
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
            where = f" (set in {quoted(setters)})" if setters else ""
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


def _upstream_writes(ctx: RuleContext, step: str, writers: dict[str, list[str]]) -> set[str]:
    return {a for s in _ancestors(ctx, step) for a in writers.get(s, [])}


def _upstream_setters(
    ctx: RuleContext, step: str, attr: str, writers: dict[str, list[str]]
) -> list[str]:
    return sorted(s for s in _ancestors(ctx, step) if attr in writers.get(s, []))


def _ancestors(ctx: RuleContext, step: str) -> set[str]:
    seen: set[str] = set()
    queue = list(ctx.facts.nodes[step].in_funcs)
    while queue:
        name = queue.pop()
        if name in seen or name == step:
            continue
        seen.add(name)
        queue.extend(ctx.facts.nodes[name].in_funcs)
    return seen
