"""Flows built from other files of the project: read those files as the editor sees them, and
know which open flows to check again when one of them changes.

The analysis parses a flow's bases and mixins from sibling modules (`analysis/modules.py`) and
records each file it read, with the text (`FlowModel.dependencies`). Here the language server
gives the analysis the *unsaved* text of files open in the editor, so a half-edited base is
what the flow is checked against; a cached analysis is stale when any of those texts changed;
and an edit to a base re-checks every open flow that read it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pygls.uris import from_fs_path, to_fs_path

from flowspin.analysis.modules import read_disk

if TYPE_CHECKING:
    from flowspin.analysis import FlowModel
    from flowspin.lsp.server import FlowspinServer

Reader = Callable[[str], "str | None"]


class ProjectReader:
    """`read(path)`: an open document's current text, else the file on disk (cached by
    modification time and size, so checking that a model's bases are unchanged costs a
    `stat` per base, not a read)."""

    def __init__(self, server: FlowspinServer) -> None:
        self.server = server
        self._disk: dict[str, tuple[tuple[int, int], str | None]] = {}
        self._lock = threading.Lock()
        # Per open flow: the other files its last analysis read (see `newly_read`).
        self.read_by: dict[str, frozenset[str]] = {}

    def __call__(self, path: str) -> str | None:
        uri = from_fs_path(path)
        doc = self.server.workspace.text_documents.get(uri) if uri else None
        if doc is not None:
            return doc.source
        try:
            stat = os.stat(path)
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._disk.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        text = read_disk(path)
        with self._lock:
            self._disk[path] = (key, text)
        return text


def fresh(model: FlowModel, read: Reader | None) -> bool:
    """Whether every other file the model was built from still has the text it was read
    with."""
    if not model.dependencies or read is None:
        return True
    return all(read(path) == text for path, text in model.dependencies.items())


def dependents(server: FlowspinServer, uri: str) -> list[str]:
    """Open flows (other than `uri`) whose last analysis read the file of `uri`."""
    path = to_fs_path(uri)
    if not path:
        return []
    found = []
    for other, analysis in list(server.state.models.current.items()):
        if other != uri and path in analysis.model.dependencies:
            found.append(other)
    return sorted(found)


def newly_read(server: FlowspinServer, uri: str, model: FlowModel) -> list[str]:
    """Open documents `uri`'s analysis reads that it did not read before (just opened, or an
    import changed). They are checked again: whether a base file's class is a base (not
    checked alone) depends on a subclass existing in another file."""
    reader = server.state.models.read
    if not isinstance(reader, ProjectReader):
        return []
    paths = frozenset(model.dependencies)
    before = reader.read_by.get(uri, frozenset())
    reader.read_by[uri] = paths
    found = []
    for path in sorted(paths - before):
        other = from_fs_path(path)
        if other and other != uri and other in server.workspace.text_documents:
            found.append(other)
    return found
