"""The socket server that fronts a `SpinService`: used by the daemon, reusable by the LSP.

One thread per connection; a client sends one request frame and receives `log` frames and a
final reply (a spin's is preceded by `accepted`, so a client whose daemon goes away can tell a
request never taken, safe to send again, from a spin that may have run: that one is never
re-sent). A client that disconnects mid-spin cancels its spin (Ctrl-C in the shell).

Nothing a connection does can hold the daemon: a request must arrive whole within
`FLOWSPIN_DAEMON_READ_S` (10 s) of connecting and be at most 1 MiB, and a caller that stops
reading its spin's output for a minute is treated as gone. Every field of a request is checked
before anything runs; a bad one is answered (an `InvalidRequest` result for a spin, an error
frame otherwise), never with a dropped connection.

Stopping (`flowspin daemon stop`, idle, the socket or `.flowspin` removed) closes the socket at
once; running spins then get `FLOWSPIN_DAEMON_DRAIN_S` (30 s) to finish and are cancelled after
that, so each caller gets its spin's own result.

Only processes of this user are served: a spin runs code as us, so the socket is 0600 in a
0700 `.flowspin`, and each connection's peer uid (SO_PEERCRED) is checked as well, in case
the file permissions are ever looser than they should be (a copied folder, a lax umask).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flowspin.daemon.client import peer_uid
from flowspin.daemon.paths import DEFAULT_IDLE_S, lock_path, pid_path, socket_path
from flowspin.logsetup import log_to_stderr
from flowspin.spin.protocol import HEADER, decode_body, send_sock
from flowspin.store.root import ensure_private_dir

log = logging.getLogger(__name__)

MAX_REQUEST = 1 << 20  # requests are a path, a step, options and a few variables: kilobytes
SEND_S = 60.0  # a caller that has not read its spin's output for this long is gone
CHECK_S = 2.0  # how often a daemon looks for its socket and store folder
CANCEL_WAIT_S = 15.0  # after the drain: how long cancelled spins get to end (SIGINT, SIGKILL)
STEP_NAME_MAX = 200
PATH_MAX = 4096


def env_seconds(name: str, default: float) -> float:
    """A duration setting from the environment; the default when unset or not a number > 0
    (a typo must not turn a bound into none)."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


class BadRequest(ValueError):
    """A request the daemon will not act on; its text is sent back to the caller."""


class RequestTimeout(BadRequest):
    pass


