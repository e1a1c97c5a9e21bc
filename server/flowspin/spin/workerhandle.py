"""`WorkerHandle`: the service's side of one worker process.

It starts the worker (its own session, output to `.flowspin/logs/worker-<flow>.log`), sends
request frames, and runs the one reader thread that routes the replies and live output to the
callers waiting for them, so several threads can share a worker. It also says, once the worker
is gone, how it ended (`Death`): the crash-loop guard (`deaths`) and the error a caller gets
are built from that.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from flowspin.spin.flowfile import file_sig
from flowspin.spin.protocol import read_fd, write_fd

log = logging.getLogger(__name__)

LogCallback = Callable[[str, str], None]  # (stream, text)

LOG_TAIL_LINES = 12
LOG_TAIL_BYTES = 8192

Fingerprint = tuple[tuple[str, str], ...]  # the identity variables a worker was started with
WorkerKey = tuple[Path, Fingerprint]


class WorkerCrashed(RuntimeError):
    """The worker went away. `delivered` says whether the request had reached it: then the
    step may have run, and the request must not be sent again."""

    def __init__(self, message: str, delivered: bool = True) -> None:
        super().__init__(message)
        self.delivered = delivered


class Death(NamedTuple):
    at: float  # time.monotonic()
    reason: str  # "exit code 3", "killed by SIGKILL (...)"
    tail: str  # the worker log's last lines, written by that worker
    starting: bool  # died before it was ready: importing the flow (or Python/Metaflow) failed
    file_sig: tuple[int, int] | None  # the flow file's (mtime_ns, size) then


def worker_log_path(workspace: Path, flow_file: Path) -> Path:
    """Where a flow file's workers write their stderr (one file, appended by each)."""
    return workspace / ".flowspin" / "logs" / f"worker-{flow_file.stem}.log"


class WorkerHandle:
    """One worker process and the reader thread that routes its frames to waiting callers."""

    _ids = itertools.count(1)

    def __init__(
        self,
        flow_file: Path,
        workspace: Path,
        env: dict[str, str],
        python: str,
        on_exit: Callable[[WorkerHandle], None] | None = None,
        key: WorkerKey | None = None,
    ) -> None:
        self.flow_file = flow_file
        self.key: WorkerKey = key if key is not None else (flow_file, ())
        self.env = env
        self.on_exit = on_exit
        self.closing = False
        self.workspace = workspace
        self.was_ready = False  # the flow imported and the worker serves requests
        self.death: Death | None = None
        self.death_lock = threading.Lock()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.log_path = worker_log_path(workspace, flow_file)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log_start = os.fstat(self._log.fileno()).st_size  # this worker's lines follow
        self.proc = subprocess.Popen(
            [
                python,
                "-m",
                "flowspin.spin.worker",
                str(flow_file),
                str(workspace),
                str(req_r),
                str(resp_w),
            ],
            cwd=flow_file.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(req_r, resp_w),
            start_new_session=True,
        )
        os.close(req_r)
        os.close(resp_w)
        self.req_w = req_w
        self.resp_r = resp_r
        self._write_lock = threading.Lock()
        self._waiters: dict[Any, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.alive = True
        self.ready = threading.Event()
        self._reader = threading.Thread(
            target=self._read_loop, name=f"flowspin-worker-{flow_file.name}", daemon=True
        )
        self._reader.start()

    def _read_loop(self) -> None:
        try:
            while True:
                msg = read_fd(self.resp_r)
                if msg is None:
                    break
                kind = msg["type"]
                if kind == "ready":
                    self.was_ready = True
                    self.ready.set()
                    continue
                with self._cond:
                    waiter = self._waiters.get(msg.get("id"))
                if waiter is None:
                    continue
                if kind == "log":
                    cb = waiter.get("on_log")
                    if cb is not None:
                        try:
                            cb(msg["stream"], msg["data"])
                        except Exception:
                            log.warning("a spin's output callback failed", exc_info=True)
                    continue
                with self._cond:
                    waiter["reply"] = msg
                    self._cond.notify_all()
        except Exception:
            # closing the pipe under the reader ends it too: only an unasked end is news
            log.log(
                logging.DEBUG if self.closing else logging.WARNING,
                "reading the replies of the worker of %s failed",
                self.flow_file,
                exc_info=True,
            )
        finally:
            with self._cond:
                self.alive = False
                self._cond.notify_all()
            self.ready.set()
            if not self.closing and self.on_exit is not None:
                try:
                    self.on_exit(self)
                except Exception:
                    log.warning("handling the exit of a worker failed", exc_info=True)

    def request(
        self, msg: dict[str, Any], on_log: LogCallback | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        req_id = next(self._ids)
        msg = dict(msg, id=req_id)
        waiter: dict[str, Any] = {"on_log": on_log}
        with self._cond:
            if not self.alive:
                raise WorkerCrashed("worker is not running", delivered=False)
            self._waiters[req_id] = waiter
        try:
            self.send(msg)
            with self._cond:
                while "reply" not in waiter and self.alive:
                    self._cond.wait(timeout)
                if "reply" not in waiter:
                    raise WorkerCrashed(
                        f"worker for {self.flow_file} exited (code {self.proc.poll()})"
                    )
                return waiter["reply"]
        finally:
            with self._cond:
                self._waiters.pop(req_id, None)

    def quiet_request(self, msg: dict[str, Any]) -> None:
        """A request whose answer nobody waits for (loading state ahead)."""
        try:
            self.request(msg)
        except WorkerCrashed:
            pass

    def current_ids(self) -> list[Any]:
        with self._cond:
            return list(self._waiters)

    def send(self, msg: dict[str, Any]) -> None:
        with self._write_lock:
            try:
                write_fd(self.req_w, msg)
            except OSError as exc:
                # Nobody reads the pipe any more: the message never reached a worker.
                raise WorkerCrashed(f"worker pipe closed: {exc}", delivered=False) from None

    def died(self, count: Callable[[Death], None]) -> Death:
        """How the worker died. Whoever notices first (a request, the reader's exit) makes
        the record and `count`s it, under the lock: a second caller waits until the death is
        counted, so it never decides on the deaths without this one."""
        with self.death_lock:
            if self.death is None:
                self.death = Death(
                    time.monotonic(),
                    self.exit_reason(),
                    self.log_tail(),
                    not self.was_ready,
                    file_sig(self.flow_file),
                )
                count(self.death)
            return self.death

    def exit_reason(self) -> str:
        """How the process ended, in words (waits a little for it to be reaped)."""
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            return "its pipe closed while the process still ran"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = " (out of memory, or killed from outside)" if -code == signal.SIGKILL else ""
            return f"killed by {name}{why}"
        return f"exit code {code}"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines this worker wrote to its log (not an earlier worker's)."""
        try:
            with open(self.log_path, "rb") as fh:
                end = fh.seek(0, os.SEEK_END)
                fh.seek(max(self._log_start, end - LOG_TAIL_BYTES))
                data = fh.read()
        except OSError:
            return ""
        kept = data.decode("utf-8", "replace").splitlines()[-lines:]
        return "\n".join(ln if len(ln) <= 300 else ln[:300] + "…" for ln in kept).strip()

    def close(self, timeout: float = 3.0) -> None:
        self.closing = True
        try:
            self.send({"type": "shutdown"})
        except WorkerCrashed:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
