"""Reading a spin's children: their output, their result frames, and when each one is done.

A child's result is in once its output is closed and it either hung up or reported that it is
now writing its changed artifacts (results first, bytes after). A step can leave processes
behind that hold its output open; their output is read for `DRAIN_S` after the step ended,
then they are stopped, so a spin never waits on what its step forgot to wait for.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from collections.abc import Callable

from flowspin.spin.jobs import Child
from flowspin.spin.processes import group_members, kill_group
from flowspin.spin.records import SpinRecords

MAX_LOG = 10 * 1024 * 1024
# Output still arriving after the step ended (from processes it started) is read this long.
DRAIN_S = float(os.environ.get("FLOWSPIN_DRAIN_S", "0.5"))

OutputCallback = Callable[[str, str, str], None]  # (stream, text, spin id)


class ChildIO:
    def __init__(
        self,
        sel: selectors.BaseSelector,
        records: SpinRecords,
        zombies: list[int],
        grace_s: float,
        on_output: OutputCallback,
        on_done: Callable[[Child], None],
    ) -> None:
        self.sel = sel
        self.records = records
        self.zombies = zombies  # the worker reaps these
        self.grace_s = grace_s
        self.on_output = on_output  # every chunk goes out live, also past MAX_LOG
        self.on_done = on_done  # the child's result is in
        # (when, process group): background processes a step left, to SIGKILL if still there.
        self.stragglers: list[tuple[float, int]] = []

    def watch(self, child: Child) -> None:
        for fd in child.fds:
            self.sel.register(fd, selectors.EVENT_READ, ("child", child))

    def read(self, fd: int, child: Child) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        name = child.fds[fd]
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del child.fds[fd]
            if name == "result" and child.done:
                self.records.written(child, child.persist_refs)  # None: it died while writing
            elif name == "result" and child.drain_until is None:
                child.drain_until = time.monotonic() + DRAIN_S  # its process is gone
            self.maybe_done(child)
            return
        if name == "result":
            for frame in child.frames.feed(data):
                kind = frame.get("type")
                if kind == "report":
                    child.report = frame["report"]
                    child.report_at = time.perf_counter()
                elif kind == "persisted":
                    child.persist_refs = frame.get("refs") or {}
            self.maybe_done(child)
            return
        text = data.decode("utf-8", errors="replace")
        if child.logsize < MAX_LOG:
            (child.stdout if name == "stdout" else child.stderr).append(text)
            child.logsize += len(text)
            if child.logsize >= MAX_LOG:
                child.notices.append(
                    f"the step printed more than {MAX_LOG >> 20} MB: the result keeps the first "
                    f"{MAX_LOG >> 20} MB of stdout/stderr (the live output had all of it)"
                )
        self.on_output(name, text, child.spin_id)

    def maybe_done(self, child: Child) -> None:
        """Mark the child done when its result is in (see the module's docstring), and reap
        it once it has also finished writing."""
        if child.done:
            if not child.fds:  # finished writing: let the kernel tear it down
                self.zombies.append(child.pid)
                if child.proc is not None:
                    child.proc.returncode = 0
            return
        open_names = set(child.fds.values())
        writing = "result" in open_names
        if open_names & {"stdout", "stderr"}:
            if child.report is not None and child.drain_until is None:
                child.drain_until = time.monotonic() + DRAIN_S  # the step is over
            return
        if writing and not (child.report and child.report.get("persist")):
            return
        child.done = True
        if child.report is not None and (writing or child.proc is None):
            # It reported, then hung up (or is writing bytes): answer while it finishes.
            child.status = 0
            if not writing:
                self.zombies.append(child.pid)
                if child.proc is not None:
                    child.proc.returncode = 0
        else:
            _, status = os.waitpid(child.pid, 0)
            child.status = status
            if child.proc is not None:
                child.proc.returncode = os.waitstatus_to_exitcode(status)
        if writing:
            self.records.persisting.append(child)
        self.on_done(child)

    def drained(self, children: list[Child], now: float) -> None:
        """Stop reading children whose drain time is up."""
        for c in list(children):
            if c.drain_until is not None and now >= c.drain_until:
                self.stop_leftovers(c)

    def stop_leftovers(self, child: Child) -> None:
        """The step is over but processes it started live on, holding its output open: say
        so, stop reading, and stop them (SIGTERM now, SIGKILL after the grace period)."""
        for fd, name in list(child.fds.items()):
            if name in ("stdout", "stderr"):
                self.sel.unregister(fd)
                os.close(fd)
                del child.fds[fd]
        left = group_members(child.pid, exclude=child.pid)
        if left:
            shown = ", ".join(f"{pid} ({cmd})" for pid, cmd in left[:5])
            child.notices.append(
                f"the step left {len(left)} process(es) running: {shown}; flowspin stopped "
                f"them (SIGTERM, then SIGKILL after {self.grace_s:g} s) — wait for what a step "
                "starts before it returns"
            )
            kill_group(child.pid, signal.SIGTERM)
            self.stragglers.append((time.monotonic() + self.grace_s, child.pid))
        self.maybe_done(child)

    def kill_stragglers(self, now: float) -> None:
        """SIGKILL what a step left behind once its grace period is over."""
        for when, pgid in [x for x in self.stragglers if x[0] <= now]:
            self.stragglers.remove((when, pgid))
            kill_group(pgid, signal.SIGKILL)
