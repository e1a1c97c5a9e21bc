"""Resolve the DAG of a parsed flow the way Metaflow 2.19's `graph.py` does.

Metaflow reads only the *last* statement of a step: when it is a well-formed `self.next(...)`
the step gets a type (linear, join, split, foreach, split-switch) and its out-edges; otherwise
the step has no type and no edges. Start and end come from `@step(start=True)` /
`@step(end=True)` markers, else from the names `start` / `end`; a single-step flow is both.
"""

from __future__ import annotations

from flowspin.analysis.model import Flow, NodeType, Step


def metaflow_shape(step: Step) -> tuple[str | None, list[str], bool]:
    """(Metaflow type, out_funcs, parallel_foreach) of a step from its tail `self.next`."""
    tail = step.tail_transition
    if tail is None:
        return None, [], False
    if tail.kind == "switch":
        if tail.valid:
            return "split-switch", list((tail.switch_cases or {}).values()), False
        return None, [], False
    # Metaflow builds out_funcs from every positional argument's `.attr`; an argument
    # that is not an attribute aborts the parse (no edges at all).
    out = list(tail.targets) if not tail.unresolved else []
    if tail.kind in ("foreach", "parallel"):
        return "foreach", out, tail.kind == "parallel"
    if not tail.valid:
        return None, out, False
    if len(out) > 1:
        return "split", out, False
    return ("join" if step.num_args > 1 else "linear"), out, False


def resolve_start_end(flow: Flow) -> tuple[str | None, str | None]:
    def resolve(marked: list[str], fallback: str) -> str | None:
        if len(marked) == 1:
            return marked[0]
        if not marked:
            return fallback if fallback in flow.steps else None
        return None

    start = resolve([s.name for s in flow.steps.values() if s.is_start_marker], "start")
    end = resolve([s.name for s in flow.steps.values() if s.is_end_marker], "end")
    if len(flow.steps) == 1:
        (only,) = flow.steps
        start = end = only
    return start, end


_NODE_TYPES: dict[str | None, NodeType] = {
    None: "linear",
    "linear": "linear",
    "start": "start",
    "end": "end",
    "join": "join",
    "split": "split",
    "foreach": "foreach",
    "split-switch": "switch",
}


def build_graph(flow: Flow) -> None:
    """Fill start/end, node types and in/out edges of every step of `flow` (in place)."""
    flow.start_step, flow.end_step = resolve_start_end(flow)
    for step in flow.steps.values():
        mf_type, out, parallel_foreach = metaflow_shape(step)
        step.metaflow_type = mf_type
        step.out_steps = out
        step.in_steps = []
        node_type = _NODE_TYPES[mf_type]
        if mf_type == "foreach" and parallel_foreach:
            node_type = "parallel_foreach"
        step.node_type = node_type
    start, end = flow.start_step, flow.end_step
    if start and start == end:
        flow.steps[start].metaflow_type = "end"
        flow.steps[start].node_type = "end"
    else:
        if start:
            node = flow.steps[start]
            if node.metaflow_type in (None, "linear"):
                node.metaflow_type = "start"
                node.node_type = "start"
        if end:
            flow.steps[end].metaflow_type = "end"
            flow.steps[end].node_type = "end"
    for step in flow.steps.values():
        for target in dict.fromkeys(step.out_steps):
            child = flow.steps.get(target)
            if child is not None and step.name not in child.in_steps:
                child.in_steps.append(step.name)


def metaflow_facts(flow: Flow) -> dict[str, dict[str, object]]:
    """Per step, what Metaflow's `FlowGraph` computes by walking the graph from start:
    `in_funcs` (sorted; a back edge to a step already on the walked path, such as a recursive
    switch's loop to itself, is not listed, and steps the walk never reaches have none),
    `split_parents` (the enclosing splits, outermost first; a join lists the split it
    closes) and `matching_join` (for a split or foreach: the join that closes it)."""
    from flowspin.analysis.dag import compute_facts  # dag imports this module's users

    nodes = compute_facts(flow).nodes
    return {
        name: {
            "in_funcs": list(facts.in_funcs),
            "split_parents": list(facts.split_parents),
            "matching_join": facts.matching_join,
        }
        for name, facts in nodes.items()
    }
