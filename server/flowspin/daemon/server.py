"""The socket server that fronts a `SpinService`: used by the daemon, reusable by the LSP.

One thread per connection; a client sends one request frame and receives `log` frames and a
final reply. A client that disconnects mid-spin cancels its spin (Ctrl-C in the shell).

Only processes of this user are served: a spin runs code as us, so the socket is 0600 in a
0700 `.flowspin`, and each connection's peer uid (SO_PEERCRED) is checked as well, in case
the file permissions are ever looser than they should be (a copied folder, a lax umask).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flowspin.daemon.client import peer_uid
from flowspin.daemon.paths import DEFAULT_IDLE_S, lock_path, pid_path, socket_path
from flowspin.spin.protocol import recv_sock, send_sock
from flowspin.store.root import ensure_private_dir


class SocketServer:
    def __init__(
        self, workspace: str | os.PathLike[str], service: Any, idle_timeout: float | None = None
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.service = service
        self.idle_timeout = idle_timeout
        self.path = Path(socket_path(self.workspace))
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.active = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None

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
        sock.listen(16)
        sock.settimeout(1.0)
        self._sock = sock

    def serve_forever(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                self._check_idle()
                continue
            except OSError:
                break
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self.close()

    def _check_idle(self) -> None:
        if self.idle_timeout is None:
            return
        with self._lock:
            idle = self.active == 0 and time.monotonic() - self.last_activity > self.idle_timeout
        if idle:
            self.stop()

    def stop(self) -> None:
        """Stop accepting at once (new callers start a fresh daemon); running spins finish."""
        self._stop.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

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
                if not _same_user(conn):
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
                    msg = recv_sock(conn)
                    if msg is None:
                        return
                    self._dispatch(conn, msg)
                except OSError:
                    raise
                except Exception as exc:  # a malformed request, a failing service: say what
                    send_sock(conn, {"type": "error", "message": _describe(exc)})
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self.active -= 1
                self.last_activity = time.monotonic()

    def _dispatch(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "spin":
            self._spin(conn, msg)
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
            send_sock(conn, {"type": "stopped", "pid": os.getpid()})
        elif kind == "cancel":
            self.service.cancel(msg.get("flow_file"))
            send_sock(conn, {"type": "ok"})
        elif kind == "preload":
            ok = self.service.preload(
                msg["flow_file"], msg["step"], msg.get("options"), wait=False, env=msg.get("env")
            )
            send_sock(conn, {"type": "ok", "ok": ok})
        else:
            send_sock(conn, {"type": "error", "message": f"unknown request {kind!r}"})

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

        watcher = threading.Thread(
            target=_watch_hangup, args=(conn, gone, self.service, flow_file), daemon=True
        )
        watcher.start()
        # The caller's Metaflow user and METAFLOW_* configuration, not the daemon's.
        result = self.service.spin(
            flow_file, msg["step"], msg.get("options"), on_log=on_log, env=msg.get("env")
        )
        gone.set()
        if msg.get("reply") == "json":
            # The shell's `spin --json` prints this text as it is, without importing json.
            reply = {"type": "result", "status": result.status, "json": result.to_json()}
        else:
            reply = {"type": "result", "result": result.to_dict()}
        try:
            send_sock(conn, reply)
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


def main(argv: list[str] | None = None) -> int:
    """`python -m flowspin.daemon.server WORKSPACE [IDLE_S]`: the detached daemon process."""
    args = sys.argv[1:] if argv is None else argv
    workspace = Path(args[0]).resolve()
    idle = (
        float(args[1])
        if len(args) > 1
        else float(os.environ.get("FLOWSPIN_DAEMON_IDLE_S", DEFAULT_IDLE_S))
    )
    ensure_private_dir(workspace)
    lock_fh = open(lock_path(workspace), "w")
    deadline = time.monotonic() + 20
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
    try:
        server.serve_forever()
    finally:
        service.shutdown()
        try:
            Path(pid_path(workspace)).unlink()
        except FileNotFoundError:
            pass
        lock_fh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
