"""`flowspin/flowGraph` for the flow panel: every flow of a file with its steps, edges and each
step's status, and `flowspin/flowGraphChanged` `{uri}` whenever that answer may have changed
(an edit analysed, a spin ended, a run's progress) so the panel asks again.

The graph is the static parse's (`flowspin.analysis`); a status is the newer of the step's
latest spin from this editor and its latest editor run (`running.RunTracker.last`), the same
sources the lenses show, and "stale" wins over both when the step's code, or code upstream of
it, changed since (`flowspin.analysis.staleness`, kept by `staleness.StaleTracker`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from flowspin import protocol
from flowspin.analysis import Flow
from flowspin.analysis.graph import metaflow_facts
from flowspin.lsp.documents import DocSnapshot, looks_like_flow

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

FLOW_GRAPH = protocol.FLOW_GRAPH
FLOW_GRAPH_CHANGED = protocol.FLOW_GRAPH_CHANGED

_KINDS: dict[str, protocol.StepKind] = {
    "start": "start",
    "linear": "linear",
    "split": "split",
    "foreach": "foreach",
    "parallel_foreach": "foreach",
    "switch": "switch",
    "join": "join",
    "end": "end",
}


def notify_changed(ls: FlowspinServer, uri: str) -> None:
    """Tell the client the graph of `uri` may have changed (on the event loop)."""
    try:
        params: protocol.UriParams = {"uri": uri}
        ls.protocol.notify(FLOW_GRAPH_CHANGED, params)
    except Exception:
        log.debug("flowGraphChanged for %s not sent", uri, exc_info=True)


def _empty_status() -> protocol.StepStatus:
    return {
        "state": "never",
        "source": None,
        "duration_ms": None,
        "error_line": None,
        "tasks_done": None,
        "tasks_total": None,
        "num_splits": None,
        "reason": None,
    }


def _spin_status(ls: FlowspinServer, uri: str, flow_file: Path | None, step: str) -> Any:
    """(time, status) of the step's latest spin from this editor, or None."""
    tracker = ls.spins
    with tracker.lock:
        spinning = tracker.active_steps.get((uri, step), 0)
        last = tracker.results.get((uri, step))
    status = _empty_status()
    status["source"] = "spin"
    if spinning:
        status["state"] = "running"
        return ls.clock(), status
    if last is None:
        return None
    at, result = last
    status["duration_ms"] = result.duration_ms
    if result.status == "ok":
        status["state"] = "ok"
    else:
        status["state"] = "failed"
        err = result.error or {}
        same_file = (
            flow_file is not None and err.get("file") and (Path(err["file"]).resolve() == flow_file)
        )
        if same_file and err.get("line"):
            status["error_line"] = int(err["line"])
    return at, status


_RUN_STATES: dict[str, protocol.StepState] = {
    "done": "ok",
    "failed": "failed",
    "cancelled": "failed",
    "running": "running",
}


def _run_status(ls: FlowspinServer, uri: str, flow_file: Path | None, flow: Flow, step: str) -> Any:
    """(time, status) of the step in the file's latest editor run, or None."""
    runs = ls.runs
    if flow_file is None:
        return None
    with runs.lock:
        last = runs.last.get(flow_file)
        errors = list(runs.errors.get(uri, []))
    if last is None or step not in last.steps:
        return None
    progress = last.steps[step]
    state = _RUN_STATES.get(progress.status)
    if state is None:  # pending: not run (yet)
        return None
    status = _empty_status()
    status["state"], status["source"] = state, "run"
    width = progress.expected if progress.expected is not None else progress.tasks
    status["tasks_done"] = progress.done
    status["tasks_total"] = width
    if progress.status != "running":
        status["duration_ms"] = progress.duration_ms
    if state == "failed":
        for shown, diag in errors:
            data = diag.data if isinstance(diag.data, dict) else {}
            if shown == uri and data.get("step") == step:
                status["error_line"] = diag.range.start.line + 1
                break
    node = flow.steps.get(step)
    if node is not None and node.node_type in ("foreach", "parallel_foreach"):
        for child in node.out_steps:
            body = last.steps.get(child)
            if body is not None and (body.expected is not None or body.tasks):
                status["num_splits"] = body.expected if body.expected is not None else body.tasks
                break
    return last.updated, status


