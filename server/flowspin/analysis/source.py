"""Source text and positions: where a node is, in the units the editor uses.

`ast` gives UTF-8 byte columns and splits lines its own way; the model, the CLI's JSON and LSP
all want character columns on the lines Python's tokenizer sees. Every part of the parser that
records a `Span` goes through `Source`, so that conversion lives in one place (and costs nothing
on all-ASCII files, the common case).
"""

from __future__ import annotations

import ast
import re

from flowspin.analysis.model import Span, SyntaxProblem

LINE_BREAKS = re.compile(r"\r\n|\r|\n")


class Source:
    """Source lines plus conversion of `ast`'s UTF-8 byte columns to character columns."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Split as Python's tokenizer does (str.splitlines also splits on \f, \v, \x1c...).
        self.lines = LINE_BREAKS.split(text)
        self.all_ascii = text.isascii()

    def line(self, lineno: int) -> str:
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""

    def col(self, lineno: int, byte_col: int) -> int:
        if self.all_ascii:
            return byte_col
        text = self.line(lineno)
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        end_line = getattr(node, "end_lineno", None) or line
        col = self.col(line, getattr(node, "col_offset", 0))
        end_col = getattr(node, "end_col_offset", None)
        end = self.col(end_line, end_col) if end_col is not None else len(self.line(end_line))
        return Span(line, col, end_line, end)

    def segment(self, node: ast.AST) -> str:
        try:
            text = ast.get_source_segment(self.text, node)
        except Exception:  # noqa: BLE001 - positions can be odd on edited code
            text = None
        return text if text is not None else ast.unparse(node)


def syntax_problem(exc: SyntaxError, source: str) -> SyntaxProblem:
    """The error's range clamped to the text, at least one character wide, so the editor
    can underline it even when Python points past the end of a line or of the file."""
    lines = LINE_BREAKS.split(source)
    line = exc.lineno or 1
    line = max(1, min(line, max(len(lines), 1)))
    text = lines[line - 1] if lines else ""
    col = max((exc.offset or 1) - 1, 0)
    col = min(col, len(text))
    end_line = exc.end_lineno or line
    end_col = (exc.end_offset - 1) if exc.end_offset else col + 1
    if end_line < line or (end_line == line and end_col <= col):
        end_line, end_col = line, max(col + 1, len(text)) if col >= len(text) else col + 1
    return SyntaxProblem(exc.msg or "invalid syntax", Span(line, col, end_line, end_col))


def name_span(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, src: Source, keyword: str
) -> Span:
    """The name after `def`/`class`: where a finding about a step or flow is underlined (the
    node's own span would cover its whole body)."""
    line = node.lineno
    text = src.line(line)
    start = src.col(line, node.col_offset)
    idx = text.find(node.name, start + len(keyword))
    if idx < 0:
        idx = start
    return Span(line, idx, line, idx + len(node.name))


def end_position(node: ast.AST, src: Source) -> tuple[int, int]:
    """(line, character column) where `node` ends; the end of its last line when `ast` gives
    no end column."""
    end_line = getattr(node, "end_lineno", None) or node.lineno  # type: ignore[attr-defined]
    end_col = getattr(node, "end_col_offset", None)
    return end_line, (
        src.col(end_line, end_col) if end_col is not None else len(src.line(end_line))
    )
