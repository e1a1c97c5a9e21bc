"""Saying whose runs exist when a spin finds "no run of X" in the caller's namespace.

A spin bases itself on runs in the caller's Metaflow namespace (its user), so a new user of a
shared datastore, or a shell whose `METAFLOW_USER` differs from the one who ran the flow, sees
"no run" while runs are right there. The hint names their owners and how to use them. It is
asked in a fresh process with the caller's environment (`flowspin.spin.namespaces`): Metaflow
reads its configuration at import, and the service's process may hold another one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowspin.spin.result import SpinResult

MARKER = " in the Metaflow datastore"


def explain_missing_run(result: SpinResult, path: Path, env: dict[str, str], python: str) -> None:
    """Replace a MissingBaseRun message with the hint, when there is one."""
    err = result.error or {}
    message = str(err.get("message") or "")
    if err.get("type") != "MissingBaseRun" or not message.startswith("no run of "):
        return
    if MARKER not in message:
        return
    flow_name = message[len("no run of ") : message.index(MARKER)]
    try:
        proc = subprocess.run(
            [python, "-m", "flowspin.spin.namespaces", flow_name],
            cwd=path.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return
    hint = proc.stdout.strip()
    if proc.returncode == 0 and hint:
        err["message"] = hint
