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
from flowspin.spin.protocol import recv_sock, send_sock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any


class DaemonUnavailable(RuntimeError):
    pass


def connect(workspace: Path | str, timeout: float | None = None) -> _socket.socket | None:
    path = socket_path(workspace)
    if not os.path.exists(path):
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
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


def ensure(workspace: Path | str, wait_s: float = 60.0) -> _socket.socket:
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
    """Send one request; yield every frame the daemon answers with."""
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
            if frame["type"] != "log":
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
    msg = {"type": "spin", "flow_file": flow_file, "step": step, "options": options}
    return _spin_reply(workspace, msg, on_log)["result"]


def spin_json(
    workspace: str, flow_file: str, step: str, options: dict[str, Any]
) -> tuple[str, str]:
    """(status, the result as JSON text): the daemon encodes it, so the shell's warm spin
    prints it without importing json."""
    msg = {"type": "spin", "flow_file": flow_file, "step": step, "options": options}
    frame = _spin_reply(workspace, {**msg, "reply": "json"}, None)
    if "json" not in frame:  # a daemon started by an older flowspin answers with the dict
        import json

        return frame["result"].get("status", ""), json.dumps(frame["result"], default=str)
    return frame["status"], frame["json"]


def _spin_reply(
    workspace: Path | str, msg: dict[str, Any], on_log: Callable[[str, str], None] | None
) -> dict[str, Any]:
    for _attempt in range(2):  # a daemon that was just stopping may hang up once
        logged = False
        for frame in request(workspace, msg, start=True):
            if frame["type"] == "log":
                logged = True
                if on_log is not None:
                    on_log(frame["stream"], frame["data"])
            elif frame["type"] == "result":
                return frame
        if logged:
            break
        time.sleep(0.05)
    raise DaemonUnavailable(f"the flowspin daemon closed the connection; see {log_path(workspace)}")


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
