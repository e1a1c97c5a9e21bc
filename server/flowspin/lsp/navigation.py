"""Go to definition (from `self.next` targets and switch-dict values to `def <step>`) and
find references (the `def` plus every transition to the step)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import from_fs_path

from flowspin.lsp.documents import DocSnapshot, no_check, to_model_position, to_range

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def definition(
    ls: FlowspinServer,
    doc: DocSnapshot,
    position: types.Position,
    check: Callable[[], None] = no_check,
) -> list[types.Location]:
    view = ls.state.models.view(doc, check=check)
    lines = view.lines if view else doc.lines
    found = view.index.mention_at(*to_model_position(position, lines)) if view else None
    if found is None:
        return []
    flow, mention = found
    step = flow.steps.get(mention.step)
    if step is None:
        return []
    if step.file is not None:  # inherited from a base flow or mixin in another file
        where = from_fs_path(step.file) or step.file
        return [types.Location(uri=where, range=to_range(step.name_span))]
    return [types.Location(uri=doc.uri, range=to_range(step.name_span, lines))]


def find_references(
    ls: FlowspinServer,
    doc: DocSnapshot,
    position: types.Position,
    include_declaration: bool,
    check: Callable[[], None] = no_check,
) -> list[types.Location]:
    view = ls.state.models.view(doc, check=check)
    lines = view.lines if view else doc.lines
    found = view.index.mention_at(*to_model_position(position, lines)) if view else None
    if found is None or view is None:
        return []
    flow, mention = found
    return [
        types.Location(uri=doc.uri, range=to_range(m.span, lines))
        for m in view.index.references(flow, mention.step)
        if include_declaration or not m.is_definition
    ]


def register(server: FlowspinServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def on_definition(
        ls: FlowspinServer, params: types.DefinitionParams
    ) -> list[types.Location]:
        return await ls.work.request(
            params.text_document.uri,
            lambda doc, check: definition(ls, doc, params.position, check),
        )

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    async def on_references(
        ls: FlowspinServer, params: types.ReferenceParams
    ) -> list[types.Location]:
        include = params.context.include_declaration
        return await ls.work.request(
            params.text_document.uri,
            lambda doc, check: find_references(ls, doc, params.position, include, check),
        )
