"""Reaching the workspace daemon from the CLI; starting one when none runs.

This module is the warm shell spin's whole client, so it imports only what a request needs:
`typing` and `pathlib` would each cost it more milliseconds than the step it runs.
"""

from __future__ import annotations

# The C socket module, not `socket`: its wrapper imports enum, selectors and collections,
# about 5 ms of the warm shell spin, for features a Unix-socket request does not use.
import _socket
import os
import sys
import time

from flowspin.daemon.paths import lock_path, log_path, socket_path
from flowspin.spin.identity import caller_identity
from flowspin.spin.protocol import ProtocolError, recv_sock, send_sock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any


class DaemonUnavailable(RuntimeError):
    pass


class ForeignPeer(DaemonUnavailable):
    """The process at the other end of the workspace socket runs as another user."""


# Who is at the other end of a Unix socket, as the kernel saw it at connect()/listen():
# Linux's SO_PEERCRED (struct ucred: pid, uid, gid) and macOS's LOCAL_PEERCRED (struct xucred:
# version, uid, ...) both hold the uid as the second 32-bit int.
if sys.platform.startswith("linux"):
    _PEERCRED = (_socket.SOL_SOCKET, getattr(_socket, "SO_PEERCRED", 17), 12)
elif sys.platform == "darwin":
    _PEERCRED = (0, 0x001, 76)  # SOL_LOCAL, LOCAL_PEERCRED, sizeof(struct xucred)
else:
    _PEERCRED = None


def peer_uid(sock: _socket.socket) -> int | None:
    """The uid of the process on the other end of `sock`; None where the OS cannot tell."""
    if _PEERCRED is None:
        return None
    level, option, size = _PEERCRED
    cred = sock.getsockopt(level, option, size)
    return int.from_bytes(cred[4:8], sys.byteorder)


def connect(workspace: Path | str, timeout: float | None = None) -> _socket.socket | None:
    """A connection to the workspace's daemon, or None when none listens.

    Raises `ForeignPeer` when the listener is another user's process: whoever can replace our
    socket (a shared or loosely permitted folder) must not get to answer our spins with
    results of their making, nor read the requests we send.
    """
    path = socket_path(workspace)
    if not os.path.exists(path):
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    try:
        uid = peer_uid(sock)
    except OSError:
        uid = None
    if uid is not None and uid != os.geteuid():
        sock.close()
        raise ForeignPeer(
            f"{path} is served by a process of uid {uid}, not yours (uid {os.geteuid()}): "
            f"flowspin refuses to use it; remove {path} (or the folder holding it) and try "
            f"again"
        )
    sock.settimeout(timeout)
    return sock


def start_daemon(workspace: Path | str, idle_timeout: float | None = None) -> None:
    import subprocess

    log = log_path(workspace)
    os.makedirs(os.path.dirname(log), exist_ok=True)
    args = [sys.executable, "-m", "flowspin.daemon.server", str(workspace)]
    if idle_timeout is not None:
        args.append(str(idle_timeout))
    with open(log, "ab") as fh:
        subprocess.Popen(
            args,
            cwd=workspace,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=fh,
            start_new_session=True,
            close_fds=True,
        )


def ensure(workspace: Path | str, wait_s: float = 90.0) -> _socket.socket:
    """A connection to the workspace's daemon, started if none runs. `wait_s` covers a
    stopping daemon's drain (its running spins get 30 s to finish before the new one starts)."""
    sock = connect(workspace)
    if sock is not None:
        return sock
    start_daemon(workspace)
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while time.monotonic() < deadline:
        sock = connect(workspace)
        if sock is not None:
            return sock
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise DaemonUnavailable(f"the flowspin daemon did not start; see {log_path(workspace)}")


