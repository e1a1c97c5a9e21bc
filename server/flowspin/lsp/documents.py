"""Parsed models of open documents, and conversions between model and LSP positions.

Every feature asks this store instead of parsing itself, so one edit is parsed once, and the
lookups over a parse (`ModelIndex`: step by line, mentions, upstream artifacts) are built once
per parse too. While the user is mid-edit (syntax error), navigation features keep working
from the last model that parsed, so code lenses and the outline do not flicker on every
keystroke.

The store is called from the files' worker threads (see `work.py`) as well as from the event
loop, so it reads documents only as `DocSnapshot`s (text and version taken together on the
loop) and guards its dictionaries with a lock; the parsing itself runs outside the lock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lsprotocol import types
from pygls.uris import to_fs_path

from flowspin.analysis import (
    Diagnostic,
    Flow,
    FlowModel,
    Span,
    Step,
    check_model,
    parse_source,
)
from flowspin.analysis.index import ModelIndex
from flowspin.lsp.bases import fresh
from flowspin.lsp.splice import repair, same_lenses, splice_step

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

# FlowSpec, or Metaflow imported at all: a flow subclassing a base flow from a sibling module
# may never name FlowSpec (`from base import BaseFlow` + `from metaflow import step`).
_FLOW_HINT = re.compile(r"\bFlowSpec\b|\bmetaflow\b")


def flow_file_of(ls: FlowspinServer, uri: str) -> Path:
    """The document's file, resolved: how spin workers, runs and lenses key a flow file."""
    return Path(ls.workspace.get_text_document(uri).path).resolve()


def looks_like_flow(source: str) -> bool:
    """Cheap pre-check: only files that mention FlowSpec or metaflow are analysed at all."""
    return _FLOW_HINT.search(source) is not None