def step_status(
    ls: FlowspinServer,
    uri: str,
    flow_file: Path | None,
    flow: Flow,
    step: str,
    stale: dict[str, str],
) -> protocol.StepStatus:
    """The panel's status of one step: the newer of its latest spin and run; "stale" (with
    the reason) instead when its code or code upstream changed since, unless it is running."""
    found = [
        s
        for s in (
            _spin_status(ls, uri, flow_file, step),
            _run_status(ls, uri, flow_file, flow, step),
        )
        if s is not None
    ]
    running: list[protocol.StepStatus] = [s for _, s in found if s["state"] == "running"]
    if running:
        return running[0]
    status: protocol.StepStatus = max(found, key=lambda s: s[0])[1] if found else _empty_status()
    if step in stale:
        status = status.copy()
        status["state"], status["reason"] = "stale", stale[step]
    return status


def _edges(flow: Flow) -> list[protocol.FlowEdge]:
    facts = metaflow_facts(flow)
    reached = {name for name, f in facts.items() if f["in_funcs"]} | {flow.start_step}
    edges: list[protocol.FlowEdge] = []
    for step in flow.steps.values():
        tail = step.tail_transition
        labels: dict[str, list[str | None]] = {}
        if tail is not None and tail.kind == "switch":
            for case, target in (tail.switch_cases or {}).items():
                labels.setdefault(target, []).append(str(case))
        for target in dict.fromkeys(step.out_steps):
            into = cast("list[str]", facts.get(target, {}).get("in_funcs") or [])
            # Metaflow's walk leaves out edges back onto the walked path (a recursive switch).
            back = target == step.name or (step.name in reached and step.name not in into)
            for label in labels.get(target) or [None]:
                edges.append({"from": step.name, "to": target, "label": label, "back": back})
    return edges


def flow_graph(
    ls: FlowspinServer, doc: DocSnapshot, check: Callable[[], None]
) -> protocol.FlowGraph:
    """The answer to `flowspin/flowGraph` for the document's current text."""
    answer: protocol.FlowGraph = {"uri": doc.uri, "flows": [], "error": None}
    if not looks_like_flow(doc.source):
        answer["error"] = "no flow in this file"
        return answer
    analysis = ls.state.models.analyse(doc, check)
    model = analysis.model
    if model.syntax_error is not None:
        err = model.syntax_error
        answer["error"] = f"syntax error at line {err.span.line}: {err.message}"
        return answer
    if not model.flows:
        answer["error"] = "no flow in this file"
        return answer
    flow_file = Path(doc.path).resolve() if doc.path else None
    for flow in model.flows:
        check()
        stale = ls.stale.stale_steps(doc.uri, flow)
        steps: list[protocol.FlowStep] = [
            {
                "name": step.name,
                "line": step.span.line,
                "kind": _KINDS.get(step.node_type, "linear"),
                "status": step_status(ls, doc.uri, flow_file, flow, step.name, stale),
            }
            for step in flow.steps.values()
        ]
        answer["flows"].append({"name": flow.name, "steps": steps, "edges": _edges(flow)})
    return answer


def register(server: FlowspinServer) -> None:
    @server.feature(FLOW_GRAPH)
    async def on_flow_graph(ls: FlowspinServer, params: Any) -> protocol.FlowGraph:
        uri = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
        if not isinstance(uri, str):
            return {"uri": "", "flows": [], "error": 'expected {"uri": ...}'}
        # The panel does not retry a ContentModified: answer for the text as asked.
        return await ls.work.request(
            uri, lambda doc, check: flow_graph(ls, doc, check), drop_stale=False
        )
