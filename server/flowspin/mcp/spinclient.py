"""Where an agent's spin runs: the workspace's warm daemon when one answers (warm, shared with
the editor), else a `SpinService` kept in this server process (warm from the second spin on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowspin.mcp.errors import NotAvailable


def spin(path: Path, step: str, options: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The spin result (the `flowspin spin --json` contract) and how it ran ("daemon"/"server")."""
    via_daemon = _spin_via_daemon(path, step, options)
    if via_daemon is not None:
        return via_daemon, "daemon"
    try:
        from flowspin.spin.api import spin as api_spin
        from flowspin.spin.options import SpinOptions
    except ImportError as exc:
        raise NotAvailable("spin", str(exc)) from exc
    result = api_spin(path, step, options=SpinOptions.from_dict(options))
    return result.to_dict(), "server"


def _spin_via_daemon(path: Path, step: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """None when no daemon client is part of this build or no daemon can be reached."""
    return None
