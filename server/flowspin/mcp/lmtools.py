"""The VS Code language-model tools (`contributes.languageModelTools`) derived from the MCP tools.

Agent mode in VS Code gets spin, check, run and show-artifact as language-model tools. Their
input schemas and model descriptions are generated from the MCP server's own definitions, so the
two front ends cannot drift apart: `python -m flowspin.mcp.lmtools` prints the JSON array for
the extension's package.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# MCP tool name -> (VS Code tool name, display name, icon, what the user reads in the picker).
# `run` starts a real Metaflow run, so the extension asks for confirmation before it (see
# CONFIRM); the others only read or spin (spins never write to Metaflow's datastore).
LM_TOOLS: dict[str, tuple[str, str, str, str]] = {
    "spin": ("flowspin_spin", "Spin Metaflow step", "$(play)",
             "Run one step of a Metaflow flow now, warm, and see its artifacts and errors."),
    "check": ("flowspin_check", "Check Metaflow flow", "$(checklist)",
              "Check a flow's DAG statically and list every problem with its line."),
    "run": ("flowspin_run", "Run Metaflow flow", "$(run-all)",
            "Run the whole flow through Metaflow and report each step's status."),
    "show_artifact": ("flowspin_showArtifact", "Show Metaflow artifact", "$(symbol-variable)",
                      "Show one artifact of a step (DataFrames as shape, dtypes and head)."),
}
CONFIRM = {"flowspin_run"}


def _strip_titles(schema: Any) -> Any:
    """Pydantic's `title` keys add tokens and nothing a model needs."""
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def language_model_tools() -> list[dict[str, Any]]:
    import anyio

    from flowspin.mcp.server import build_server

    tools = anyio.run(build_server(Path.cwd()).list_tools)
    by_name = {tool.name: tool for tool in tools}
    out = []
    for mcp_name, (name, display, icon, user_description) in LM_TOOLS.items():
        tool = by_name[mcp_name]
        out.append(
            {
                "name": name,
                "displayName": display,
                "toolReferenceName": mcp_name.replace("_", "-"),
                "canBeReferencedInPrompt": True,
                "icon": icon,
                "tags": ["metaflow", "flowspin"],
                "userDescription": user_description,
                "modelDescription": " ".join((tool.description or "").split()),
                "inputSchema": _strip_titles(tool.input_schema),
            }
        )
    return out


def main() -> int:
    json.dump(language_model_tools(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
