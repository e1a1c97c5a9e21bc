"""Resolving the `file` argument of a tool call against the workspace the server serves.

An agent's tool call is only as trusted as the text the agent read last (a README, an issue, a
web page can all carry instructions), so every tool is confined to the workspace it was started
in: `file` must resolve, symlinks followed, to a file inside it, and names that become paths in
the store (steps, spin ids) must be plain names.
"""

from __future__ import annotations

import re
from pathlib import Path

from flowspin.mcp.errors import ToolProblem

MAX_ARG_CHARS = 4096  # longer arguments are refused without being echoed back
SPIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def resolve_flow_file(workspace: Path, file: str) -> Path:
    """The absolute path of an existing `.py` file inside the workspace; relative paths are
    from the workspace root, and symlinks are followed before the check (a link pointing out
    of the workspace is outside it)."""
    if not file or not file.strip():
        raise ToolProblem(
            "no flow file given",
            next_step="pass `file`, the flow's path relative to the workspace root "
            f"({workspace}) or absolute.",
        )
    if len(file) > MAX_ARG_CHARS or "\0" in file:
        raise ToolProblem(
            f"`file` is not a usable path ({len(file)} characters)",
            next_step="pass the flow's path relative to the workspace root.",
        )
    workspace = workspace.resolve()
    if workspace == Path(workspace.anchor):
        raise ToolProblem(
            f"the flowspin server's workspace is the filesystem root {workspace}, so it would "
            "confine nothing",
            next_step="start it in the project folder (or with --workspace DIR; the editor's "
            "tools need a folder open in VS Code).",
        )
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = workspace / path
    path = path.resolve()
    if not path.is_relative_to(workspace):
        raise ToolProblem(
            f"{file} is outside the workspace {workspace}"
            + (f" (it resolves to {path})" if str(path) != file else ""),
            next_step="flowspin's tools only act on flow files inside the workspace they were "
            "started in; pass a flow file under it (start the server in another folder, or "
            "with --workspace, to work elsewhere).",
        )
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


def check_step_name(step: str) -> str:
    """A step name is a Python identifier: it becomes a folder name in the spin store."""
    if not step or len(step) > 200 or not step.isidentifier():
        shown = step if len(step) <= 80 else step[:80] + "..."
        raise ToolProblem(
            f"{shown!r} is not a step name",
            next_step="pass the name of a @step method, e.g. 'train' (`graph` lists them).",
        )
    return step


def check_artifact_name(name: str) -> str:
    """An artifact is an attribute of the flow (`self.<name>`): a Python identifier."""
    if not name or len(name) > 200 or not name.isidentifier():
        shown = name if len(name) <= 80 else name[:80] + "..."
        raise ToolProblem(
            f"{shown!r} is not an artifact name",
            next_step="pass the attribute name the step sets, e.g. 'model' for self.model.",
        )
    return name


def check_spin_id(spin_id: str | None) -> str | None:
    """A spin id as a `spin` result gives it (it names a file in the spin store)."""
    if spin_id is not None and not SPIN_ID.fullmatch(spin_id):
        shown = spin_id if len(spin_id) <= 80 else spin_id[:80] + "..."
        raise ToolProblem(
            f"{shown!r} is not a spin id",
            next_step="pass a spin_id from a `spin` result, or leave it out for the latest spin.",
        )
    return spin_id
