"""`SpinService`: the one facade the daemon, the language server and the Python API use.

It owns one worker process per flow file and caller identity (each behind a `WorkerHandle`),
serialises spins per flow file, restarts a crashed worker (and reloads its last state), and
turns everything into `SpinResult`s.

Why per identity: Metaflow reads the user name and its configuration (profile, datastore,
metadata) from the environment once, at import, so a worker can only ever answer in one
namespace. A request carries its caller's identity variables (`flowspin.spin.identity`); a
caller with another one gets a worker of its own, started with that environment, and the
same caller keeps its warm worker.

Why restarts are bounded: see `flowspin.spin.deaths`.

Why a crashed spin is never re-sent: the step may already have run (written a file, sent a
message) when its worker died. User code runs at most once per request; only a request that
never reached a worker is retried.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowspin.spin.deaths import DeathBook, WorkerCrashLoop, crash_result, stopped_result
from flowspin.spin.flowfile import InvalidFlowFile, flow_file_problem
from flowspin.spin.identity import clean_identity, is_identity_var, metaflow_user
from flowspin.spin.missingrun import explain_missing_run
from flowspin.spin.options import SpinOptions
from flowspin.spin.result import SpinResult
from flowspin.spin.workerhandle import (
    Fingerprint,
    LogCallback,
    WorkerCrashed,
    WorkerHandle,
    WorkerKey,
    worker_log_path,
)

# The API, the commands and the demo import these from here.
__all__ = ["LogCallback", "SpinOptions", "SpinResult", "SpinService", "flow_file_problem"]

log = logging.getLogger(__name__)

MAX_WORKERS_PER_FILE = 3  # identities kept warm per flow file; the least recently used goes


class SpinService:
    """Warm spins for every flow file of one workspace. Thread-safe.

    `env`: the workers' environment (default: this process's). A call may pass `env=` with the
    caller's identity variables; only those are taken from it (see `flowspin.spin.identity`).
    """

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
        self._workers: dict[WorkerKey, WorkerHandle] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._last: dict[WorkerKey, tuple[str, dict[str, Any]]] = {}
        self._deaths = DeathBook()
        self._used: dict[WorkerKey, float] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stopping = threading.Event()

    # --- identities ----------------------------------------------------------------------
    def _identity(self, env: Mapping[str, str] | None) -> tuple[Fingerprint, dict[str, str]]:
        """(fingerprint, worker environment) for a caller: the service's environment with its
        identity variables replaced by the caller's (all of them: a variable the caller does
        not have must not leak in from whoever started the service)."""
        ident = clean_identity(env) if env is not None else None
        if ident is None:
            worker_env = dict(self.env)
        else:
            worker_env = {k: v for k, v in self.env.items() if not is_identity_var(k)}
            worker_env.update(ident)
        worker_env.setdefault("USER", worker_env.get("METAFLOW_USER", "flowspin"))
        fp = tuple(sorted((k, v) for k, v in worker_env.items() if is_identity_var(k)))
        return fp, worker_env

    def _label(self, key: WorkerKey) -> str:
        """`status()`'s name for a worker: the flow file for the service's own identity (what
        callers have always looked up), `path [user:NAME #n]` for another caller's."""
        path, fp = key
        if fp == self._identity(None)[0]:
            return str(path)
        return f"{path} [user:{metaflow_user(dict(fp))} #{abs(hash(fp)) % 10000:04d}]"

    # --- workers -------------------------------------------------------------------------
    def _root_for(self, flow_file: Path) -> Path:
        if self.workspace_root is not None:
            return self.workspace_root
        from flowspin.store.layout import workspace_root

        return workspace_root(flow_file)

    def _worker(self, path: Path, fp: Fingerprint, env: dict[str, str]) -> WorkerHandle:
        """The live worker for (path, identity), started if needed; `WorkerCrashLoop` when
        this one has died too often lately."""
        key = (path, fp)
        old = self._workers.get(key)
        if old is not None and not old.closing and not old.alive:
            self._deaths.record(old)  # counted before deciding whether to start another
        stale: list[WorkerHandle] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("SpinService is shut down")
            self._used[key] = time.monotonic()
            handle = self._workers.get(key)
            if handle is not None and handle.alive and handle.proc.poll() is None:
                return handle
            root = self._root_for(path)
            self._deaths.refuse_if_crash_looping(key, worker_log_path(root, path))
            if handle is not None:
                stale.append(handle)
            stale += self._evict_for(key)
            handle = WorkerHandle(path, root, env, self.python, self._worker_exited, key=key)
            self._workers[key] = handle
        for h in stale:
            h.close(timeout=0.5)
        return handle

    def _evict_for(self, key: WorkerKey) -> list[WorkerHandle]:
        """Idle workers of the same flow file (other identities) beyond `MAX_WORKERS_PER_FILE`,
        least recently used first, taken out of service: each holds a parent state in memory.
        Called with `_lock` held."""
        others = [k for k, h in self._workers.items() if k[0] == key[0] and k != key and h.alive]
        out = []
        others.sort(key=lambda k: self._used.get(k, 0.0))
        while len(others) >= MAX_WORKERS_PER_FILE:
            k = others.pop(0)
            handle = self._workers[k]
            if handle.current_ids():
                continue  # busy: never cut a running spin short
            out.append(self._workers.pop(k))
        return out

    def _worker_exited(self, handle: WorkerHandle) -> None:
        """A worker died on its own (killed, out of memory, its import ended it)."""
        if self._closed:
            return
        threading.Thread(
            target=self._revive, args=(handle,), name="flowspin-revive", daemon=True
        ).start()

    def _revive(self, handle: WorkerHandle) -> None:
        """Restart a worker that had been serving, after a delay that grows with its recent
        deaths, and reload its last state. A worker that died while starting is not restarted
        here: the same import would end the next one too; the next request tries again."""
        self._deaths.record(handle)
        with self._lock:
            if self._closed or self._workers.get(handle.key) is not handle:
                return
            delay = self._deaths.revive_delay(handle)
            if delay is None:
                return
        if self._stopping.wait(delay):
            return
        with self._lock:
            if self._closed or self._workers.get(handle.key) is not handle:
                return  # a request started a new one meanwhile
        path, fp = handle.key
        last = self._last.get(handle.key)
        try:
            if last is not None:
                self._preload_key(path, fp, handle.env, last[0], last[1])
            else:
                self._worker(path, fp, handle.env)
        except Exception:
            log.warning("restarting the worker of %s failed", path, exc_info=True)

    def _flow_lock(self, flow_file: Path) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(flow_file, threading.Lock())

    def _handles(
        self, flow_file: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
    ) -> list[tuple[WorkerKey, WorkerHandle]]:
        """Workers of `flow_file` (all if None): every identity's, or only `env`'s."""
        path = Path(flow_file).resolve() if flow_file is not None else None
        fp = self._identity(env)[0] if env is not None else None
        with self._lock:
            return [
                (k, h)
                for k, h in self._workers.items()
                if (path is None or k[0] == path) and (fp is None or k[1] == fp)
            ]

    # --- public API ----------------------------------------------------------------------
    def spin(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        options: SpinOptions | dict[str, Any] | None = None,
        on_log: LogCallback | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> SpinResult:
        """Spin `step` of `flow_file`. `env`: the caller's environment (its identity variables
        are used: user name, METAFLOW_* configuration); None: the service's own."""
        if not isinstance(flow_file, (str, os.PathLike)) or not isinstance(step, str):
            return SpinResult.failure(
                str(flow_file)[:200],
                str(step)[:100],
                "InvalidRequest",
                "a spin needs a flow file path and a step name, both strings",
            )
        path = Path(flow_file).resolve()
        if not path.exists():
            return SpinResult.failure(
                str(path),
                step,
                "FlowFileMissing",
                f"flow file {path} does not exist; check the path",
                file=str(path),
            )
        problem = flow_file_problem(path)
        if problem:
            return SpinResult.failure(str(path), step, "InvalidFlowFile", problem, file=str(path))
        opts = SpinOptions.coerce(options)
        fp, worker_env = self._identity(env)
        with self._flow_lock(path):
            msg = {"type": "spin", "step": step, "options": opts.to_dict()}
            for attempt in range(2):
                try:
                    handle = self._worker(path, fp, worker_env)
                except WorkerCrashLoop as exc:
                    return SpinResult.failure(
                        str(path),
                        step,
                        "WorkerCrashLoop",
                        str(exc),
                        file=str(path),
                        traceback=exc.log_tail,
                    )
                try:
                    reply = handle.request(msg, on_log=on_log)
                    break
                except WorkerCrashed as exc:
                    # Re-send only what never reached a worker: the step may have run.
                    if exc.delivered or attempt == 1:
                        return self._crash_result(path, step, handle)
            self._last[(path, fp)] = (step, opts.to_dict())
        result = SpinResult.from_dict(reply["result"])
        explain_missing_run(result, path, worker_env, self.python)
        return result

    def _crash_result(self, path: Path, step: str, handle: WorkerHandle) -> SpinResult:
        if handle.closing:
            return stopped_result(path, step)
        return crash_result(path, step, self._deaths.record(handle), handle.log_path)

    def preload(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        base: SpinOptions | dict[str, Any] | None = None,
        wait: bool = True,
        *,
        env: Mapping[str, str] | None = None,
    ) -> bool:
        """Load the parent state of `step` so that even the first spin is warm."""
        if wait:
            return bool(self.preload_state(flow_file, step, base, env=env).get("ok"))
        try:
            handle, msg = self._preload_request(flow_file, step, base, env)
        except (InvalidFlowFile, WorkerCrashLoop):
            return False
        threading.Thread(target=handle.quiet_request, args=(msg,), daemon=True).start()
        return True

    def preload_state(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        base: SpinOptions | dict[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Like `preload`, and says which base run the state came from (`run_id`) or why it
        could not be loaded (`error`): the editor shows where the next spin's state is from."""
        try:
            handle, msg = self._preload_request(flow_file, step, base, env)
        except (InvalidFlowFile, WorkerCrashLoop) as exc:
            return {"ok": False, "error": str(exc)}
        try:
            reply = handle.request(msg)
        except WorkerCrashed as exc:
            if not exc.delivered or handle.closing:
                return {"ok": False, "error": str(exc)}
            crash = self._crash_result(Path(flow_file).resolve(), step, handle)
            return {"ok": False, "error": (crash.error or {}).get("message", str(exc))}
        return {k: reply.get(k) for k in ("ok", "run_id", "error") if k in reply}

    def _preload_request(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        base: Any,
        env: Mapping[str, str] | None = None,
    ) -> tuple[WorkerHandle, dict[str, Any]]:
        path = Path(flow_file).resolve()
        problem = flow_file_problem(path)
        if problem:
            raise InvalidFlowFile(problem)
        fp, worker_env = self._identity(env)
        return self._preload_key_request(path, fp, worker_env, step, base)

    def _preload_key_request(
        self, path: Path, fp: Fingerprint, env: dict[str, str], step: str, base: Any
    ) -> tuple[WorkerHandle, dict[str, Any]]:
        opts = SpinOptions.coerce(base).to_dict()
        handle = self._worker(path, fp, env)
        self._last[(path, fp)] = (step, opts)
        return handle, {"type": "preload", "step": step, "options": opts}

    def _preload_key(
        self, path: Path, fp: Fingerprint, env: dict[str, str], step: str, base: Any
    ) -> None:
        handle, msg = self._preload_key_request(path, fp, env, step, base)
        handle.quiet_request(msg)

    def cancel(
        self, flow_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        """Stop the running spin of `flow_file` (every flow file's if None), whoever's it is
        (only `env`'s identity's when given)."""
        for _, h in self._handles(flow_file, env):
            try:
                h.send({"type": "cancel", "id": None})
            except WorkerCrashed:
                pass

    def rebase(self, flow_file: str | os.PathLike[str]) -> None:
        """A run of the flow ended: its workers pick base runs afresh (state stays cached)."""
        for _, handle in self._handles(flow_file):
            if not handle.alive:
                continue
            try:
                handle.request({"type": "rebase"}, timeout=10.0)
            except WorkerCrashed:
                pass

    def restart_worker(
        self,
        flow_file: str | os.PathLike[str],
        reload: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Stop the flow file's workers (every identity's, or only `env`'s) and forget their
        deaths: asked for by a person, so a crash-looping flow gets a fresh try."""
        path = Path(flow_file).resolve()
        fp = self._identity(env)[0] if env is not None else None
        with self._lock:
            known = (*self._workers, *self._last, *self._deaths.keys())
            keys = {k for k in known if k[0] == path}
            keys = {k for k in keys if fp is None or k[1] == fp}
            handles = [self._workers.pop(k) for k in keys if k in self._workers]
            for k in keys:
                self._deaths.forget(k)
        for handle in handles:
            handle.close()
        if not reload:
            return
        for key in keys:
            last = self._last.get(key)
            if last is None:
                continue
            env_of = next((h.env for h in handles if h.key == key), None)
            if env_of is None:
                env_of = self._identity(dict(key[1]))[1]
            try:
                handle, msg = self._preload_key_request(path, key[1], env_of, last[0], last[1])
            except (WorkerCrashLoop, RuntimeError):
                continue
            threading.Thread(target=handle.quiet_request, args=(msg,), daemon=True).start()

    def worker_pid(
        self, flow_file: str | os.PathLike[str], env: Mapping[str, str] | None = None
    ) -> int | None:
        """The pid of the flow file's worker for `env`'s identity (the service's own if None)."""
        handle = self._workers.get((Path(flow_file).resolve(), self._identity(env)[0]))
        return handle.proc.pid if handle is not None and handle.alive else None

    def status(self) -> dict[str, Any]:
        with self._lock:
            items = list(self._workers.items())
        return {
            self._label(k): {
                "pid": h.proc.pid,
                "alive": h.alive and h.proc.poll() is None,
                "user": metaflow_user(dict(k[1])),
            }
            for k, h in items
        }

    def watch_crashes(self) -> None:
        """Restart workers that died outside a spin, and reload their last state."""
        for key, handle in self._handles(None):
            if handle.proc.poll() is not None:
                self.restart_worker(key[0], env=dict(key[1]))

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._stopping.set()
            handles = list(self._workers.values())
            self._workers.clear()
        for h in handles:
            h.close()

    def __enter__(self) -> SpinService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