class SocketServer:
    def __init__(
        self, workspace: str | os.PathLike[str], service: Any, idle_timeout: float | None = None
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.service = service
        self.idle_timeout = idle_timeout
        self.read_timeout = env_seconds("FLOWSPIN_DAEMON_READ_S", 10.0)
        self.drain_timeout = env_seconds("FLOWSPIN_DAEMON_DRAIN_S", 30.0)
        self.path = Path(socket_path(self.workspace))
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.active = 0  # connections being handled
        self.spinning = 0  # of which: spins
        self.stop_reason = ""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # `active` went down
        self._stop = threading.Event()
        self._cancelled = threading.Event()  # the drain ran out: remaining spins cancelled
        self._sock: socket.socket | None = None
        self._sock_id: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        self._store_id: tuple[int, int] | None = None

    def bind(self) -> None:
        ensure_private_dir(self.workspace)  # ours and 0700, or UnsafeWorkspace
        if self.path.exists():
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: only this user may spin here
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._sock_id = _file_id(str(self.path))
        self._store_id = _file_id(str(self.path.parent))
        sock.listen(16)
        sock.settimeout(1.0)
        self._sock = sock

    def serve_forever(self) -> None:
        assert self._sock is not None
        next_check = time.monotonic() + CHECK_S
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                conn = None
            except OSError:
                break
            if conn is not None:
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + CHECK_S
                gone = self._gone()
                if gone:
                    self.stop(gone)
                    break
            if conn is None:
                self._check_idle()
        self.close()

    def _gone(self) -> str | None:
        """Why nobody can reach this server any more, if so: its socket file was removed or
        replaced (another server's now), or `.flowspin` was (rm -rf). Such a server would
        live on unseen, holding workers, with `daemon status` saying none runs."""
        if _file_id(str(self.path)) != self._sock_id:
            return f"its socket {self.path} was removed or replaced"
        if _file_id(str(self.path.parent)) != self._store_id:
            return f"its folder {self.path.parent} was removed or replaced"
        return None

    def _check_idle(self) -> None:
        if self.idle_timeout is None:
            return
        with self._lock:
            idle = self.active == 0 and time.monotonic() - self.last_activity > self.idle_timeout
        if idle:
            self.stop(f"idle for {self.idle_timeout:g} s")

    def stop(self, reason: str = "asked to stop") -> None:
        """Stop accepting at once (new callers start a fresh daemon, once this one has let go
        of the workspace); running spins finish (`drain`)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            log.info("stopping: %s", reason)
        self._stop.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # Only our own socket file: after an rm -rf, the path may be another daemon's by now.
        if self._sock_id is not None and _file_id(str(self.path)) == self._sock_id:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def drain(self, timeout: float | None = None) -> bool:
        """After `stop`: wait for the connections being served to end, so each running spin's
        caller gets its result (the docs promise running spins finish; a daemon that exited
        under them made the caller start a new one and run the step again). After `timeout`
        seconds (`FLOWSPIN_DAEMON_DRAIN_S`) the spins still running are cancelled and end as
        `cancelled`. True when every connection ended."""
        limit = self.drain_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._changed:
            while self.active and time.monotonic() < deadline:
                self._changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            if not self.active:
                return True
            log.warning(
                "%d spin(s) still running after %g s: cancelling them", self.spinning, limit
            )
        self._cancelled.set()
        deadline = time.monotonic() + CANCEL_WAIT_S
        while True:
            # Again and again: a spin queued behind a cancelled one starts when it ends.
            self.service.cancel(None)
            with self._changed:
                self._changed.wait(0.5)
                if not self.active:
                    return True
                if time.monotonic() > deadline:
                    return False

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _handle(self, conn: socket.socket) -> None:
        with self._lock:
            self.active += 1
            self.last_activity = time.monotonic()
        try:
            with conn:
                conn.settimeout(self.read_timeout)  # bounds the replies we send too
                if not _same_user(conn):
                    # Its request read first (bounded, never acted on): closing on unread
                    # bytes would break the caller's send, and it would see no refusal.
                    try:
                        self._read_request(conn)
                    except BadRequest:
                        pass
                    send_sock(
                        conn,
                        {
                            "type": "error",
                            "message": "refused: this flowspin daemon serves "
                            f"only uid {os.geteuid()}",
                        },
                    )
                    return
                try:
                    msg = self._read_request(conn)
                    if msg is None:
                        return
                    self._dispatch(conn, msg)
                except OSError:
                    raise
                except BadRequest as exc:
                    send_sock(conn, {"type": "error", "message": str(exc)})
                except Exception as exc:  # a failing service: say what
                    send_sock(conn, {"type": "error", "message": _describe(exc)})
        except (OSError, ValueError):
            pass
        finally:
            with self._changed:
                self.active -= 1
                self.last_activity = time.monotonic()
                self._changed.notify_all()

    def _read_request(self, conn: socket.socket) -> dict[str, Any] | None:
        """The connection's one request frame; None when it closes without sending a byte.

        Bounded in time and size: a caller that connects and says nothing, or announces a
        frame (a 1 GB length prefix) and never sends it, used to hold its thread and the
        daemon's idle exit forever."""
        deadline = time.monotonic() + self.read_timeout
        head = _recv_by(conn, HEADER.size, deadline, self.read_timeout)
        if head is None:
            return None
        (size,) = HEADER.unpack(head)
        if size > MAX_REQUEST:
            raise BadRequest(
                f"a request of {size} bytes; flowspin requests are at most {MAX_REQUEST}"
            )
        body = _recv_by(conn, size, deadline, self.read_timeout) if size else b""
        if body is None:
            raise BadRequest("the connection closed in the middle of a request")
        try:
            msg = decode_body(body)
        except Exception as exc:  # msgpack's errors have no common base worth naming
            raise BadRequest(f"not a flowspin request: {_describe(exc)}") from None
        kind = msg.get("type")
        if not isinstance(kind, str) or kind not in REQUESTS:
            raise BadRequest(
                f"unknown request {kind!r:.100}; expected one of {', '.join(sorted(REQUESTS))}"
            )
        conn.settimeout(self.read_timeout)  # for the replies: not what the deadline left
        return msg

    def _dispatch(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "spin":
            problem = _spin_problem(msg)
            if problem:
                _send_result(conn, msg, _invalid(msg, problem))
                return
            with self._lock:
                self.spinning += 1
            try:
                # From here on the step may run: a client that loses us must not send it again.
                # Only to clients that asked: an older one took any frame but `log` for the
                # reply, hung up (cancelling the spin) and sent the request again.
                if msg.get("ack"):
                    send_sock(conn, {"type": "accepted"})
                try:
                    self._spin(conn, msg)
                except OSError:
                    raise
                except Exception as exc:  # a failing service: a result, which the client
                    # reports as it is (an error frame would have it try elsewhere)
                    _send_result(conn, msg, _invalid(msg, _describe(exc), "DaemonError"))
            finally:
                with self._lock:
                    self.spinning -= 1
        elif kind == "status":
            send_sock(
                conn,
                {
                    "type": "status",
                    "pid": os.getpid(),
                    "workspace": str(self.workspace),
                    "started": self.started,
                    "idle_timeout": self.idle_timeout,
                    "workers": self.service.status(),
                },
            )
        elif kind == "stop":
            self.stop()  # first: once the caller has the answer, the socket is gone
            with self._lock:
                running = self.spinning
            send_sock(
                conn,
                {
                    "type": "stopped",
                    "pid": os.getpid(),
                    "running": running,
                    "drain_s": self.drain_timeout,
                },
            )
        elif kind == "cancel":
            flow_file = msg.get("flow_file")
            if flow_file is not None:
                _check_path(flow_file)
            self.service.cancel(flow_file)
            send_sock(conn, {"type": "ok"})
        else:  # preload: the one kind left (`_read_request` lets only known kinds through)
            problem = _spin_problem(msg)
            if problem:
                raise BadRequest(problem)
            ok = self.service.preload(
                msg["flow_file"], msg["step"], msg.get("options"), wait=False, env=msg.get("env")
            )
            send_sock(conn, {"type": "ok", "ok": ok})

    def _spin(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        gone = threading.Event()
        flow_file = msg["flow_file"]

        def on_log(stream: str, text: str) -> None:
            if gone.is_set():
                return
            try:
                send_sock(conn, {"type": "log", "stream": stream, "data": text})
            except OSError:
                gone.set()
                self.service.cancel(flow_file)  # the caller went away: stop its spin

        conn.settimeout(SEND_S)  # a caller that stops reading its output is gone (on_log)
        watcher = threading.Thread(
            target=_watch_hangup, args=(conn, gone, self.service, flow_file), daemon=True
        )
        watcher.start()
        # The caller's Metaflow user and METAFLOW_* configuration, not the daemon's.
        result = self.service.spin(
            flow_file, msg["step"], msg.get("options"), on_log=on_log, env=msg.get("env")
        )
        gone.set()
        if self._cancelled.is_set() and result.status == "cancelled":
            result.notices.append(
                f"the flowspin daemon was stopped ({self.stop_reason}) and cancelled this spin "
                f"after waiting {self.drain_timeout:g} s for it (FLOWSPIN_DAEMON_DRAIN_S)"
            )
        try:
            _send_result(conn, msg, result)
        except OSError:
            pass


def host_socket(workspace: str | os.PathLike[str], service: Any) -> SocketServer | None:
    """Serve `service` on the workspace socket from this process (the language server).

    Returns None when a daemon already serves the workspace (callers reach it instead). The
    returned server runs in a background thread; call `.stop()` when shutting down.
    """
    ws = Path(workspace).resolve()
    ensure_private_dir(ws)
    lock_fh = open(lock_path(ws), "w")
    try:
        fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_fh.close()
        return None
    server = SocketServer(ws, service, idle_timeout=None)
    server.bind()
    server._lock_fh = lock_fh  # type: ignore[attr-defined]  # held while we serve

    def run() -> None:
        try:
            server.serve_forever()
        finally:
            lock_fh.close()

    threading.Thread(target=run, name="flowspin-socket", daemon=True).start()
    return server


def _describe(exc: BaseException) -> str:
    """An error's one-line text for the client: never empty, never huge (a request can be)."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return text if len(text) <= 500 else text[:500] + "..."


REQUESTS = frozenset({"spin", "status", "stop", "cancel", "preload"})


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _recv_by(conn: socket.socket, n: int, deadline: float, limit: float) -> bytes | None:
    """`n` bytes by `deadline`; None when the peer closes before the first of them."""
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RequestTimeout(f"no complete request within {limit:g} s of connecting")
        conn.settimeout(left)
        try:
            chunk = conn.recv(min(n - len(buf), 1 << 16))
        except TimeoutError:
            raise RequestTimeout(f"no complete request within {limit:g} s of connecting") from None
        if not chunk:
            if buf:
                raise BadRequest("the connection closed in the middle of a request")
            return None
        buf += chunk
    return bytes(buf)


def _check_path(value: object) -> str:
    if not isinstance(value, str) or not value or "\0" in value or len(value) > PATH_MAX:
        raise BadRequest(f"flow_file must be a flow file's path (a string), got {value!r:.200}")
    return value


def _spin_problem(msg: dict[str, Any]) -> str | None:
    """What is wrong with a spin (or preload) request, field by field; None if nothing.

    Checked before the request reaches the service, so a hand-written or stale client gets an
    answer naming the field instead of a worker's traceback or a dropped connection."""
    from flowspin.spin.options import SpinOptions

    try:
        _check_path(msg.get("flow_file"))
    except BadRequest as exc:
        return str(exc)
    step = msg.get("step")
    if not isinstance(step, str) or not step.isidentifier() or len(step) > STEP_NAME_MAX:
        return f"step must be a step name (a Python identifier), got {step!r:.200}"
    try:
        SpinOptions.from_dict(msg.get("options"))
    except (TypeError, ValueError) as exc:
        return str(exc) or f"bad options: {msg.get('options')!r:.200}"
    env = msg.get("env")
    if env is not None and not (
        isinstance(env, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
    ):
        return f"env must map variable names to strings, got {env!r:.200}"
    if msg.get("ack") not in (None, True, False):
        return f"ack must be true or false, got {msg.get('ack')!r:.100}"
    if msg.get("reply") not in (None, "json"):
        return f'reply must be "json" or absent, got {msg.get("reply")!r:.100}'
    return None


def _invalid(msg: dict[str, Any], problem: str, err_type: str = "InvalidRequest") -> Any:
    """A failed spin's result for `problem`: the shell's `spin --json` prints one result,
    whatever went wrong."""
    from flowspin.spin.result import SpinResult

    flow_file, step = msg.get("flow_file"), msg.get("step")
    if err_type == "InvalidRequest":
        problem = f"the flowspin daemon refused this spin request: {problem}"
    return SpinResult.failure(
        flow_file if isinstance(flow_file, str) else "",
        step if isinstance(step, str) else "",
        err_type,
        problem,
    )


def _send_result(conn: socket.socket, msg: dict[str, Any], result: Any) -> None:
    if msg.get("reply") == "json":
        # The shell's `spin --json` prints this text as it is, without importing json.
        reply = {"type": "result", "status": result.status, "json": result.to_json()}
    else:
        reply = {"type": "result", "result": result.to_dict()}
    send_sock(conn, reply)


def _same_user(conn: socket.socket) -> bool:
    """Whether the connecting process runs as this user (True where the OS cannot tell: the
    socket file's 0600 mode is then the only guard)."""
    try:
        uid = peer_uid(conn)  # type: ignore[arg-type]  # the wrapper is a _socket.socket
    except OSError:
        return False
    return uid is None or uid == os.geteuid()


def _watch_hangup(conn: socket.socket, done: threading.Event, service: Any, flow_file: str) -> None:
    """A caller that hangs up (Ctrl-C) mid-spin cancels it."""
    import select

    while not done.is_set():
        try:
            ready, _, _ = select.select([conn], [], [], 0.2)
        except (OSError, ValueError):
            return
        if ready and not done.is_set():
            try:
                data = conn.recv(1, socket.MSG_PEEK)
            except OSError:
                data = b""
            if not data:
                done.set()
                service.cancel(flow_file)
                return
            try:  # bytes after the request mean nothing; read them, or select spins hot
                conn.recv(1 << 16)
            except OSError:
                return


def main(argv: list[str] | None = None) -> int:
    """`python -m flowspin.daemon.server WORKSPACE [IDLE_S]`: the detached daemon process."""
    args = sys.argv[1:] if argv is None else argv
    log_to_stderr("daemon")  # stderr is .flowspin/logs/daemon.log (daemon/client.py)
    workspace = Path(args[0]).resolve()
    idle = (
        float(args[1])
        if len(args) > 1
        else float(os.environ.get("FLOWSPIN_DAEMON_IDLE_S", DEFAULT_IDLE_S))
    )
    ensure_private_dir(workspace)
    lock_fh = open(lock_path(workspace), "w")
    # A stopping daemon lets its running spins finish first (the drain): wait that long.
    deadline = time.monotonic() + env_seconds("FLOWSPIN_DAEMON_DRAIN_S", 30.0) + 30
    while True:
        try:
            fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            # Another daemon owns the workspace: fine if it serves; if it is on its way out
            # (stopped, idle), wait for it to let go and take over.
            from flowspin.daemon.client import connect

            sock = connect(workspace)
            if sock is not None:
                sock.close()
                return 0
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.05)
    from flowspin.spin.service import SpinService

    service = SpinService(workspace)
    server = SocketServer(workspace, service, idle_timeout=idle)
    server.bind()
    Path(pid_path(workspace)).write_text(str(os.getpid()))
    import signal

    # `kill PID` (a logout, a process manager) is a `daemon stop`: running spins drain.
    signal.signal(signal.SIGTERM, lambda *_: server.stop("terminated (SIGTERM)"))
    try:
        server.serve_forever()
        server.drain()
    finally:
        service.shutdown()
        _remove_own_pid_file(pid_path(workspace))
        lock_fh.close()
    return 0


def _remove_own_pid_file(path: str) -> None:
    """After an rm -rf of `.flowspin`, another daemon may have written its pid there since."""
    try:
        with open(path) as fh:
            if fh.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
