"""Metaflow's graph traversal facts (reachability, in_funcs, split parents/branches), computed
without enumerating paths.

Metaflow's `FlowGraph._traverse_graph` walks every path from start, which is exponential on
flows with many consecutive splits. Here each (step, split context) state is visited once; on a
well-formed flow the results are the same, and on a broken one they stay bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowspin.analysis.model import Flow


@dataclass
class NodeFacts:
    in_funcs: list[str] = field(default_factory=list)
    split_parents: list[str] = field(default_factory=list)
    split_branches: list[str] = field(default_factory=list)
    matching_join: str | None = None
    visited: bool = False


@dataclass
class DagFacts:
    reachable: set[str]
    nodes: dict[str, NodeFacts]
    order: list[str]  # reachable steps, parents before children where the graph allows


def known_out(flow: Flow, name: str) -> list[str]:
    return [n for n in flow.steps[name].out_steps if n in flow.steps]


def reachable_from(flow: Flow, start: str | None) -> list[str]:
    """Steps reachable from `start` (itself included), in breadth-first order."""
    if start is None or start not in flow.steps:
        return []
    seen = {start}
    order = [start]
    i = 0
    while i < len(order):
        for child in known_out(flow, order[i]):
            if child not in seen:
                seen.add(child)
                order.append(child)
        i += 1
    return order


def compute_facts(flow: Flow) -> DagFacts:
    nodes = {name: NodeFacts() for name in flow.steps}
    reach_order = reachable_from(flow, flow.start_step)
    reachable = set(reach_order)
    for name in reach_order:
        for child in dict.fromkeys(known_out(flow, name)):
            if name not in nodes[child].in_funcs:
                nodes[child].in_funcs.append(name)
    for facts in nodes.values():
        facts.in_funcs.sort()
    if flow.start_step in flow.steps:
        _split_context(flow, nodes, flow.start_step)  # type: ignore[arg-type]
    return DagFacts(reachable=reachable, nodes=nodes, order=_topo_order(flow, reach_order))


# Path visits allowed for the exact (Metaflow-order) walk before falling back to one visit per
# state: a base plus a few visits per step (well-formed flows rarely revisit a step more often).
EXACT_BUDGET_BASE = 2_000
EXACT_BUDGET_PER_STEP = 4


def _split_context(flow: Flow, nodes: dict[str, NodeFacts], start: str) -> None:
    """Metaflow's split_parents / split_branches / matching_join (and in_funcs).

    Replays Metaflow's path-by-path walk exactly (the last visit of a step wins, which matters
    on malformed graphs) while that stays cheap; past a budget of visits it switches to a
    walk that visits each (step, split context) once, which agrees on well-formed graphs.
    """
    if _split_context_exact(flow, nodes, start):
        return
    for facts in nodes.values():
        facts.split_parents, facts.split_branches = [], []
        facts.matching_join, facts.visited = None, False
    _split_context_per_state(flow, nodes, start)


def _assign(
    flow: Flow, nodes: dict[str, NodeFacts], name: str, parents: tuple, branches: tuple
) -> tuple[tuple, tuple, bool]:
    """One Metaflow `traverse` visit: record the facts, return the children's context."""
    facts = nodes[name]
    mf_type = flow.steps[name].metaflow_type
    facts.visited = True
    if mf_type in ("split", "foreach"):
        facts.split_parents, facts.split_branches = list(parents), list(branches)
        return parents + (name,), branches, True
    if mf_type == "join":
        if parents:  # Metaflow ignores joins without splits
            nodes[parents[-1]].matching_join = name
            facts.split_parents, facts.split_branches = list(parents), list(branches[:-1])
            return parents[:-1], branches[:-1], False
        return parents, branches, False
    facts.split_parents, facts.split_branches = list(parents), list(branches)
    return parents, branches, False


def _split_context_exact(flow: Flow, nodes: dict[str, NodeFacts], start: str) -> bool:
    in_funcs: dict[str, set[str]] = {name: set() for name in nodes}
    on_path: set[str] = set()  # Metaflow's `seen` (the start step is not in it at first)
    # ("enter", step, parents, branches, on_path?) or ("exit", step)
    stack: list[tuple] = [("enter", start, (), (), False)]
    visits = 0
    budget = EXACT_BUDGET_BASE + EXACT_BUDGET_PER_STEP * len(flow.steps)
    while stack:
        frame = stack.pop()
        if frame[0] == "exit":
            on_path.discard(frame[1])
            continue
        _, name, parents, branches, tracked = frame
        visits += 1
        if visits > budget:
            return False
        if tracked:
            on_path.add(name)
            stack.append(("exit", name))
        parents, branches, add_branch = _assign(flow, nodes, name, parents, branches)
        for child in reversed(known_out(flow, name)):
            if child in on_path:
                continue
            in_funcs[child].add(name)
            child_branches = branches + (child,) if add_branch else branches
            stack.append(("enter", child, parents, child_branches, True))
    for name, parents_of in in_funcs.items():
        nodes[name].in_funcs = sorted(parents_of)
    return True


def _split_context_per_state(flow: Flow, nodes: dict[str, NodeFacts], start: str) -> None:
    seen_states: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
    # A loop through a split would grow the context forever; no simple path holds more
    # splits than the flow has.
    max_depth = sum(1 for s in flow.steps.values() if s.metaflow_type in ("split", "foreach"))
    stack: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [(start, (), ())]
    while stack:
        name, parents, branches = stack.pop()
        state = (name, parents, branches)
        if state in seen_states:
            continue
        seen_states.add(state)
        parents, branches, add_branch = _assign(flow, nodes, name, parents, branches)
        if len(parents) > max_depth:
            continue
        for child in reversed(known_out(flow, name)):
            if child == name:
                continue  # a self-loop changes nothing
            stack.append((child, parents, branches + ((child,) if add_branch else ())))


def _topo_order(flow: Flow, reach_order: list[str]) -> list[str]:
    """Reachable steps in topological order (Kahn), loop members appended in BFS order."""
    reachable = set(reach_order)
    indegree = dict.fromkeys(reach_order, 0)
    for name in reach_order:
        for child in dict.fromkeys(known_out(flow, name)):
            if child in reachable and child != name:
                indegree[child] += 1
    ready = [n for n in reach_order if indegree[n] == 0]
    order: list[str] = []
    placed: set[str] = set()
    while ready:
        name = ready.pop()
        order.append(name)
        placed.add(name)
        for child in dict.fromkeys(known_out(flow, name)):
            if child in reachable and child != name:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
    order.extend(n for n in reach_order if n not in placed)
    return order


def strongly_connected(flow: Flow, skip_edge) -> list[list[str]]:  # noqa: ANN001
    """Tarjan's SCCs over known edges (iterative), minus edges where skip_edge(a, b)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in flow.steps:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            name, i = work.pop()
            if i == 0:
                index[name] = low[name] = counter
                counter += 1
                stack.append(name)
                on_stack.add(name)
            children = [c for c in known_out(flow, name) if not skip_edge(name, c)]
            recurse = False
            while i < len(children):
                child = children[i]
                i += 1
                if child not in index:
                    work.append((name, i))
                    work.append((child, 0))
                    recurse = True
                    break
                if child in on_stack:
                    low[name] = min(low[name], index[child])
            if recurse:
                continue
            if low[name] == index[name]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == name:
                        break
                result.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return result
