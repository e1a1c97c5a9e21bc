"""Files of the workspace daemon, all under `.flowspin/`."""

from __future__ import annotations

from pathlib import Path

DEFAULT_IDLE_S = 30 * 60


def socket_path(workspace: Path) -> Path:
    return Path(workspace) / ".flowspin" / "daemon.sock"


def pid_path(workspace: Path) -> Path:
    return Path(workspace) / ".flowspin" / "daemon.pid"


def lock_path(workspace: Path) -> Path:
    return Path(workspace) / ".flowspin" / "daemon.lock"


def log_path(workspace: Path) -> Path:
    return Path(workspace) / ".flowspin" / "logs" / "daemon.log"
