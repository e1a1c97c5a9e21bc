"""Where an agent's spin runs.

By default through the workspace's daemon (`.flowspin/daemon.sock`), started when none runs,
exactly as `flowspin spin` does: the worker stays warm across MCP sessions and CLI calls, and
whoever serves that socket (the daemon, or the editor's language server) sees the agent's spins.
With `flowspin mcp --no-daemon`, or when the daemon cannot be reached, a `SpinService` kept in
this server process runs them (warm from the second spin on).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flowspin.mcp.errors import NotAvailable

log = logging.getLogger("flowspin.mcp")

USE_DAEMON = True  # `flowspin mcp --no-daemon` turns it off


def spin(path: Path, step: str, options: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The spin result (the `flowspin spin --json` contract) and how it ran ("daemon"/"server")."""
    if USE_DAEMON:
        result = _spin_via_daemon(path, step, options)
        if result is not None:
            return result, "daemon"
    try:
        from flowspin.spin.api import spin as api_spin
        from flowspin.spin.options import SpinOptions
    except ImportError as exc:
        raise NotAvailable("spin", str(exc)) from exc
    result_obj = api_spin(path, step, options=SpinOptions.from_dict(options))
    return result_obj.to_dict(), "server"


def _spin_via_daemon(path: Path, step: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """None when this build has no daemon client or no daemon can be reached or started."""
    try:
        from flowspin.daemon import client
        from flowspin.store.layout import workspace_root
    except ImportError:
        return None
    try:
        return client.spin(workspace_root(path), str(path), step, options)
    except (client.DaemonUnavailable, OSError) as exc:
        log.warning("spinning in the MCP server process: daemon unavailable (%s)", exc)
        return None
