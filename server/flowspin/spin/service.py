"""`SpinService`: the one facade the daemon, the language server and the Python API use.

It owns one worker process per flow file and caller identity, talks to it with msgpack frames
over pipes, serialises spins per flow file, restarts a crashed worker (and reloads its last
state), and turns everything into `SpinResult`s.

Why per identity: Metaflow reads the user name and its configuration (profile, datastore,
metadata) from the environment once, at import, so a worker can only ever answer in one
namespace. A request carries its caller's identity variables (`flowspin.spin.identity`); a
caller with another one gets a worker of its own, started with that environment, and the
same caller keeps its warm worker.

Why restarts are bounded: a flow whose import ends the process (`os._exit`, a fatal signal,
running out of memory) would otherwise be restarted for ever. Only a worker that had finished
starting is restarted on its own, with a growing delay, and after `MAX_DEATHS` deaths within
`DEATH_WINDOW_S` none is started until the flow file changes or the window has passed; each
request in between gets the reason (exit code or signal, the worker log's last lines).

Why a crashed spin is never re-sent: the step may already have run (written a file, sent a
message) when its worker died. User code runs at most once per request; only a request that
never reached a worker is retried.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from flowspin.spin.identity import clean_identity, is_identity_var, metaflow_user
from flowspin.spin.options import SpinOptions
from flowspin.spin.protocol import read_fd, write_fd
from flowspin.spin.result import SpinResult

log = logging.getLogger(__name__)

LogCallback = Callable[[str, str], None]  # (stream, text)

MAX_DEATHS = 3  # deaths of one worker (and its restarts) within the window before it stops
DEATH_WINDOW_S = 60.0
REVIVE_DELAYS_S = (0.0, 1.0, 2.0)  # before the 1st, 2nd, 3rd automatic restart in the window
MAX_WORKERS_PER_FILE = 3  # identities kept warm per flow file; the least recently used goes
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


class WorkerCrashLoop(RuntimeError):
    """The flow's worker died too often lately: none is started until the file changes or
    the window has passed. `log_tail`: what the last one wrote before dying."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class InvalidFlowFile(ValueError):
    """Not something a worker should ever open (a device, a FIFO, a folder, not `.py`)."""


class Death(NamedTuple):
    at: float  # time.monotonic()
    reason: str  # "exit code 3", "killed by SIGKILL (...)"
    tail: str  # the worker log's last lines, written by that worker
    starting: bool  # died before it was ready: importing the flow (or Python/Metaflow) failed
    file_sig: tuple[int, int] | None  # the flow file's (mtime_ns, size) then


