"""Resolving the `file` argument of a tool call against the workspace the server serves."""

from __future__ import annotations

from pathlib import Path

from flowspin.mcp.errors import ToolProblem


def resolve_flow_file(workspace: Path, file: str) -> Path:
    """The absolute path of an existing `.py` file; relative paths are from the workspace root."""
    if not file or not file.strip():
        raise ToolProblem(
            "no flow file given",
            next_step="pass `file`, the flow's path relative to the workspace root "
            f"({workspace}) or absolute.",
        )
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = workspace / path
    path = path.resolve()
    if path.is_dir():
        raise ToolProblem(
            f"{path} is a folder, not a flow file",
            next_step="pass the `.py` file that defines the FlowSpec class.",
        )
    if not path.is_file():
        raise ToolProblem(
            f"flow file {path} does not exist",
            next_step=f"check the path; relative paths are resolved from the workspace root "
            f"{workspace}.",
        )
    if path.suffix != ".py":
        raise ToolProblem(
            f"{path} is not a Python file",
            next_step="pass the `.py` file that defines the FlowSpec class.",
        )
    return path


def display_path(workspace: Path, path: Path) -> str:
    """`path` relative to the workspace when inside it (shorter for the agent to read)."""
    try:
        return path.relative_to(workspace).as_posix()
    except ValueError:
        return str(path)
