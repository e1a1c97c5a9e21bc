"""Publish the flow lint diagnostics of open documents.

Scheduling: an edit that arrives while no check is pending is checked right away (after one
turn of the event loop, so edits already queued behind it win); an edit that arrives while a
check is still pending cancels it and waits a short debounce, so a burst of keystrokes is
checked once, on its latest text. Before publishing, the document version is compared again:
a stale result is never published.

The parse and lint run on the file's worker thread (`work.py`), not on the event loop, so a
big flow's check holds up neither requests nor other files' checks; a newer edit abandons the
check of the older text at its next stage. On a big document (`BIG_TEXT`) even the first
check of an edit waits the debounce: requests that come with the keystroke (completion after
`self.`) then reach the file's worker before the check's parse, which holds it (and Python's
GIL) for hundreds of milliseconds, while they need a few.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import from_fs_path

from flowspin.analysis import Diagnostic
from flowspin.lsp.bases import ProjectReader, dependents, newly_read
from flowspin.lsp.documents import looks_like_flow, snapshot, to_range
from flowspin.lsp.flowgraph import notify_changed
from flowspin.lsp.work import Stale

if TYPE_CHECKING:
    from flowspin.analysis import Flow, FlowModel
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.025
BIG_TEXT = 100_000  # characters (some 400 steps): a check takes longer than the debounce
SOURCE = "flowspin"

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def to_lsp(
    uri: str, model: FlowModel, diag: Diagnostic, lines: Sequence[str] | None = None
) -> types.Diagnostic:
    related = []
    flow = _flow_named(model, diag.flow)
    if diag.origin is not None:  # the finding is in a base flow or mixin of another file
        file, span = diag.origin
        related.append(
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=from_fs_path(file) or file, range=to_range(span)),
                message="here",
            )
        )
    if flow is not None and diag.related:
        for name in diag.related:
            step = flow.steps.get(name)
            if step is None:
                continue
            where = uri if step.file is None else (from_fs_path(step.file) or step.file)
            span_lines = lines if step.file is None else None
            related.append(
                types.DiagnosticRelatedInformation(
                    location=types.Location(uri=where, range=to_range(step.name_span, span_lines)),
                    message=f"step '{name}'",
                )
            )
    return types.Diagnostic(
        range=to_range(diag.span, lines),
        message=diag.message,
        severity=_SEVERITY.get(diag.severity, types.DiagnosticSeverity.Error),
        code=diag.rule,
        source=SOURCE,
        related_information=related or None,
    )


def _flow_named(model: FlowModel, name: str | None) -> Flow | None:
    return next((f for f in model.flows if f.name == name), None) if name else None


class DiagnosticsScheduler:
    def __init__(self, server: FlowspinServer, debounce: float = DEBOUNCE_SECONDS) -> None:
        self.server = server
        self.debounce = debounce
        # Per document: the pending check and the version it was scheduled for.
        self._tasks: dict[str, tuple[asyncio.Task[None], int | None]] = {}
        self.failed: set[str] = set()
        self.closed = False

    def schedule(self, uri: str) -> None:
        if self.closed:
            return
        version = self.server.workspace.get_text_document(uri).version
        previous, previous_version = self._tasks.get(uri, (None, None))
        pending = previous is not None and not previous.done()
        if pending and previous_version == version:
            return  # a save of the text being checked: that check stands
        if pending and previous is not None:
            previous.cancel()
        big = len(self.server.workspace.get_text_document(uri).source) > BIG_TEXT
        delay = self.debounce if pending or big else 0.0
        task = asyncio.get_running_loop().create_task(self._later(uri, delay))
        self._tasks[uri] = (task, version)

    def cancel(self, uri: str) -> None:
        task, _ = self._tasks.pop(uri, (None, None))
        if task is not None:
            task.cancel()

    def shutdown(self) -> None:
        """Cancel every pending check; none is scheduled after this (idempotent)."""
        self.closed = True
        for uri in list(self._tasks):
            try:
                self.cancel(uri)
            except RuntimeError:  # its loop is closed already (the server's last breath)
                pass

    async def _analysed(self, uri: str) -> bool:
        """Parse and lint the document's current text on its worker thread; False when a
        newer version arrived meanwhile (its own check publishes)."""
        await self.server.work.quiet(uri)  # requests that came with the edit go first
        doc = snapshot(self.server, uri)
        if doc.language_id in (None, "python") and looks_like_flow(doc.source):
            models = self.server.state.models
            try:
                await self.server.work.run(doc, lambda check: models.analyse(doc, check))
            except Stale:
                return False
        return self.server.work.is_current(doc)

    async def _later(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            if not await self._analysed(uri):
                return
            self.publish_now(uri)  # on the loop, with no await since the check: cached
            self.server.stale.analysed(uri)  # the first text seen is the base run's code
            notify_changed(self.server, uri)  # the flow panel asks for the new graph
        except Exception as exc:  # a bug in a rule must not silence later checks
            log.exception("checking %s failed", uri)
            self.failed.add(uri)
            self.server.send_status("error", f"Checking {uri} failed: {exc} (see the log)")
        else:
            if uri in self.failed:
                self.failed.discard(uri)
                if not self.failed:
                    self.server.send_status("ready", "flows checked")

    def publish_now(self, uri: str) -> None:
        state = self.server.state
        doc = self.server.workspace.get_text_document(uri)
        # A failed spin's exception stays beside the lint findings (see `spinning`).
        # So does a failed run task's (see `running`).
        spun = self.server.spins.diagnostics_for(uri) + self.server.runs.diagnostics_for(uri)
        if doc.language_id not in (None, "python") or not looks_like_flow(doc.source):
            if spun:
                self._publish(uri, spun, doc.version)
            elif uri in state.published:
                self.clear(uri)
            return
        analysis = state.models.analyse(doc)
        if self.server.workspace.get_text_document(uri).version != analysis.version:
            return  # a newer edit arrived; its own check publishes
        lines = doc.lines if analysis.diagnostics else None
        items = [to_lsp(uri, analysis.model, d, lines) for d in analysis.diagnostics] + spun
        self._publish(uri, items, analysis.version)
        for base in newly_read(self.server, uri, analysis.model):
            # A base file's own check depends on its subclasses: drop its cached analysis.
            state.models.current.pop(base, None)
            self.schedule(base)

    def republish(self, uris: set[str] | list[str]) -> None:
        """Publish again after spin or run errors changed (each uri on its own: one bad file
        must not keep the others stale)."""
        for uri in uris:
            try:
                self.publish_now(uri)
            except Exception:
                log.exception("publishing diagnostics of %s failed", uri)

    def _publish(self, uri: str, items: list[types.Diagnostic], version: int | None) -> None:
        state = self.server.state
        if items:
            state.published.add(uri)
        else:
            state.published.discard(uri)
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=items, version=version)
        )

    def clear(self, uri: str) -> None:
        self.server.state.published.discard(uri)
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )


def register(server: FlowspinServer) -> None:
    scheduler = server.diagnostics
    # Bases and mixins in other files are read as the editor has them (unsaved text too).
    server.state.models.read = ProjectReader(server)

    def schedule_with_dependents(uri: str) -> None:
        """Check `uri`, and the open flows built on classes of that file (a base flow or
        mixin edited in another tab changes their graph)."""
        scheduler.schedule(uri)
        for other in dependents(server, uri):
            scheduler.schedule(other)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: FlowspinServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.work.note_version(params.text_document.uri, params.text_document.version)
        scheduler.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: FlowspinServer, params: types.DidChangeTextDocumentParams) -> None:
        # First: work on older versions stops at its next checkpoint from here on.
        ls.work.note_version(params.text_document.uri, params.text_document.version)
        schedule_with_dependents(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: FlowspinServer, params: types.DidSaveTextDocumentParams) -> None:
        schedule_with_dependents(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: FlowspinServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        scheduler.cancel(uri)
        ls.work.forget(uri)
        ls.state.models.forget(uri)
        scheduler.clear(uri)
        others = set(ls.spins.forget(uri)) | ls.runs.forget(uri)
        for other in sorted(others):
            scheduler.publish_now(other)  # errors of this flow shown in a helper module
