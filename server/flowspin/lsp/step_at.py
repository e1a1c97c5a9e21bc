"""`flowspin/stepAt`: which step is at a line, decided by the model (not a regex)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowspin import protocol
from flowspin.lsp.documents import DocSnapshot, looks_like_flow, no_check

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

METHOD = protocol.STEP_AT


def step_at(
    ls: FlowspinServer, doc: DocSnapshot, line: int, check: Callable[[], None] = no_check
) -> protocol.StepAt | None:
    if not looks_like_flow(doc.source):
        return None
    view = ls.state.models.view(doc, check=check)
    located = view.index.step_at(line + 1) if view else None
    if located is None:
        return None
    flow, step = located
    return {
        "flow": flow.name,
        "step": step.name,
        "node_type": step.node_type,
        "line": step.span.line - 1,
    }


def _field(params: Any, name: str) -> Any:
    if isinstance(params, dict):
        return params.get(name)
    return getattr(params, name, None)


def register(server: FlowspinServer) -> None:
    @server.feature(METHOD)
    async def on_step_at(ls: FlowspinServer, params: Any) -> protocol.StepAt | None:
        uri, line = _field(params, "uri"), _field(params, "line")
        if not isinstance(uri, str) or not isinstance(line, int):
            return None
        # Answered for the text it was asked about even when the user typed since: the
        # extension's commands wait for it and do not retry.
        return await ls.work.request(
            uri, lambda doc, check: step_at(ls, doc, line, check), drop_stale=False
        )
