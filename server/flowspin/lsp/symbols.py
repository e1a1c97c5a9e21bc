"""Document symbols: each flow with its steps, so the Outline view shows the DAG's steps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lsprotocol import types

from flowspin.analysis import Flow, Step
from flowspin.analysis.index import ModelIndex
from flowspin.lsp.documents import DocSnapshot, no_check, to_range

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def _step_symbol(step: Step, first: int, lines: Sequence[str]) -> types.DocumentSymbol:
    full = to_range(step.span, lines)
    full.start = types.Position(line=first - 1, character=0)
    return types.DocumentSymbol(
        name=step.name,
        kind=types.SymbolKind.Method,
        detail=step.node_type,
        range=full,
        selection_range=to_range(step.name_span, lines),
    )


def _flow_symbol(flow: Flow, index: ModelIndex, lines: Sequence[str]) -> types.DocumentSymbol:
    known = index.of(flow)
    full = to_range(flow.span, lines)
    full.start = types.Position(line=full.start.line, character=0)
    return types.DocumentSymbol(
        name=flow.name,
        kind=types.SymbolKind.Class,
        detail="FlowSpec",
        range=full,
        selection_range=to_range(flow.name_span, lines),
        children=[_step_symbol(s, known.first_lines[s.name], lines) for s in known.own],
    )


def document_symbols(
    ls: FlowspinServer, doc: DocSnapshot, check: Callable[[], None] = no_check
) -> list[types.DocumentSymbol]:
    view = ls.state.models.view(doc, check=check)
    if view is None:
        return []
    return [_flow_symbol(f, view.index, view.lines) for f in view.model.flows]


def register(server: FlowspinServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def on_symbols(
        ls: FlowspinServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        return await ls.work.request(
            params.text_document.uri, lambda doc, check: document_symbols(ls, doc, check)
        )
