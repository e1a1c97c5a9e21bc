"""Completion of step names inside `self.next(` and of `self.<artifact>` inside a step.

The cursor context (inside `self.next(`? right after `self.`?) is read from the text, because
the half-typed line does not parse; what to offer comes from the model. An artifact's
`detail` is its value in one line (`int = 42`, `DataFrame [100 x 3], 2.4 kB`) from the latest
spin or run of the step that holds it, as the hover shows it (`flowspin.agents.values`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from flowspin.analysis.queries import available_artifacts, foreach_source, next_candidates
from flowspin.lsp.documents import DocSnapshot, Document, no_check
from flowspin.lsp.hover import KIND, parameter_line, value_finder

if TYPE_CHECKING:
    from flowspin.agents.values import ValueFinder
    from flowspin.lsp.server import FlowspinServer

_AFTER_SELF = re.compile(r"(?<![\w.])self\.(\w*)$")
_NEXT_CALL = "self.next("
_NAMED_STRING = re.compile(r"\b(?:foreach|condition)\s*=\s*[\"'](\w*)$")
_LOOKBACK_LINES = 8


@dataclass(frozen=True)
class CursorContext:
    in_next_call: bool
    after_self: bool  # the cursor follows `self.` (and maybe a partial name)
    in_string: bool = False  # inside a string of the `self.next(` call: foreach=/condition=


def cursor_context(doc: Document, position: types.Position) -> CursorContext:
    lines = doc.lines
    if position.line >= len(lines):
        return CursorContext(False, False)
    prefix = lines[position.line][: position.character]
    first = max(0, position.line - _LOOKBACK_LINES)
    before = "".join(lines[first : position.line]) + prefix
    start = before.rfind(_NEXT_CALL)
    call = before[start + len(_NEXT_CALL) - 1 :] if start >= 0 else ""
    in_next = start >= 0 and _open_parens(call) > 0
    if in_next and _NAMED_STRING.search(call):
        return CursorContext(True, False, in_string=True)
    return CursorContext(in_next, _AFTER_SELF.search(prefix) is not None)


def _open_parens(text: str) -> int:
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth <= 0:
                return 0
    return depth


def completions(
    ls: FlowspinServer,
    doc: DocSnapshot,
    position: types.Position,
    check: Callable[[], None] = no_check,
) -> types.CompletionList:
    """The items at `position`; linear in the flow's size (the step comes from the parse's
    index or from re-parsing just the edited step, the upstream artifacts from one walk of
    the ancestors)."""
    empty = types.CompletionList(is_incomplete=False, items=[])
    located = ls.state.models.completion_site(doc, position.line, check)
    if located is None:
        return empty
    flow, step = located
    context = cursor_context(doc, position)
    items: list[types.CompletionItem] = []
    if context.in_string:
        # foreach="..." / condition="...": the artifact's name, as a string.
        for name, source in available_artifacts(flow, step.name).items():
            if source.parameter is None:
                items.append(
                    types.CompletionItem(
                        label=name, kind=types.CompletionItemKind.Field, sort_text=f"0{name}"
                    )
                )
    elif context.in_next_call:
        for target in next_candidates(flow, step.name):
            label = target.name if context.after_self else f"self.{target.name}"
            items.append(
                types.CompletionItem(
                    label=label,
                    kind=types.CompletionItemKind.Method,
                    detail=KIND.get(target.node_type, target.node_type),
                    sort_text=f"0{label}",
                )
            )
    elif context.after_self:
        finder = value_finder(doc, flow)
        for name, source in available_artifacts(flow, step.name).items():
            if source.parameter is not None:
                detail = parameter_line(source.parameter)
                kind = types.CompletionItemKind.Constant
            elif source.writers:
                detail = "artifact from " + ", ".join(w for w, _ in source.writers)
                kind = types.CompletionItemKind.Field
            else:
                detail = "artifact assigned in this step"
                kind = types.CompletionItemKind.Field
            if finder is not None and source.parameter is None:
                detail = _value_detail(finder, step.name, name, source.writers) or detail
            items.append(
                types.CompletionItem(label=name, kind=kind, detail=detail, sort_text=f"0{name}")
            )
        foreach = foreach_source(flow, step.name)
        if foreach is not None:
            for name, what in (("input", "item"), ("index", "position of the item")):
                items.append(
                    types.CompletionItem(
                        label=name,
                        kind=types.CompletionItemKind.Property,
                        detail=f"this task's {what} of self.{foreach[1]}",
                        sort_text=f"1{name}",
                    )
                )
    return types.CompletionList(is_incomplete=False, items=items)


def _value_detail(finder: ValueFinder, step: str, name: str, writers: list) -> str:
    """The artifact's value in one line with where it came from, or "" when none holds it."""
    from flowspin.agents.values import one_line

    holders = [step] + [w for w, _ in writers if w != step]
    found = finder.find(name, holders)
    if found is None:
        return ""
    values, summary = found
    where = "spin" if values.source.kind == "spin" else f"run {values.source.run_id}"
    return f"{one_line(summary, 60)} ({where} of {values.source.step})"


def register(server: FlowspinServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."])
    )
    async def on_completion(
        ls: FlowspinServer, params: types.CompletionParams
    ) -> types.CompletionList:
        return await ls.work.request(
            params.text_document.uri,
            lambda doc, check: completions(ls, doc, params.position, check),
        )
