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
