"""Where a step's exception shows in the editor, for a failed spin and a failed run task alike:
the innermost user frame's line (the flow file or a workspace module), else a fallback line
(the step's `def`: errors before the step ran, or no frame known)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def line_range(lines: Sequence[str], line: int) -> types.Range:
    text = lines[line] if 0 <= line < len(lines) else ""
    body = text.rstrip("\r\n")
    start = len(body) - len(body.lstrip())
    return types.Range(
        start=types.Position(line=line, character=start),
        end=types.Position(line=line, character=len(body.encode("utf-16-le")) // 2),
    )


def exception_diagnostic(
    ls: FlowspinServer,
    uri: str,
    flow_file: Path,
    fallback_line: Callable[[], int],
    error: dict[str, Any],
    *,
    context: str,
    code: str,
    data: dict[str, Any],
) -> tuple[str, types.Diagnostic]:
    """(uri the diagnostic belongs to, the diagnostic) for `error` ({type, message, file,
    line}, 1-based); `context` ends the message, e.g. "(spin of 'train')". `fallback_line`
    (0-based) is asked only when the error has no line of its own."""
    shown = uri
    file, err_line = error.get("file"), error.get("line")
    if file and isinstance(err_line, int) and err_line > 0:
        path = Path(file).resolve()
        line = err_line - 1
        if path != flow_file:
            shown = from_fs_path(str(path)) or path.as_uri()
    else:
        line = fallback_line()
    try:
        lines = ls.workspace.get_text_document(shown).lines
    except OSError:
        lines = []
    text = f"{error.get('type') or 'Error'}: {error.get('message') or ''}".rstrip(": ")
    diag = types.Diagnostic(
        range=line_range(lines, line),
        message=f"{text} {context}",
        severity=types.DiagnosticSeverity.Error,
        code=code,
        source="flowspin",
        data=data,
    )
    return shown, diag
