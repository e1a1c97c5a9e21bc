"""Go to definition (from `self.next` targets and switch-dict values to `def <step>`) and
find references (the `def` plus every transition to the step)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import from_fs_path

from flowspin.analysis.queries import mention_at, references
from flowspin.lsp.documents import to_model_position, to_range

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def definition(ls: FlowspinServer, uri: str, position: types.Position) -> list[types.Location]:
    doc = ls.workspace.get_text_document(uri)
    model = ls.state.models.navigation_model(doc)
    lines = doc.lines
    found = mention_at(model, *to_model_position(position, lines)) if model else None
    if found is None:
        return []
    flow, mention = found
    step = flow.steps.get(mention.step)
    if step is None:
        return []
    if step.file is not None:  # inherited from a base flow or mixin in another file
        where = from_fs_path(step.file) or step.file
        return [types.Location(uri=where, range=to_range(step.name_span))]
    return [types.Location(uri=uri, range=to_range(step.name_span, lines))]


def find_references(
    ls: FlowspinServer, uri: str, position: types.Position, include_declaration: bool
) -> list[types.Location]:
    doc = ls.workspace.get_text_document(uri)
    model = ls.state.models.navigation_model(doc)
    lines = doc.lines
    found = mention_at(model, *to_model_position(position, lines)) if model else None
    if found is None:
        return []
    flow, mention = found
    return [
        types.Location(uri=uri, range=to_range(m.span, lines))
        for m in references(flow, mention.step)
        if include_declaration or not m.is_definition
    ]


def register(server: FlowspinServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: FlowspinServer, params: types.DefinitionParams) -> list[types.Location]:
        return definition(ls, params.text_document.uri, params.position)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls: FlowspinServer, params: types.ReferenceParams) -> list[types.Location]:
        return find_references(
            ls, params.text_document.uri, params.position, params.context.include_declaration
        )
