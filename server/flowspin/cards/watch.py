"""Watching card files: tells a listener when a step's card changed on disk.

Spins: a watchdog observer on `.flowspin/cards/` reports each new `latest.html` (spins write it
last, by atomic rename, so the event comes when the whole card set is in place) as
`(flow, step, path)`.

Runs: `RunCardWatcher` watches Metaflow's local card folder (`.metaflow/mf.cards/`), where a run
in flight rewrites a task's card HTML on each runtime render and its `runtime/*.data.json` on
each `current.card.refresh()`, and the final card at task end. That folder usually does not
exist when the viewer opens (no run yet, or no card yet), so the watcher first watches the
nearest existing parent (not recursively) and moves down as the folders appear; it then reports
the card files already there, so a card written in between is not missed.

The observer's thread calls the listener; the listener hands the event to its own loop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowspin.cards import files

log = logging.getLogger(__name__)

Listener = Callable[[str, str, str], None]  # (flow, step, path of latest.html)


class CardWatcher:
    def __init__(self, workspace: str | os.PathLike[str], listener: Listener) -> None:
        self.root = files.cards_root(workspace)
        self.listener = listener
        self._observer: Any = None

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


@dataclass(frozen=True)
class RunCardEvent:
    """A run card file Metaflow wrote: the HTML (`kind="html"`) or a data update (`"data"`)."""

    flow: str
    run_id: str
    step: str
    task_id: str
    kind: str
    path: str

    @property
    def task_dir(self) -> Path:
        return Path(self.path).parent.parent


RunListener = Callable[[RunCardEvent], None]


class RunCardWatcher:
    def __init__(self, root: str | os.PathLike[str], listener: RunListener) -> None:
        self.root = Path(root)
        self.listener = listener
        self._observer: Any = None
        self._watch: Any = None
        self._watched: tuple[Path, bool] | None = None
        self._lock = threading.RLock()
        self._last: dict[str, tuple[int, int, int]] = {}  # path -> (inode, mtime_ns, size)

    def start(self) -> None:
        from watchdog.observers import Observer

        observer = Observer()
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._arm()

    def stop(self) -> None:
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)

    @property
    def watching(self) -> Path | None:
        """The folder watched now (the card root, or a parent while it does not exist)."""
        return self._watched[0] if self._watched else None

    def _handler(self) -> Any:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type not in ("created", "moved", "modified", "closed"):
                    return
                if watcher._watched != (watcher.root, True):
                    if event.is_directory:
                        # a folder on the way to the card root may have appeared: move down,
                        # off the observer's thread (re-scheduling stops the emitter it runs on)
                        threading.Thread(target=watcher._arm, daemon=True).start()
                    return
                if not event.is_directory:
                    path = getattr(event, "dest_path", "") or event.src_path
                    watcher._seen(Path(os.fsdecode(path)))

        return Handler()

    def _arm(self) -> None:
        with self._lock:
            while self._observer is not None:
                target: Path | None
                if self.root.is_dir():
                    target, recursive = self.root, True
                else:
                    target = next((p for p in self.root.parents if p.is_dir()), None)
                    if target is None:
                        return
                    recursive = False
                if self._watched != (target, recursive):
                    if self._watch is not None:
                        self._observer.unschedule(self._watch)
                        self._watch = None
                    try:
                        self._watch = self._observer.schedule(
                            self._handler(), str(target), recursive=recursive
                        )
                    except OSError as exc:  # e.g. inotify limits: requests still work
                        log.warning("cannot watch %s for run cards: %s", target, exc)
                        self._watched = None
                        return
                    self._watched = (target, recursive)
                    log.info("watching %s for run cards", target)
                if recursive:
                    self._scan()
                    return
                # the next folder down may have appeared before the watch was in place
                step_down = target / self.root.relative_to(target).parts[0]
                if not step_down.is_dir():
                    return

    def _scan(self) -> None:
        """Reports card files written before the recursive watch was in place."""
        for path in sorted(self.root.glob("*/runs/*/steps/*/tasks/*/*/*")):
            self._seen(path)

    def _seen(self, path: Path) -> None:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return
        parts = rel.parts
        if len(parts) != files.RUN_CARD_DEPTH or parts[1] != "runs" or parts[3] != "steps":
            return
        if parts[5] != "tasks":
            return
        if parts[7] == "cards" and path.name.endswith(".html"):
            kind = "html"
        elif parts[7] == "runtime" and path.name.endswith(files.DATA_SUFFIX):
            kind = "data"
        else:
            return  # Metaflow's temporary files before their rename
        try:
            st = path.stat()
        except OSError:
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._last.get(str(path)) == stamp:
                return  # the same write seen again (created + modified + closed)
            self._last[str(path)] = stamp
        event = RunCardEvent(parts[0], parts[2], parts[4], parts[6], kind, str(path))
        try:
            self.listener(event)
        except Exception:
            log.exception("run card listener failed for %s", path)
