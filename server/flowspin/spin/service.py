"""`SpinService`: the one facade the daemon, the language server and the Python API use.

It owns one worker process per flow file, talks to it with msgpack frames over pipes,
serialises spins per flow file, restarts a crashed worker (and reloads its last state), and
turns everything into `SpinResult`s.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowspin.spin.options import SpinOptions
from flowspin.spin.protocol import read_fd, write_fd
from flowspin.spin.result import SpinResult

LogCallback = Callable[[str, str], None]  # (stream, text)


class WorkerCrashed(RuntimeError):
    pass


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
    ) -> None:
        self.flow_file = flow_file
        self.on_exit = on_exit
        self.closing = False
        self.workspace = workspace
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        log_dir = workspace / ".flowspin" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(log_dir / f"worker-{flow_file.stem}.log", "ab")
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
                            pass
                    continue
                with self._cond:
                    waiter["reply"] = msg
                    self._cond.notify_all()
        except Exception:
            pass
        finally:
            with self._cond:
                self.alive = False
                self._cond.notify_all()
            self.ready.set()
            if not self.closing and self.on_exit is not None:
                try:
                    self.on_exit(self)
                except Exception:
                    pass

    def request(
        self, msg: dict[str, Any], on_log: LogCallback | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        req_id = next(self._ids)
        msg = dict(msg, id=req_id)
        waiter: dict[str, Any] = {"on_log": on_log}
        with self._cond:
            if not self.alive:
                raise WorkerCrashed("worker is not running")
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

    def current_ids(self) -> list[Any]:
        with self._cond:
            return list(self._waiters)

    def send(self, msg: dict[str, Any]) -> None:
        with self._write_lock:
            try:
                write_fd(self.req_w, msg)
            except OSError as exc:
                raise WorkerCrashed(f"worker pipe closed: {exc}") from None

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


class SpinService:
    """Warm spins for every flow file of one workspace. Thread-safe."""

    def __init__(
        self,
        workspace_root: str | os.PathLike[str] | None = None,
        *,
        env: dict[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        self.workspace_root = Path(workspace_root).resolve() if workspace_root else None
        self.env = dict(env if env is not None else os.environ)
        self.env.setdefault("USER", self.env.get("METAFLOW_USER", "flowspin"))
        self.python = python or sys.executable
        self._workers: dict[Path, WorkerHandle] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._last: dict[Path, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # --- workers -------------------------------------------------------------------------
    def _root_for(self, flow_file: Path) -> Path:
        if self.workspace_root is not None:
            return self.workspace_root
        from flowspin.store.layout import workspace_root

        return workspace_root(flow_file)

    def _worker(self, flow_file: Path) -> WorkerHandle:
        with self._lock:
            if self._closed:
                raise RuntimeError("SpinService is shut down")
            handle = self._workers.get(flow_file)
            if handle is None or not handle.alive or handle.proc.poll() is not None:
                if handle is not None:
                    handle.close(timeout=0.5)
                handle = WorkerHandle(
                    flow_file, self._root_for(flow_file), self.env, self.python, self._worker_exited
                )
                self._workers[flow_file] = handle
            return handle

    def _worker_exited(self, handle: WorkerHandle) -> None:
        """A worker died on its own (killed, out of memory): start a new one and reload."""
        if self._closed:
            return
        threading.Thread(
            target=self._revive, args=(handle,), name="flowspin-revive", daemon=True
        ).start()

    def _revive(self, handle: WorkerHandle) -> None:
        with self._lock:
            if self._closed or self._workers.get(handle.flow_file) is not handle:
                return
        try:
            handle.proc.wait(5)
        except Exception:
            pass
        last = self._last.get(handle.flow_file)
        try:
            if last is not None:
                self.preload(handle.flow_file, last[0], last[1], wait=True)
            else:
                self._worker(handle.flow_file)
        except Exception:
            pass

    def _flow_lock(self, flow_file: Path) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(flow_file, threading.Lock())

    # --- public API ----------------------------------------------------------------------
    def spin(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        options: SpinOptions | dict[str, Any] | None = None,
        on_log: LogCallback | None = None,
    ) -> SpinResult:
        path = Path(flow_file).resolve()
        opts = SpinOptions.coerce(options)
        if not path.exists():
            return SpinResult.failure(
                str(path),
                step,
                "FlowFileMissing",
                f"flow file {path} does not exist; check the path",
                file=str(path),
            )
        with self._flow_lock(path):
            msg = {"type": "spin", "step": step, "options": opts.to_dict()}
            for attempt in range(2):
                handle = self._worker(path)
                try:
                    reply = handle.request(msg, on_log=on_log)
                    break
                except WorkerCrashed as exc:
                    if attempt == 1:
                        return SpinResult.failure(
                            str(path),
                            step,
                            "WorkerCrashed",
                            f"{exc}; see {handle.workspace / '.flowspin' / 'logs'}",
                        )
            self._last[path] = (step, opts.to_dict())
        result = SpinResult.from_dict(reply["result"])
        return result

    def preload(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        base: SpinOptions | dict[str, Any] | None = None,
        wait: bool = True,
    ) -> bool:
        """Load the parent state of `step` so that even the first spin is warm."""
        if wait:
            return bool(self.preload_state(flow_file, step, base).get("ok"))
        handle, msg = self._preload_request(flow_file, step, base)
        threading.Thread(target=self._quiet_request, args=(handle, msg), daemon=True).start()
        return True

    def preload_state(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        base: SpinOptions | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Like `preload`, and says which base run the state came from (`run_id`) or why it
        could not be loaded (`error`): the editor shows where the next spin's state is from."""
        handle, msg = self._preload_request(flow_file, step, base)
        try:
            reply = handle.request(msg)
        except WorkerCrashed as exc:
            return {"ok": False, "error": str(exc)}
        return {k: reply.get(k) for k in ("ok", "run_id", "error") if k in reply}

    def _preload_request(
        self, flow_file: str | os.PathLike[str], step: str, base: Any
    ) -> tuple[WorkerHandle, dict[str, Any]]:
        path = Path(flow_file).resolve()
        opts = SpinOptions.coerce(base).to_dict()
        handle = self._worker(path)
        self._last[path] = (step, opts)
        return handle, {"type": "preload", "step": step, "options": opts}

    @staticmethod
    def _quiet_request(handle: WorkerHandle, msg: dict[str, Any]) -> None:
        try:
            handle.request(msg)
        except WorkerCrashed:
            pass

    def cancel(self, flow_file: str | os.PathLike[str] | None = None) -> None:
        with self._lock:
            handles = [
                h
                for p, h in self._workers.items()
                if flow_file is None or p == Path(flow_file).resolve()
            ]
        for h in handles:
            try:
                h.send({"type": "cancel", "id": None})
            except WorkerCrashed:
                pass

    def rebase(self, flow_file: str | os.PathLike[str]) -> None:
        """A run of the flow ended: its worker picks base runs afresh (state stays cached)."""
        with self._lock:
            handle = self._workers.get(Path(flow_file).resolve())
        if handle is None or not handle.alive:
            return
        try:
            handle.request({"type": "rebase"}, timeout=10.0)
        except WorkerCrashed:
            pass

    def restart_worker(self, flow_file: str | os.PathLike[str], reload: bool = True) -> None:
        path = Path(flow_file).resolve()
        with self._lock:
            handle = self._workers.pop(path, None)
        if handle is not None:
            handle.close()
        last = self._last.get(path)
        if reload and last is not None:
            self.preload(path, last[0], last[1], wait=False)

    def worker_pid(self, flow_file: str | os.PathLike[str]) -> int | None:
        handle = self._workers.get(Path(flow_file).resolve())
        return handle.proc.pid if handle is not None and handle.alive else None

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                str(p): {"pid": h.proc.pid, "alive": h.alive and h.proc.poll() is None}
                for p, h in self._workers.items()
            }

    def watch_crashes(self) -> None:
        """Restart workers that died outside a spin, and reload their last state."""
        with self._lock:
            dead = [p for p, h in self._workers.items() if h.proc.poll() is not None]
        for p in dead:
            self.restart_worker(p)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            handles = list(self._workers.values())
            self._workers.clear()
        for h in handles:
            h.close()

    def __enter__(self) -> SpinService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
