"""Reaching the workspace daemon from the CLI; starting one when none runs."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flowspin.daemon.paths import log_path, socket_path
from flowspin.spin.protocol import recv_sock, send_sock


class DaemonUnavailable(RuntimeError):
    pass


def connect(workspace: Path, timeout: float | None = None) -> socket.socket | None:
    path = socket_path(workspace)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    sock.settimeout(timeout)
    return sock


def start_daemon(workspace: Path, idle_timeout: float | None = None) -> None:
    import subprocess

    log = log_path(workspace)
    log.parent.mkdir(parents=True, exist_ok=True)
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


def ensure(workspace: Path, wait_s: float = 60.0) -> socket.socket:
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


def request(workspace: Path, msg: dict[str, Any], start: bool = False) -> Iterator[dict[str, Any]]:
    """Send one request; yield every frame the daemon answers with."""
    sock = ensure(workspace) if start else connect(workspace)
    if sock is None:
        raise DaemonUnavailable("no flowspin daemon runs for this workspace")
    with sock:
        send_sock(sock, msg)
        while True:
            frame = recv_sock(sock)
            if frame is None:
                return
            yield frame
            if frame["type"] != "log":
                return


def spin(
    workspace: Path,
    flow_file: str,
    step: str,
    options: dict[str, Any],
    on_log: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    msg = {"type": "spin", "flow_file": flow_file, "step": step, "options": options}
    for _attempt in range(2):  # a daemon that was just stopping may hang up once
        logged = False
        for frame in request(workspace, msg, start=True):
            if frame["type"] == "log":
                logged = True
                if on_log is not None:
                    on_log(frame["stream"], frame["data"])
            elif frame["type"] == "result":
                return frame["result"]
        if logged:
            break
        time.sleep(0.05)
    raise DaemonUnavailable(f"the flowspin daemon closed the connection; see {log_path(workspace)}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
