"""Errors an agent can act on: what happened, where (file:line), what to try next.

Every anticipated failure of a tool is raised as `ToolProblem`; the MCP server hands it to the
SDK as a `ToolError` (an `is_error` result carrying our text) and wraps unexpected exceptions the
same way, since anything else would reach the agent as a bare "Error executing tool".

`ToolProblem` is a plain exception, not the SDK's `ToolError`: the VS Code language-model tools
answer through `flowspin.mcp.call`, which must work in an editor interpreter without the `mcp`
extra, and without paying the SDK's half-second import on every tool call.
"""

from __future__ import annotations


class ToolProblem(Exception):
    def __init__(
        self,
        what: str,
        *,
        where: str | None = None,
        next_step: str | None = None,
    ) -> None:
        self.what = what
        self.where = where
        self.next_step = next_step
        parts = [what.rstrip(".") + "."]
        if where:
            parts.append(f"Where: {where}.")
        if next_step:
            parts.append(f"Next: {next_step}")
        super().__init__(" ".join(parts))


class NotAvailable(ToolProblem):
    """An engine this tool needs is not part of this build (never a fake result)."""

    def __init__(self, feature: str, detail: str | None = None) -> None:
        what = f"{feature} is not available in this build of flowspin"
        if detail:
            what += f" ({detail})"
        super().__init__(
            what,
            next_step="use the `check` and `graph` tools, or the Metaflow CLI "
            "(`python FILE run`), until it is; upgrade flowspin to get it.",
        )


MAX_MESSAGE_CHARS = 4000


def describe(tool: str, exc: BaseException) -> ToolProblem:
    """A `ToolProblem` for any exception a tool raised: ours as they are; a workspace flowspin
    refuses to trust (another user's `.flowspin`) with its own advice; anything else as an
    unexpected failure. Never an empty message, never a huge one (an exception may quote a
    giant argument back)."""
    from flowspin.store.root import UnsafeWorkspace

    if isinstance(exc, ToolProblem):
        problem = exc
    elif isinstance(exc, UnsafeWorkspace):
        problem = ToolProblem(
            str(exc) or "the workspace's .flowspin folder is not safe to use",
            next_step="ask the user to fix the folder's ownership or permissions; flowspin "
            "will not use it until then.",
        )
    else:
        detail = str(exc).strip() or "(no message)"
        problem = ToolProblem(
            f"flowspin's `{tool}` tool failed unexpectedly: {type(exc).__name__}: {detail}",
            next_step="retry once; if it fails again, use the flowspin CLI (`flowspin --help`) "
            "and report the error.",
        )
    text = str(problem)
    if len(text) > MAX_MESSAGE_CHARS:
        cut = ToolProblem(text[:MAX_MESSAGE_CHARS] + " ... (cut)")
        cut.what, cut.where, cut.next_step = problem.what, problem.where, problem.next_step
        return cut
    return problem
