"""Workers that died: counted per (flow file, identity), so a crash loop stops, and explained.

Why restarts are bounded: a flow whose import ends the process (`os._exit`, a fatal signal,
running out of memory) would otherwise be restarted for ever. Only a worker that had finished
starting is restarted on its own, with a growing delay (`REVIVE_DELAYS_S`), and after
`MAX_DEATHS` deaths within `DEATH_WINDOW_S` none is started until the flow file changes or the
window has passed; each request in between gets the reason (exit code or signal, the worker
log's last lines).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from flowspin.spin.flowfile import file_sig
from flowspin.spin.result import SpinResult
from flowspin.spin.workerhandle import Death, WorkerHandle, WorkerKey

MAX_DEATHS = 3  # deaths of one worker (and its restarts) within the window before it stops
DEATH_WINDOW_S = 60.0
REVIVE_DELAYS_S = (0.0, 1.0, 2.0)  # before the 1st, 2nd, 3rd automatic restart in the window


class WorkerCrashLoop(RuntimeError):
    """The flow's worker died too often lately: none is started until the file changes or
    the window has passed. `log_tail`: what the last one wrote before dying."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class DeathBook:
    """The recent deaths of each worker key. Thread-safe (its own lock, taken last: callers
    may hold the service's lock or a handle's `death_lock`)."""

    def __init__(self) -> None:
        self._deaths: dict[WorkerKey, list[Death]] = {}
        self._lock = threading.Lock()

    def record(self, handle: WorkerHandle) -> Death:
        """How `handle`'s worker died, counted once (by whoever notices first)."""

        def count(death: Death) -> None:
            with self._lock:
                self._deaths.setdefault(handle.key, []).append(death)

        return handle.died(count)

    def recent(self, key: WorkerKey) -> list[Death]:
        """Deaths within the window (older ones forgotten)."""
        with self._lock:
            return self._recent(key)

    def _recent(self, key: WorkerKey) -> list[Death]:
        cutoff = time.monotonic() - DEATH_WINDOW_S
        recent = [d for d in self._deaths.get(key, ()) if d.at >= cutoff]
        if recent:
            self._deaths[key] = recent
        else:
            self._deaths.pop(key, None)
        return recent

    def revive_delay(self, handle: WorkerHandle) -> float | None:
        """How long to wait before restarting `handle`'s worker on its own, or None when it
        must not be: it died while starting (the same import would end the next one too; the
        next request tries again) or too often lately."""
        recent = self.recent(handle.key)
        if not handle.was_ready or len(recent) >= MAX_DEATHS:
            return None
        return REVIVE_DELAYS_S[min(len(recent), len(REVIVE_DELAYS_S)) - 1]

    def keys(self) -> list[WorkerKey]:
        with self._lock:
            return list(self._deaths)

    def forget(self, key: WorkerKey) -> None:
        with self._lock:
            self._deaths.pop(key, None)

    def refuse_if_crash_looping(self, key: WorkerKey, log: Path) -> None:
        """Raise `WorkerCrashLoop` when the worker of `key` died too often lately and its
        flow file has not changed since (`log`: the worker log the message points at)."""
        with self._lock:
            deaths = self._recent(key)
            if len(deaths) < MAX_DEATHS:
                return
            path = key[0]
            if file_sig(path) != deaths[-1].file_sig:
                self._deaths.pop(key, None)  # the file changed since: perhaps fixed, try again
                return
        last = deaths[-1]
        wait_s = max(1, int(deaths[0].at + DEATH_WINDOW_S - time.monotonic()) + 1)
        if last.starting:
            cause = (
                f"importing {path.name} is what crashes it: the flow file or a module it "
                "imports ends the process at import time (os._exit, a fatal signal, running "
                "out of memory)"
            )
        else:
            cause = "it died while serving (killed, or out of memory loading a parent state)"
        raise WorkerCrashLoop(
            f"the flowspin worker for {path.name} died {len(deaths)} times in the last "
            f"{DEATH_WINDOW_S:.0f} s, so it is not started again until {path.name} changes "
            f"(or in {wait_s} s); {cause}. Last death: {last.reason}." + last_line(last.tail, log),
            tail_block(last.tail, log),
        )


def stopped_result(path: Path, step: str) -> SpinResult:
    """The result of a request whose worker was stopped on purpose under it."""
    return SpinResult.failure(
        str(path),
        step,
        "WorkerStopped",
        "the worker was stopped (restarted or shut down) during this spin; the step "
        "was not run again",
    )


def crash_result(path: Path, step: str, death: Death, log: Path) -> SpinResult:
    """The result of a request whose worker died under it. Its step is never run again: it
    may have run already, and user code runs at most once per request."""
    tail = last_line(death.tail, log)
    block = tail_block(death.tail, log)
    if death.starting:
        return SpinResult.failure(
            str(path),
            step,
            "FlowImportCrashed",
            f"the flowspin worker died while importing {path.name} ({death.reason}), "
            "before the step could run: the flow file or a module it imports ends the "
            "process at import time (os._exit, a fatal signal, running out of memory)." + tail,
            file=str(path),
            traceback=block,
        )
    return SpinResult.failure(
        str(path),
        step,
        "WorkerCrashed",
        f"the flowspin worker died during this spin ({death.reason}); the step was not "
        "run again (a spin runs user code at most once), so whatever it did before the "
        "worker died happened once. The worker restarts with its last state." + tail,
        traceback=block,
    )


def last_line(tail: str, log: Path) -> str:
    """For the one-line message: the log's last line (often the exception that ended it)."""
    if not tail:
        return f" {log} has nothing from it."
    return f' {log} ends with "{tail.splitlines()[-1].strip()}".'


def tail_block(tail: str, log: Path) -> str:
    """For `error.traceback`: the worker log's last lines, shown in full by the CLI."""
    return f"last lines of {log}:\n{tail}\n" if tail else ""
