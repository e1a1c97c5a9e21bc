"""`flowspin.server.diff {uri, step}`: the step's latest spin against its base run's task, for
the editor's "Compare with Base Run" (the same diff as `flowspin diff` and the MCP tool)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from flowspin.lsp import commands
from flowspin.lsp.commands import Command
from flowspin.lsp.documents import flow_file_of

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


async def diff(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    from flowspin.agents.diff import DiffError, diff_step, human_lines

    assert target.step is not None
    step = target.step.name
    if not target.uri.startswith("file:"):
        return {"ok": False, "message": "Save the flow to a file first: spins run the saved file."}
    flow_file = flow_file_of(ls, target.uri)
    try:
        # Values are loaded (under size caps) to compare them: off the event loop.
        result = await asyncio.to_thread(diff_step, flow_file, step)
    except DiffError as exc:
        return {"ok": False, "message": str(exc)}
    changed = sum(1 for a in result["artifacts"].values() if a["change"] != "same")
    return {
        "ok": True,
        "message": f"{step}: {changed} artifact(s) differ from the base run",
        "diff": result,
        "text": "\n".join(human_lines(result)),
    }


COMMANDS = (Command("flowspin.server.diff", diff, needs_step=True),)
