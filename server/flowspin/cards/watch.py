"""Watching card files: tells a listener when a step's card changed on disk.

A watchdog observer on `.flowspin/cards/` reports each new `latest.html` (spins write it last,
by atomic rename, so the event comes when the whole card set is in place) as
`(flow, step, path)`. The observer's thread calls the listener; the listener hands the event to
its own loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from flowspin.cards import files

log = logging.getLogger(__name__)

Listener = Callable[[str, str, str], None]  # (flow, step, path of latest.html)


class CardWatcher:
    def __init__(self, workspace: str | os.PathLike[str], listener: Listener) -> None:
        self.root = files.cards_root(workspace)
        self.listener = listener
        self._observer = None

    def start(self) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory or event.event_type not in ("created", "moved", "modified"):
                    return
                path = getattr(event, "dest_path", "") or event.src_path
                watcher._seen(os.fsdecode(path))

        self.root.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.daemon = True
        observer.schedule(Handler(), str(self.root), recursive=True)
        observer.start()
        self._observer = observer

    def _seen(self, path: str) -> None:
        p = Path(path)
        if p.name != files.LATEST:
            return
        try:
            rel = p.relative_to(self.root)
        except ValueError:
            return
        if len(rel.parts) != 3:
            return
        flow, step = rel.parts[0], rel.parts[1]
        try:
            self.listener(flow, step, str(p))
        except Exception:
            log.exception("card listener failed for %s", p)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None
