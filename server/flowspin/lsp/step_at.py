"""`flowspin/stepAt`: which step is at a line, decided by the model (not a regex)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowspin.analysis import queries
from flowspin.lsp.documents import looks_like_flow

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

METHOD = "flowspin/stepAt"


def step_at(ls: FlowspinServer, uri: str, line: int) -> dict[str, Any] | None:
    doc = ls.workspace.get_text_document(uri)
    if not looks_like_flow(doc.source):
        return None
    model = ls.state.models.navigation_model(doc)
    located = queries.step_at(model, line + 1, doc.lines) if model else None
    if located is None:
        return None
    flow, step = located
    return {
        "flow": flow.name,
        "step": step.name,
        "nodeType": step.node_type,
        "line": step.span.line - 1,
    }


def _field(params: Any, name: str) -> Any:
    if isinstance(params, dict):
        return params.get(name)
    return getattr(params, name, None)


def register(server: FlowspinServer) -> None:
    @server.feature(METHOD)
    def on_step_at(ls: FlowspinServer, params: Any) -> dict[str, Any] | None:
        uri, line = _field(params, "uri"), _field(params, "line")
        if not isinstance(uri, str) or not isinstance(line, int):
            return None
        return step_at(ls, uri, line)
