"""Parsed models of open documents, and conversions between model and LSP positions.

Every feature asks this store instead of parsing itself, so one edit is parsed once. While the
user is mid-edit (syntax error), navigation features keep working from the last model that
parsed, so code lenses and the outline do not flicker on every keystroke.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from flowspin.analysis import Diagnostic, FlowModel, Span, check_source, parse_source
from flowspin.lsp.bases import fresh

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


@dataclass
class Analysis:
    source: str
    version: int | None
    model: FlowModel
    diagnostics: list[Diagnostic]


@dataclass
class ModelStore:
    current: dict[str, Analysis] = field(default_factory=dict)
    last_good: dict[str, FlowModel] = field(default_factory=dict)
    repaired: dict[str, tuple[tuple[str, tuple[int, ...]], FlowModel | None]] = field(
        default_factory=dict
    )
    # How the analysis reads other project files a flow builds on (bases, mixins): set by the
    # server to prefer open documents' unsaved text (`bases.ProjectReader`); None: the disk.
    read: Callable[[str], str | None] | None = None

    def analyse(self, doc: TextDocument) -> Analysis:
        """The analysis of the document's current text (cached until the text changes)."""
        source = doc.source
        cached = self.current.get(doc.uri)
        if cached is not None and cached.source == source and fresh(cached.model, self.read):
            cached.version = doc.version
            return cached
        path = to_fs_path(doc.uri) or doc.uri
        model, diagnostics = check_source(source, path, self.read)
        analysis = Analysis(source, doc.version, model, diagnostics)
        self.current[doc.uri] = analysis
        if model.syntax_error is None:
            self.last_good[doc.uri] = model
        return analysis

    def navigation_model(
        self, doc: TextDocument, cursor_line: int | None = None
    ) -> FlowModel | None:
        """The model features navigate with.

        The current text when it parses. Mid-edit it does not: then the line with the syntax
        error (and the cursor's line, 0-based, when given) is swapped for `pass` and the text
        parsed again, which keeps every line where it is; failing that, the last model that
        parsed.
        """
        if not looks_like_flow(doc.source):
            return None
        analysis = self.analyse(doc)
        model = analysis.model
        if model.syntax_error is None:
            return model
        candidates = [model.syntax_error.span.line - 1]
        if cursor_line is not None:
            candidates.append(cursor_line)
        key = (analysis.source, tuple(candidates))
        cached = self.repaired.get(doc.uri)
        if cached is None or cached[0] != key:
            cached = (key, repair(analysis.source, candidates, model.path))
            self.repaired[doc.uri] = cached
        return cached[1] or self.last_good.get(doc.uri, model)

    def forget(self, uri: str) -> None:
        self.current.pop(uri, None)
        self.last_good.pop(uri, None)
        self.repaired.pop(uri, None)


def repair(source: str, lines_to_blank: list[int], path: str) -> FlowModel | None:
    """The model of `source` with one of the given (0-based) lines, or all of them, replaced
    by `pass` at the same indentation; None when none of that parses."""
    lines = source.splitlines(keepends=True)
    valid = sorted({n for n in lines_to_blank if 0 <= n < len(lines)})
    attempts = [[n] for n in valid] + ([valid] if len(valid) > 1 else [])
    for blank in attempts:
        patched = list(lines)
        for n in blank:
            text = patched[n]
            indent = text[: len(text) - len(text.lstrip())].rstrip("\r\n")
            patched[n] = f"{indent}pass\n"
        model = parse_source("".join(patched), path)
        if model.syntax_error is None:
            return model
    return None


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
