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
    return {key: env[key] for key in PASSED_VARS if key in env}


@asynccontextmanager
async def mcp_session(workdir: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "flowspin", "mcp"],
        env=server_env(workdir),
        cwd=str(workdir),
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