def request(
    workspace: Path | str, msg: dict[str, Any], start: bool = False
) -> Iterator[dict[str, Any]]:
    """Send one request; yield every frame the daemon answers with (`accepted` and `log`
    frames, then the reply)."""
    sock = ensure(workspace) if start else connect(workspace)
    if sock is None:
        raise DaemonUnavailable("no flowspin daemon runs for this workspace")
    try:  # a C socket has no `with`
        send_sock(sock, msg)
        while True:
            frame = recv_sock(sock)
            if frame is None:
                return
            yield frame
            if frame["type"] not in ("log", "accepted"):
                return
    finally:
        sock.close()


def spin(
    workspace: Path,
    flow_file: str,
    step: str,
    options: dict[str, Any],
    on_log: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """The spin's result, as `SpinResult.to_dict()` gives it."""
    msg = {"type": "spin", "flow_file": flow_file, "step": step, "options": options, "ack": True}
    msg["env"] = caller_identity()  # the spin sees what `metaflow spin` would see here
    return _spin_reply(workspace, msg, on_log)["result"]


def spin_json(
    workspace: str, flow_file: str, step: str, options: dict[str, Any]
) -> tuple[str, str]:
    """(status, the result as JSON text): the daemon encodes it, so the shell's warm spin
    prints it without importing json."""
    msg = {"type": "spin", "flow_file": flow_file, "step": step, "options": options, "ack": True}
    msg["env"] = caller_identity()  # our Metaflow user and METAFLOW_* config: a small dict
    frame = _spin_reply(workspace, {**msg, "reply": "json"}, None)
    if "json" not in frame:  # a daemon started by an older flowspin answers with the dict
        import json

        return frame["result"].get("status", ""), json.dumps(frame["result"], default=str)
    return frame["status"], frame["json"]


def _spin_reply(
    workspace: Path | str, msg: dict[str, Any], on_log: Callable[[str, str], None] | None
) -> dict[str, Any]:
    """The spin's `result` frame. A request the daemon never took (it was stopping as we
    connected) is sent once more; once it said `accepted` (or streamed output) the step may
    have run, so a daemon that goes away then (stopped, killed) gives a `cancelled` result
    saying so, and the step is never run again on our own: user code runs at most once."""
    for _attempt in range(2):
        taken = False
        try:
            for frame in request(workspace, msg, start=True):
                kind = frame["type"]
                if kind == "accepted":
                    taken = True
                elif kind == "log":
                    taken = True
                    if on_log is not None:
                        on_log(frame["stream"], frame["data"])
                elif kind == "result":
                    return frame
                elif kind == "error":
                    raise DaemonUnavailable(
                        f"the flowspin daemon answered: {frame.get('message') or 'an error'}"
                    )
        except (OSError, ProtocolError):
            if not taken:
                time.sleep(0.05)
                continue
        if taken:
            return _gone_result(workspace, msg)
        time.sleep(0.05)
    raise DaemonUnavailable(f"the flowspin daemon closed the connection; see {log_path(workspace)}")


def _gone_result(workspace: Path | str, msg: dict[str, Any]) -> dict[str, Any]:
    """The `result` frame of a spin whose daemon went away after taking it."""
    from flowspin.spin.result import SpinResult

    result = SpinResult.failure(
        str(msg.get("flow_file", "")),
        str(msg.get("step", "")),
        "DaemonGone",
        "the flowspin daemon went away during this spin (stopped, killed or crashed) before "
        "it answered; the step was not run again (a spin runs user code at most once), so "
        f"whatever it did before then happened once. See {log_path(workspace)}",
        status="cancelled",
    )
    if msg.get("reply") == "json":
        return {"type": "result", "status": result.status, "json": result.to_json()}
    return {"type": "result", "result": result.to_dict()}


def wait_released(workspace: Path | str, timeout: float = 15.0) -> bool:
    """Wait until no process serves the workspace any more (its lock is free), so whoever
    stopped it can start another server, or host the socket, at once."""
    import fcntl

    path = lock_path(workspace)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
            return True
        except FileNotFoundError:
            return True  # never served
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
