"""Adapters from MCP tool calls to flowspin's engines (analysis, spin, runs, store, cards).

Each function returns a JSON-ready dict or raises `ToolProblem`. An engine missing from this
build raises `NotAvailable`, never a made-up result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowspin.mcp.errors import NotAvailable


def check(workspace: Path, path: Path) -> dict[str, Any]:
    raise NotAvailable("static checking")


def graph(workspace: Path, path: Path) -> dict[str, Any]:
    raise NotAvailable("the flow graph")


def spin(
    workspace: Path,
    path: Path,
    step: str,
    *,
    run_id: str | None = None,
    split: int | None = None,
    params: dict[str, str] | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    raise NotAvailable("spin")


def run(
    workspace: Path,
    path: Path,
    *,
    params: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> dict[str, Any]:
    raise NotAvailable("running flows")


def list_runs(workspace: Path, path: Path, *, limit: int = 10) -> dict[str, Any]:
    raise NotAvailable("listing runs")


def show_artifact(
    workspace: Path, path: Path, step: str, name: str, *, spin_id: str | None = None
) -> dict[str, Any]:
    raise NotAvailable("showing artifacts")


def card(workspace: Path, path: Path, step: str) -> dict[str, Any]:
    raise NotAvailable("cards")