def flow_file_problem(path: Path) -> str | None:
    """Why `path` (resolved) cannot be a flow file, or None. Checked before any worker starts:
    a worker told to import `/dev/zero` reads until memory runs out, a FIFO blocks it."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # missing: the caller says FlowFileMissing
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a flow file; give the .py file that defines the flow"
    if not stat.S_ISREG(mode):
        kind = (
            "FIFO"
            if stat.S_ISFIFO(mode)
            else "character device"
            if stat.S_ISCHR(mode)
            else "block device"
            if stat.S_ISBLK(mode)
            else "socket"
            if stat.S_ISSOCK(mode)
            else "special file"
        )
        return f"{path} is a {kind}, not a regular .py file; give the flow's .py file"
    if path.suffix != ".py":
        return f"{path} is not a .py file; a flow file is Python source ending in .py"
    return None


def _file_sig(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


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
        log_dir = workspace / ".flowspin" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{flow_file.stem}.log"
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
        self._deaths: dict[WorkerKey, list[Death]] = {}
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
            self._record_death(old)  # counted before deciding whether to start another
        stale: list[WorkerHandle] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("SpinService is shut down")
            self._used[key] = time.monotonic()
            handle = self._workers.get(key)
            if handle is not None and handle.alive and handle.proc.poll() is None:
                return handle
            self._refuse_if_crash_looping(key)
            if handle is not None:
                stale.append(handle)
            stale += self._evict_for(key)
            handle = WorkerHandle(
                path, self._root_for(path), env, self.python, self._worker_exited, key=key
            )
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

    def _recent_deaths(self, key: WorkerKey) -> list[Death]:
        """Deaths within the window (older ones forgotten). Called with `_lock` held."""
        cutoff = time.monotonic() - DEATH_WINDOW_S
        recent = [d for d in self._deaths.get(key, ()) if d.at >= cutoff]
        if recent:
            self._deaths[key] = recent
        else:
            self._deaths.pop(key, None)
        return recent

    def _refuse_if_crash_looping(self, key: WorkerKey) -> None:
        """Called with `_lock` held."""
        deaths = self._recent_deaths(key)
        if len(deaths) < MAX_DEATHS:
            return
        path = key[0]
        if _file_sig(path) != deaths[-1].file_sig:
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
            f"(or in {wait_s} s); {cause}. Last death: {last.reason}."
            + _last_line(last.tail, self._log_of(key)),
            _tail_block(last.tail, self._log_of(key)),
        )

    def _log_of(self, key: WorkerKey) -> Path:
        root = self._root_for(key[0])
        return root / ".flowspin" / "logs" / f"worker-{key[0].stem}.log"

    def _record_death(self, handle: WorkerHandle) -> Death:
        """How `handle`'s worker died, counted once (by whoever notices first)."""
        with handle.death_lock:
            if handle.death is None:
                handle.death = Death(
                    time.monotonic(),
                    handle.exit_reason(),
                    handle.log_tail(),
                    not handle.was_ready,
                    _file_sig(handle.flow_file),
                )
                with self._lock:
                    self._deaths.setdefault(handle.key, []).append(handle.death)
            return handle.death

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
        self._record_death(handle)
        with self._lock:
            if self._closed or self._workers.get(handle.key) is not handle:
                return
            recent = self._recent_deaths(handle.key)
            if not handle.was_ready or len(recent) >= MAX_DEATHS:
                return
            delay = REVIVE_DELAYS_S[min(len(recent), len(REVIVE_DELAYS_S)) - 1]
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
        self._explain_missing_run(result, path, worker_env)
        return result

    def _crash_result(self, path: Path, step: str, handle: WorkerHandle) -> SpinResult:
        if handle.closing:
            return SpinResult.failure(
                str(path),
                step,
                "WorkerStopped",
                "the worker was stopped (restarted or shut down) during this spin; the step "
                "was not run again",
            )
        death = self._record_death(handle)
        tail = _last_line(death.tail, handle.log_path)
        block = _tail_block(death.tail, handle.log_path)
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

    def _explain_missing_run(self, result: SpinResult, path: Path, env: dict[str, str]) -> None:
        """When "no run of X" comes while runs of X exist under other users, say whose, and
        how to use them. Asked in a fresh process with the caller's environment, since
        Metaflow reads its configuration at import and this process may have another."""
        err = result.error or {}
        message = str(err.get("message") or "")
        marker = " in the Metaflow datastore"
        if err.get("type") != "MissingBaseRun" or not message.startswith("no run of "):
            return
        if marker not in message:
            return
        flow_name = message[len("no run of ") : message.index(marker)]
        try:
            proc = subprocess.run(
                [self.python, "-m", "flowspin.spin.namespaces", flow_name],
                cwd=path.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return
        hint = proc.stdout.strip()
        if proc.returncode == 0 and hint:
            err["message"] = hint

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
        threading.Thread(target=self._quiet_request, args=(handle, msg), daemon=True).start()
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
        self._quiet_request(handle, msg)

    @staticmethod
    def _quiet_request(handle: WorkerHandle, msg: dict[str, Any]) -> None:
        try:
            handle.request(msg)
        except WorkerCrashed:
            pass

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
            keys = {k for k in (*self._workers, *self._last, *self._deaths) if k[0] == path}
            keys = {k for k in keys if fp is None or k[1] == fp}
            handles = [self._workers.pop(k) for k in keys if k in self._workers]
            for k in keys:
                self._deaths.pop(k, None)
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
            threading.Thread(target=self._quiet_request, args=(handle, msg), daemon=True).start()

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


def _last_line(tail: str, log: Path) -> str:
    """For the one-line message: the log's last line (often the exception that ended it)."""
    if not tail:
        return f" {log} has nothing from it."
    return f' {log} ends with "{tail.splitlines()[-1].strip()}".'


def _tail_block(tail: str, log: Path) -> str:
    """For `error.traceback`: the worker log's last lines, shown in full by the CLI."""
    return f"last lines of {log}:\n{tail}\n" if tail else ""
