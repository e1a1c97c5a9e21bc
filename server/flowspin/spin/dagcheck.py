"""Refusing, with the checker's own diagnostic, to spin a step that the edited DAG breaks.

A flow is often spun mid-edit. Metaflow builds its graph from whatever the file says, and a
mistyped `self.next(self.joni)` or a join without `inputs` then surfaces as an IndexError or a
KeyError deep in the spin or its card: flowspin's crash, not the user's mistake. The static
check (the same rules as `flowspin check` and the editor) already knows the mistake and its
line, so a spin that the mistake can reach gets that diagnostic instead. Steps it cannot reach
still spin.

Which steps a mistake reaches: the step it is in and everything downstream of it; and since a
join (or anything after one) gathers its inputs from the whole split above it, for such a step
also a mistake in, or naming, any step that is not downstream of it.
"""

from __future__ import annotations

import os
from typing import Any

from flowspin.protocol import error_info

_CACHE: dict[str, tuple[tuple[float, int], Any]] = {}


def blocking_problem(flow_file: str, flow_name: str, step: str) -> dict[str, Any] | None:
    """The first error-severity diagnostic that affects `step`, as a spin error, or None."""
    try:
        st = os.stat(flow_file)
        stamp = (st.st_mtime, st.st_size)
    except OSError:
        return None
    hit = _CACHE.get(flow_file)
    if hit is None or hit[0] != stamp:
        hit = (stamp, _errors(flow_file))
        _CACHE[flow_file] = hit
    model, errors = hit[1]
    if not errors:
        return None
    flow = next((f for f in model.flows if f.name == flow_name), None)
    if flow is None or step not in flow.steps:
        return None
    for diag in errors:
        if diag.flow not in (None, flow_name):
            continue
        if _affects(flow, diag, step):
            message = (
                f"{diag.message} [{diag.rule}] — the flow's graph is broken here, "
                f"so step {step} cannot spin; fix it (`flowspin check` lists every problem)"
            )
            error = error_info("FlowGraphError", message, file=flow_file, line=diag.span.line)
            return {**error, "rule": diag.rule}
    return None


def _errors(flow_file: str) -> tuple[Any, list[Any]]:
    from flowspin.analysis import check_source

    try:
        with open(flow_file, encoding="utf-8") as fh:
            source = fh.read()
        model, diags = check_source(source, flow_file)
    except Exception:  # the checker must never be the reason a spin fails
        return None, []
    if model.syntax_error is not None:
        return model, []  # the spin itself reports the syntax error with its line
    return model, [d for d in diags if d.severity == "error"]


def _affects(flow: Any, diag: Any, step: str) -> bool:
    where = diag.step
    if where is None or where not in flow.steps:
        return True  # about the whole flow (no start, no end, ...)
    ancestors = _upstream(flow, step)
    if where == step or where in ancestors:
        return True
    gathers = any(
        flow.steps[s].takes_inputs or len(flow.steps[s].in_steps) > 1
        for s in ancestors | {step}
        if s in flow.steps
    )
    if not gathers:
        return False
    places = [where, *(r for r in diag.related if r in flow.steps)]
    return any(step not in _upstream(flow, place) for place in places)


def _upstream(flow: Any, step: str) -> set[str]:
    parents: dict[str, list[str]] = {}
    for name, node in flow.steps.items():
        for child in node.out_steps:
            parents.setdefault(child, []).append(name)
    seen: set[str] = set()
    todo = list(parents.get(step, []))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(parents.get(name, []))
    return seen
