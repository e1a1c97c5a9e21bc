"""Per-file worker threads for the analysis and the editor features that read it.

Why: pygls runs a synchronous handler on the event loop, so parsing a 10,000-step flow (about
a second) used to hold every other request, for every file, until it was done. Here each open
file gets its own worker thread: a file's work runs in order (a request never parses a text its
file's worker is already parsing), and one big file never queues a small one. The loop only
takes snapshots and sends answers. (The GIL still lets one thread run Python at a time, but it
switches between them every few milliseconds, so a small file's answer comes after a few
milliseconds of its own work, not after the big file's seconds.)

Stale work is dropped: a job whose document has a newer version by the time it starts, or at
one of its checkpoints between stages, stops with `Stale`; a request so stopped, or whose
document changed while it was computed, is answered with the protocol's ContentModified error
(the client asks again for the new text). `$/cancelRequest` cancels the awaiting task (pygls
does that) and the job stops at its next checkpoint.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from pygls.exceptions import JsonRpcContentModified

from flowspin.lsp.documents import DocSnapshot, snapshot

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

T = TypeVar("T")


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold Python's cycle collector while a job runs (jobs of several files may overlap).

    Why: a parse allocates hundreds of thousands of objects that outlive it (the model), and
    each burst of survivors makes the collector walk every object the server holds, the
    other open files' models included: on a 2,000-step flow that doubled the time of a parse
    and lint (about 400 ms instead of 160 ms with two such models open). The model and the
    answers are acyclic, so reference counting frees them anyway; the collector resumes when
    the last job ends."""
    global _gc_pausers
    with _gc_lock:
        _gc_pausers += 1
        if _gc_pausers == 1:
            gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0:
                gc.enable()


class Stale(Exception):
    """The work is for a document version (or a request) nobody is waiting for any more."""


class FileWork:
    def __init__(self, server: FlowspinServer) -> None:
        self.server = server
        self._pools: dict[str, ThreadPoolExecutor] = {}
        # The newest version of each document the loop has seen (set on didOpen/didChange):
        # jobs compare their snapshot's version with it.
        self._versions: dict[str, int | None] = {}
        self._lock = threading.Lock()
        # Requests being answered per document, and who waits for that to drop to zero.
        self._answering: dict[str, int] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self._closed = False

    def note_version(self, uri: str, version: int | None) -> None:
        """A new version of the document arrived (call on the loop, before scheduling)."""
        self._versions[uri] = version

    def is_current(self, doc: DocSnapshot) -> bool:
        return not self._closed and self._versions.get(doc.uri, doc.version) == doc.version

    def _pool(self, uri: str) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the language server is shutting down")
            pool = self._pools.get(uri)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowspin-file")
                self._pools[uri] = pool
            return pool

    def shutdown(self) -> None:
        """Drop every file's queued jobs and let the threads end (idempotent). A job running
        now stops at its next checkpoint: its document is no longer current."""
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        self._versions.clear()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)

    def forget(self, uri: str) -> None:
        """The document closed: drop its queued jobs and let its thread end."""
        self._versions.pop(uri, None)
        with self._lock:
            pool = self._pools.pop(uri, None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def run(
        self, doc: DocSnapshot, job: Callable[[Callable[[], None]], T], drop_stale: bool = True
    ) -> T:
        """Run `job(check)` on the document's worker thread and return its result.

        `check()` raises `Stale` once the awaiting task was cancelled or, with `drop_stale`,
        the document has a newer version; `job` calls it between its stages. Raises `Stale`
        when the job was dropped."""
        stopped = threading.Event()

        def check() -> None:
            if stopped.is_set() or self._closed or (drop_stale and not self.is_current(doc)):
                raise Stale(doc.uri)

        def work() -> T:
            check()
            with gc_paused():
                return job(check)

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(doc.uri), work)
        except asyncio.CancelledError:
            stopped.set()  # the queued job is cancelled with the task; a running one stops
            raise
        except RuntimeError:
            # The file was closed (its pool shut down) between the snapshot and the submit.
            if doc.uri not in self._versions:
                raise Stale(doc.uri) from None
            raise

    async def request(
        self,
        uri: str,
        feature: Callable[[DocSnapshot, Callable[[], None]], T],
        drop_stale: bool = True,
    ) -> T:
        """Answer a request about `uri` with `feature(doc, check)` computed off the loop.

        The answer is for the version the request was made against; when a newer version
        arrived in the meantime, it is dropped and the client gets ContentModified (editors
        ask again). `drop_stale=False` answers for the snapshot's version anyway: for
        flowspin's own requests, whose callers do not retry (`flowspin/stepAt`)."""
        doc = snapshot(self.server, uri)
        self._answering[uri] = self._answering.get(uri, 0) + 1
        try:
            result = await self.run(doc, lambda check: feature(doc, check), drop_stale)
        except Stale:
            raise JsonRpcContentModified(f"{uri} changed; ask again") from None
        finally:
            self._answering[uri] -= 1
            if not self._answering[uri]:
                del self._answering[uri]
                idle = self._idle.pop(uri, None)
                if idle is not None:
                    idle.set()
        if drop_stale and not self.is_current(doc):
            raise JsonRpcContentModified(f"{uri} changed; ask again")
        return result

    async def quiet(self, uri: str) -> None:
        """Wait until no request about `uri` is being answered and the last answer is sent.

        The check of an edit waits for this before it parses: a parse holds the GIL for the
        whole of `ast.parse` (half a second on a 10,000-step flow), and an answer computed
        before it would otherwise wait that long to be serialized and sent by the loop."""
        while self._answering.get(uri):
            await self._idle.setdefault(uri, asyncio.Event()).wait()
        # The answer is sent by the request task's done callback, which the loop runs before
        # this task's next step.
        await asyncio.sleep(0)
