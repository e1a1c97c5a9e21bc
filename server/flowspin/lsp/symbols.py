"""Document symbols: each flow with its steps, so the Outline view shows the DAG's steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lsprotocol import types

from flowspin.analysis import Flow, Step
from flowspin.analysis.queries import first_line, own_steps
from flowspin.lsp.documents import to_range

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def _step_symbol(step: Step, lines: Sequence[str]) -> types.DocumentSymbol:
    full = to_range(step.span, lines)
    full.start = types.Position(line=first_line(step, lines) - 1, character=0)
    return types.DocumentSymbol(
        name=step.name,
        kind=types.SymbolKind.Method,
        detail=step.node_type,
        range=full,
        selection_range=to_range(step.name_span, lines),
    )


def _flow_symbol(flow: Flow, lines: Sequence[str]) -> types.DocumentSymbol:
    full = to_range(flow.span, lines)
    full.start = types.Position(line=full.start.line, character=0)
    return types.DocumentSymbol(
        name=flow.name,
        kind=types.SymbolKind.Class,
        detail="FlowSpec",
        range=full,
        selection_range=to_range(flow.name_span, lines),
        children=[_step_symbol(s, lines) for s in own_steps(flow)],
    )


def document_symbols(ls: FlowspinServer, uri: str) -> list[types.DocumentSymbol]:
    doc = ls.workspace.get_text_document(uri)
    model = ls.state.models.navigation_model(doc)
    lines = doc.lines
    return [_flow_symbol(f, lines) for f in model.flows] if model else []


def register(server: FlowspinServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(
        ls: FlowspinServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        return document_symbols(ls, params.text_document.uri)
