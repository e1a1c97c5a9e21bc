"""A real MCP client session (the SDK's own client over stdio) against `python -m flowspin mcp`."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from conftest import metaflow_env
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult

# What an MCP client passes a stdio server: its minimal default environment plus the `env` of
# the server's config. The Metaflow variables below are what a user's config would set.
PASSED_VARS = (
    "METAFLOW_USER",
    "USERNAME",
    "METAFLOW_DEFAULT_METADATA",
    "METAFLOW_DEFAULT_DATASTORE",
    "METAFLOW_DATASTORE_SYSROOT_LOCAL",
    "METAFLOW_HOME",
    "PYTHONDONTWRITEBYTECODE",
)


def server_env(workdir: Path) -> dict[str, str]:
    env = metaflow_env(workdir)
    passed = {key: env[key] for key in PASSED_VARS if key in env}
    # A daemon the server starts must not outlive the test run by long if teardown fails.
    passed["FLOWSPIN_DAEMON_IDLE_S"] = "120"
    return passed


@asynccontextmanager
async def mcp_session(
    workdir: Path, *args: str, cwd: Path | None = None, unset: tuple[str, ...] = ()
) -> AsyncIterator[Client]:
    """A client connected to `python -m flowspin mcp ARGS` started in `cwd` (default `workdir`),
    with the environment a user's config would give it for `workdir`, minus `unset`."""
    env = {k: v for k, v in server_env(workdir).items() if k not in unset}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "flowspin", "mcp", *args],
        env=env,
        cwd=str(cwd or workdir),
    )
    async with Client(params, read_timeout_seconds=240) as client:
        yield client


def payload(result: CallToolResult) -> dict[str, Any]:
    """The JSON a tool returned (the text block agents read; structured content must agree)."""
    assert len(result.content) == 1, result.content
    data = json.loads(result.content[0].text)
    assert result.structured_content == data
    return data


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result
    return result.content[0].text


def stop_daemon(workdir: Path) -> None:
    """Stop the workspace daemon an MCP spin may have started (no-op when none runs)."""
    try:
        from flowspin.daemon import client
    except ImportError:  # no daemon in this build: spins ran in the MCP server
        return
    try:
        list(client.request(workdir, {"type": "stop"}))
    except client.DaemonUnavailable:
        pass
