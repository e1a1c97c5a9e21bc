"""One MCP tool call from the command line: `python -m flowspin.mcp.call TOOL < args.json`.

The VS Code language-model tools use this, so agent mode in the editor gets exactly the
results (and the warm daemon) that MCP clients get, without a second implementation or a
long-lived MCP session inside the extension. Prints one JSON object:
`{"ok": bool, "result": {...}}` (ok is false for a spin or run that failed), or
`{"ok": false, "error": "what. Where: file:line. Next: ..."}`.

The extension sends SIGINT when the agent's call is cancelled (the user stops the agent). The
bridge then stops the work as the MCP server does, a spin in its worker and a run as from
Ctrl-C, and still prints the (cancelled) result: dying on the signal would leave the Metaflow
run going, orphaned, and the spin holding the editor's worker.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from flowspin.mcp import engines, run_tools
from flowspin.mcp.errors import ToolProblem, describe
from flowspin.mcp.workspace import resolve_flow_file

TOOLS = ("check", "spin", "run", "show_artifact")
RUN_ARGS = {"file", "params", "tags", "max_workers", "decorators"}


def _str_list(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolProblem(f"`{name}` must be a list of strings", next_step=f"fix `{name}`.")
    return value


def _str_dict(value: Any, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ToolProblem(
            f"`{name}` must map names to string values", next_step=f"fix `{name}`."
        )
    return value


def call(
    tool: str, args: dict[str, Any], workspace: Path, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """One tool's result; `cancel`, once set, stops a run (spins are stopped in their worker)."""
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
        unknown = sorted(set(args) - RUN_ARGS)
        if unknown:  # as the MCP schema, where `extra_args` no longer exists
            raise ToolProblem(
                f"`run` takes no argument {', '.join(unknown)[:200]}",
                next_step=f"use only {', '.join(sorted(RUN_ARGS))}.",
            )
        max_workers = args.get("max_workers")
        if max_workers is not None and (
            not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1
        ):
            raise ToolProblem(
                "max_workers must be a whole number of at least 1",
                next_step="pass e.g. 4, or leave it out for Metaflow's default.",
            )
        return run_tools.run(
            workspace,
            path,
            params=_str_dict(args.get("params"), "params"),
            tags=_str_list(args.get("tags"), "tags"),
            max_workers=max_workers,
            with_decorators=_str_list(args.get("decorators"), "decorators"),
            cancel=cancel,
        )
    return engines.show_artifact(
        workspace,
        path,
        str(args.get("step", "")),
        str(args.get("name", "")),
        spin_id=args.get("spin_id"),
        keys=args.get("path"),
    )


def _stop_on_sigint(tool: str, args: dict[str, Any], workspace: Path) -> threading.Event:
    """An event set by the first SIGINT, which also cancels a spin in its worker (a second
    SIGINT interrupts the bridge itself)."""
    cancel = threading.Event()

    def stop_spin() -> None:
        from flowspin.mcp import spinclient

        try:
            spinclient.cancel(resolve_flow_file(workspace, str(args.get("file", ""))))
        except ToolProblem:
            pass

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if tool == "spin":
            threading.Thread(target=stop_spin, daemon=True).start()

    signal.signal(signal.SIGINT, on_sigint)
    return cancel


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m flowspin.mcp.call TOOL < args.json", file=sys.stderr)
        return 2
    try:
        args = json.loads(sys.stdin.read() or "{}")
        if not isinstance(args, dict):
            raise ToolProblem(
                "the arguments are not a JSON object", next_step="send {\"file\": ...}."
            )
        workspace = Path.cwd().resolve()
        cancel = _stop_on_sigint(argv[0], args, workspace)
        result = call(argv[0], args, workspace, cancel)
        # As the MCP server's is_error: a spin or run that failed is not ok.
        failed = argv[0] in ("spin", "run") and result.get("status") != "ok"
        out: dict[str, Any] = {"ok": not failed, "result": result}
    except json.JSONDecodeError as exc:  # the message quotes no input, only a position
        out = {"ok": False, "error": f"arguments are not JSON: {exc}"}
    except Exception as exc:  # ours with what to do next, anything else said plainly
        out = {"ok": False, "error": str(describe(argv[0], exc))}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
