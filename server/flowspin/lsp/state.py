"""Mutable state the language server keeps between requests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pygls.uris import to_fs_path

from flowspin.lsp.documents import ModelStore


@dataclass
class ServerState:
    models: ModelStore = field(default_factory=ModelStore)
    # Last result per step, shown after the lens title ("▶ Spin  ✓ 12 ms"). The spin and run
    # engines fill it and then ask the client to refresh code lenses.
    step_status: dict[tuple[str, str], str] = field(default_factory=dict)
    # URIs we published non-empty diagnostics for (so we know what to clear).
    published: set[str] = field(default_factory=set)
    # The window's `flowspin` settings section (spin.timeout, run.args, ...), as last sent in
    # `initializationOptions.settings` or `workspace/didChangeConfiguration`.
    settings: dict[str, Any] = field(default_factory=dict)
    # Each workspace folder's own section (its path, its settings), deepest folder first:
    # `initializationOptions.folder_settings` / the configuration's `folder_settings`.
    folder_settings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def update_settings(self, window: dict[str, Any], folders: Any = None) -> None:
        """New settings from the client: the window's section, and the folders' when sent
        (`[{"uri": folder uri, "settings": section}]`; an older client sends none)."""
        self.settings = window
        found: list[tuple[str, dict[str, Any]]] = []
        for item in folders if isinstance(folders, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("settings"), dict):
                continue
            path = _path_of(item.get("uri"))
            if path is not None:
                found.append((path, item["settings"]))
        # Deepest first: a folder nested in another takes its own files.
        self.folder_settings = sorted(found, key=lambda item: -len(item[0]))

    def settings_for(self, uri: str | None) -> dict[str, Any]:
        """The settings for a file: those of the deepest workspace folder that holds it, else
        the window's (a file outside every folder, an untitled document)."""
        path = _path_of(uri)
        if path is not None:
            for folder, settings in self.folder_settings:
                if path == folder or path.startswith(folder.rstrip(os.sep) + os.sep):
                    return settings
        return self.settings


def _path_of(uri: Any) -> str | None:
    if not isinstance(uri, str) or not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    return os.path.normpath(path) if path else None
