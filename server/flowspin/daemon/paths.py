"""Files of the workspace daemon, all under `.flowspin/`.

Plain strings, built with `os.path`: the warm shell spin finds the socket before anything
heavier than the standard library's basics is imported (pathlib alone costs it milliseconds).
"""

from __future__ import annotations

import os

DEFAULT_IDLE_S = 30 * 60


def _under(workspace: str | os.PathLike[str], *parts: str) -> str:
    return os.path.join(os.fspath(workspace), ".flowspin", *parts)


def socket_path(workspace: str | os.PathLike[str]) -> str:
    return _under(workspace, "daemon.sock")


def pid_path(workspace: str | os.PathLike[str]) -> str:
    return _under(workspace, "daemon.pid")


def lock_path(workspace: str | os.PathLike[str]) -> str:
    return _under(workspace, "daemon.lock")


def log_path(workspace: str | os.PathLike[str]) -> str:
    return _under(workspace, "logs", "daemon.log")
