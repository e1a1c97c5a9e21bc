"""One MCP tool call from the command line: `python -m flowspin.mcp.call TOOL < args.json`.

The VS Code language-model tools use this, so agent mode in the editor gets exactly the
results (and the warm daemon) that MCP clients get, without a second implementation or a
long-lived MCP session inside the extension. Prints one JSON object:
`{"ok": bool, "result": {...}}` (ok is false for a spin or run that failed), or
`{"ok": false, "error": "what. Where: file:line. Next: ..."}`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from flowspin.mcp import engines
from flowspin.mcp.errors import ToolProblem
from flowspin.mcp.workspace import resolve_flow_file

TOOLS = ("check", "spin", "run", "show_artifact")


def call(tool: str, args: dict[str, Any], workspace: Path) -> dict[str, Any]:
    if tool not in TOOLS:
        raise ToolProblem(f"unknown tool {tool!r}", next_step=f"use one of {', '.join(TOOLS)}.")
    path = resolve_flow_file(workspace, str(args.get("file", "")))
    if tool == "check":
        return engines.check(workspace, path)
    if tool == "spin":
        return engines.spin(
            workspace,
            path,
            str(args.get("step", "")),
            run_id=args.get("run_id"),
            split=args.get("split"),
            params=args.get("params"),
            timeout_s=args.get("timeout_s"),
            reset=bool(args.get("reset", False)),
        )
    if tool == "run":
        return engines.run(
            workspace, path, params=args.get("params"), extra_args=args.get("extra_args")
        )
    return engines.show_artifact(
        workspace,
        path,
        str(args.get("step", "")),
        str(args.get("name", "")),
        spin_id=args.get("spin_id"),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m flowspin.mcp.call TOOL < args.json", file=sys.stderr)
        return 2
    try:
        args = json.loads(sys.stdin.read() or "{}")
        result = call(argv[0], args, Path.cwd().resolve())
        # As the MCP server's is_error: a spin or run that failed is not ok.
        failed = argv[0] in ("spin", "run") and result.get("status") != "ok"
        out: dict[str, Any] = {"ok": not failed, "result": result}
    except ToolProblem as exc:
        out = {"ok": False, "error": str(exc)}
    except json.JSONDecodeError as exc:
        out = {"ok": False, "error": f"arguments are not JSON: {exc}"}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
