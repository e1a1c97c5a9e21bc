"""Tracebacks as people read them: starting at the user's own code.

A spin's exception is raised through flowspin's child and Metaflow's task runner before it
reaches the step function, so Python's traceback opens with three or four frames of machinery
(`spin/child.py`, `metaflow/task.py`) that say nothing about the bug. Like IPython, the human
output drops those leading frames so the first frame shown is the step. Frames below the first
user frame (a library the step called) stay: they are where the error really came from.

`trim_traceback` works on a whole traceback (the result's `error.traceback`); `TracebackTrimmer`
on a stream (a spin's stderr as it arrives), holding only the lines of a traceback until its
exception line. Both leave a traceback alone when none of its frames is user code, and both
are idempotent, so a traceback already trimmed at its source comes out unchanged.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig

HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+')
_FLOWSPIN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _library_dirs() -> tuple[str, ...]:
    """Folders whose files are not the user's: the standard library and installed packages."""
    dirs: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            path = sysconfig.get_path(key)
        except KeyError:
            continue
        if path:
            dirs.add(os.path.abspath(path) + os.sep)
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        dirs.add(os.path.join(os.path.abspath(prefix), "lib") + os.sep)
    return tuple(sorted(dirs))


_LIBRARY_DIRS = _library_dirs()


def is_user_file(path: str) -> bool:
    """True for code the user wrote: not flowspin, not Metaflow or another installed package,
    not the standard library (any interpreter's: site-packages / dist-packages anywhere)."""
    if path.startswith("<"):  # <frozen runpy>, <string>
        return False
    path = os.path.abspath(path)
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    if path.startswith(_FLOWSPIN_DIR):
        return False
    return not path.startswith(_LIBRARY_DIRS)


def _trim_section(lines: list[str]) -> list[str]:
    """One traceback (header, frames, exception lines) with its leading machinery frames
    dropped; unchanged when no frame is user code."""
    for i, line in enumerate(lines):
        m = _FRAME.match(line)
        if m and is_user_file(m["file"]):
            return lines[:1] + lines[i:] if i > 1 else lines
    return lines


def trim_traceback(text: str) -> str:
    """`text` with every traceback in it starting at its first user frame (chained
    exceptions are trimmed one by one; other lines are kept)."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    section: list[str] | None = None
    for line in lines:
        if line.rstrip("\r\n") == HEADER:
            if section is not None:
                out.extend(_trim_section(section))
            section = [line]
        elif section is not None:
            section.append(line)
            if line.strip() and not line[:1].isspace():  # the exception line ends it
                out.extend(_trim_section(section))
                section = None
        else:
            out.append(line)
    if section is not None:
        out.extend(_trim_section(section))
    return "".join(out)


class TracebackTrimmer:
    """Trims tracebacks in streamed text: `feed(chunk)` returns what can be shown now,
    `flush()` the rest. Text outside a traceback passes at once (a partial line only waits
    while it could still be the start of a traceback header)."""

    def __init__(self) -> None:
        self._pending = ""  # a partial line that may become the header
        self._section: list[str] | None = None

    def feed(self, text: str) -> str:
        out: list[str] = []
        data = self._pending + text
        self._pending = ""
        for line in data.splitlines(keepends=True):
            if not line.endswith(("\n", "\r")):
                self._partial(line, out)
                continue
            self._line(line, out)
        return "".join(out)

    def _partial(self, line: str, out: list[str]) -> None:
        if self._section is not None or HEADER.startswith(line):
            self._pending = line  # wait for the rest of the line
        else:
            out.append(line)

    def _line(self, line: str, out: list[str]) -> None:
        if line.rstrip("\r\n") == HEADER:
            if self._section is not None:
                out.extend(_trim_section(self._section))
            self._section = [line]
        elif self._section is not None:
            self._section.append(line)
            if line.strip() and not line[:1].isspace():
                out.extend(_trim_section(self._section))
                self._section = None
        else:
            out.append(line)

    def flush(self) -> str:
        out = list(_trim_section(self._section)) if self._section is not None else []
        self._section = None
        out.append(self._pending)
        self._pending = ""
        return "".join(out)
