"""Per-workspace daemon: keeps spin workers warm for shell and agent callers (Unix socket)."""

from flowspin.daemon.paths import lock_path, pid_path, socket_path

__all__ = ["lock_path", "pid_path", "socket_path"]
