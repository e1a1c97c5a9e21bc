"""Where an agent's spin runs.

By default through the workspace's daemon (`.flowspin/daemon.sock`), started when none runs,
exactly as `flowspin spin` does: the worker stays warm across MCP sessions and CLI calls, and
whoever serves that socket (the daemon, or the editor's language server) sees the agent's spins.
With `flowspin mcp --no-daemon`, or when the daemon cannot be reached, a `SpinService` kept in
this server process runs them (warm from the second spin on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowspin.mcp.errors import NotAvailable

log = logging.getLogger("flowspin.mcp")

LogCallback = Callable[[str, str], None]

USE_DAEMON = True  # `flowspin mcp --no-daemon` turns it off


def spin(
    path: Path, step: str, options: dict[str, Any], on_log: LogCallback | None = None
) -> tuple[dict[str, Any], str]:
    """The spin result (the `flowspin spin --json` contract) and how it ran ("daemon"/"server").

    `on_log(stream, text)` gets the step's output while it runs, from any thread.
    """
    if USE_DAEMON:
        result = _spin_via_daemon(path, step, options, on_log)
        if result is not None:
            return result, "daemon"
    try:
        from flowspin.spin.api import spin as api_spin
        from flowspin.spin.options import SpinOptions
    except ImportError as exc:
        raise NotAvailable("spin", str(exc)) from exc
    result_obj = api_spin(path, step, options=SpinOptions.from_dict(options), on_log=on_log)
    return result_obj.to_dict(), "server"


def _spin_via_daemon(
    path: Path, step: str, options: dict[str, Any], on_log: LogCallback | None
) -> dict[str, Any] | None:
    """None when this build has no daemon client or no daemon can be reached or started."""
    try:
        from flowspin.daemon import client
        from flowspin.store.layout import workspace_root
    except ImportError:
        return None
    try:
        return client.spin(workspace_root(path), str(path), step, options, on_log=on_log)
    except (client.DaemonUnavailable, OSError) as exc:
        log.warning("spinning in the MCP server process: daemon unavailable (%s)", exc)
        return None


def cancel(path: Path) -> None:
    """Stop the spin running for `path` (the agent's client cancelled the call)."""
    try:
        from flowspin.store.layout import workspace_root
    except ImportError:
        return
    root = workspace_root(path)
    if USE_DAEMON:
        try:
            from flowspin.daemon import client

            list(client.request(root, {"type": "cancel", "flow_file": str(path)}))
        except Exception as exc:  # no daemon: the spin ran here
            log.info("daemon cancel failed: %s", exc)
    try:
        from flowspin.spin import api
    except ImportError:
        return
    service = getattr(api, "_services", {}).get(root)
    if service is not None:
        service.cancel(path)