class Document(Protocol):
    """What the store reads of a document: pygls' `TextDocument` or a `DocSnapshot`."""

    @property
    def uri(self) -> str: ...
    @property
    def version(self) -> int | None: ...
    @property
    def source(self) -> str: ...
    @property
    def lines(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class DocSnapshot:
    """A document's text and version at one moment, taken on the event loop.

    Worker threads read this instead of pygls' `TextDocument`, whose text the loop replaces
    on every `didChange`: a thread reading the live document could pair one version's number
    with another version's text. `lines` is split once (pygls' `TextDocument.lines` splits
    the whole text again on every access, which a per-step loop turns quadratic).
    """

    uri: str
    version: int | None
    source: str
    path: str | None
    language_id: str | None

    @cached_property
    def lines(self) -> tuple[str, ...]:
        return tuple(self.source.splitlines(True))


def snapshot(ls: FlowspinServer, uri: str) -> DocSnapshot:
    """The document's current text and version (call on the event loop)."""
    doc = ls.workspace.get_text_document(uri)
    return DocSnapshot(uri, doc.version, doc.source, doc.path, doc.language_id)


def no_check() -> None:
    """A `check` that never stops the work."""


@dataclass
class Analysis:
    source: str
    version: int | None
    model: FlowModel
    diagnostics: list[Diagnostic]


@dataclass
class View:
    """What navigation features read: the model to navigate, its lookups and the lines it is
    shown in (the document's current ones)."""

    model: FlowModel
    index: ModelIndex
    lines: Sequence[str]


@dataclass
class ModelStore:
    current: dict[str, Analysis] = field(default_factory=dict)
    last_good: dict[str, FlowModel] = field(default_factory=dict)
    repaired: dict[str, tuple[tuple[str, tuple[int, ...]], FlowModel | None]] = field(
        default_factory=dict
    )
    # Per document: (text, model) -> the view built for them, so an index is built once per
    # parse however many requests read it.
    views: dict[str, tuple[str, FlowModel, View]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # How the analysis reads other project files a flow builds on (bases, mixins): set by the
    # server to prefer open documents' unsaved text (`bases.ProjectReader`); None: the disk.
    read: Callable[[str], str | None] | None = None
    # The text of `last_good[uri]`, which completion compares the current text with.
    last_good_source: dict[str, str] = field(default_factory=dict)

    def analyse(self, doc: Document, check: Callable[[], None] = no_check) -> Analysis:
        """The analysis of the document's current text (cached until the text changes).

        `check` is called between the stages (parse, lint) and raises to abandon work that
        is no longer wanted (a newer version of the document arrived)."""
        source = doc.source
        with self.lock:
            cached = self.current.get(doc.uri)
        if cached is not None and cached.source == source and fresh(cached.model, self.read):
            cached.version = doc.version
            return cached
        check()
        path = to_fs_path(doc.uri) or doc.uri
        model = parse_source(source, path, self.read)
        check()
        diagnostics = check_model(model)
        analysis = Analysis(source, doc.version, model, diagnostics)
        with self.lock:
            self.current[doc.uri] = analysis
            if model.syntax_error is None:
                self.last_good[doc.uri] = model
                self.last_good_source[doc.uri] = source
        return analysis

    def navigation_model(
        self, doc: Document, cursor_line: int | None = None, check: Callable[[], None] = no_check
    ) -> FlowModel | None:
        """The model features navigate with.

        The current text when it parses. Mid-edit it does not: then the line with the syntax
        error (and the cursor's line, 0-based, when given) is swapped for `pass` and the text
        parsed again, which keeps every line where it is; failing that, the last model that
        parsed.
        """
        if not looks_like_flow(doc.source):
            return None
        analysis = self.analyse(doc, check)
        model = analysis.model
        if model.syntax_error is None:
            return model
        candidates = [model.syntax_error.span.line - 1]
        if cursor_line is not None:
            candidates.append(cursor_line)
        # `repair` reads the lines as a set: lenses (no cursor) and a completion on the line
        # with the error share one repaired parse.
        key = (analysis.source, tuple(sorted(set(candidates))))
        with self.lock:
            cached = self.repaired.get(doc.uri)
        if cached is None or cached[0] != key:
            check()
            cached = (key, repair(analysis.source, candidates, model.path))
            with self.lock:
                self.repaired[doc.uri] = cached
        with self.lock:
            return cached[1] or self.last_good.get(doc.uri, model)

    def view(
        self, doc: Document, cursor_line: int | None = None, check: Callable[[], None] = no_check
    ) -> View | None:
        """The navigation model with its index, built once per parse and text."""
        model = self.navigation_model(doc, cursor_line, check)
        if model is None:
            return None
        source = doc.source
        with self.lock:
            cached = self.views.get(doc.uri)
        if cached is not None and cached[1] is model and cached[0] == source:
            return cached[2]
        check()
        lines = doc.lines
        built = View(model, ModelIndex(model, lines), lines)
        with self.lock:
            self.views[doc.uri] = (source, model, built)
        return built

    def completion_site(
        self, doc: Document, cursor_line: int, check: Callable[[], None] = no_check
    ) -> tuple[Flow, Step] | None:
        """The flow and step completion works in at `cursor_line` (0-based).

        Right after a keystroke the text is usually new (and broken): then, when the edit
        stays inside one step, only that step is parsed again (`splice.py`) instead of the
        whole file twice; otherwise, or when the text is parsed already, the navigation
        model's step at the line."""
        source = doc.source
        if not looks_like_flow(source):
            return None
        with self.lock:
            cached = self.current.get(doc.uri)
            good = self.last_good.get(doc.uri)
            good_source = self.last_good_source.get(doc.uri)
        parsed = (
            cached is not None and cached.source == source and cached.model.syntax_error is None
        )
        if not parsed and good is not None and good_source is not None and fresh(good, self.read):
            check()
            site = splice_step(good, good_source.splitlines(True), doc.lines, cursor_line)
            if site is not None:
                return site
        view = self.view(doc, cursor_line, check)
        return view.index.step_at(cursor_line + 1) if view else None

    def lens_view(self, doc: Document, check: Callable[[], None] = no_check) -> View | None:
        """The view code lenses are computed from: the last parsed text's while the current
        one is not parsed yet and the edit since cannot change the lenses (`same_lenses`:
        typing within a line of a step's body), else `view`. An editor asks for lenses after
        every edit; this answers them without waiting for the parse."""
        source = doc.source
        with self.lock:
            cached = self.current.get(doc.uri)
            good = self.last_good.get(doc.uri)
            good_source = self.last_good_source.get(doc.uri)
            known = self.views.get(doc.uri)
        parsed = (
            cached is not None and cached.source == source and cached.model.syntax_error is None
        )
        if not parsed and good is not None and good_source is not None and fresh(good, self.read):
            check()
            old_lines = good_source.splitlines(True)
            if looks_like_flow(source) and same_lenses(good, old_lines, doc.lines):
                if known is not None and known[1] is good and known[0] == good_source:
                    return known[2]
                return View(good, ModelIndex(good, old_lines), old_lines)
        return self.view(doc, check=check)

    def forget(self, uri: str) -> None:
        with self.lock:
            self.current.pop(uri, None)
            self.last_good.pop(uri, None)
            self.last_good_source.pop(uri, None)
            self.repaired.pop(uri, None)
            self.views.pop(uri, None)


def _utf16_col(lines: Sequence[str] | None, line: int, col: int) -> int:
    """Model column (code points) to LSP column (UTF-16 units, the protocol's default)."""
    if lines is None or not 0 <= line < len(lines) or lines[line].isascii():
        return col
    return len(lines[line][:col].encode("utf-16-le")) // 2


def _model_col(lines: Sequence[str] | None, line: int, character: int) -> int:
    if lines is None or not 0 <= line < len(lines) or lines[line].isascii():
        return character
    text, units = lines[line], 0
    for index, ch in enumerate(text):
        if units >= character:
            return index
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def to_range(span: Span, lines: Sequence[str] | None = None) -> types.Range:
    """Model span (1-based lines, code points) to an LSP range (0-based lines, UTF-16);
    pass the document's `lines` so non-ASCII lines convert exactly."""
    start, end = max(span.line - 1, 0), max(span.end_line - 1, 0)
    return types.Range(
        start=types.Position(line=start, character=_utf16_col(lines, start, max(span.col, 0))),
        end=types.Position(line=end, character=_utf16_col(lines, end, max(span.end_col, 0))),
    )


def to_model_position(
    position: types.Position, lines: Sequence[str] | None = None
) -> tuple[int, int]:
    return position.line + 1, _model_col(lines, position.line, position.character)
