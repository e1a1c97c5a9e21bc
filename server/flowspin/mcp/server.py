"""The flowspin MCP server: tool registration and result shaping.

Each tool is a thin function over an engine call (static analysis, spin, runs) in
`flowspin.mcp.engines`. Results go back twice: as `structured_content` (for clients that read
it) and as one compact JSON text block (what most agents actually read), with `is_error` set
when the step or run failed, so the agent notices without parsing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    CallToolResult,
    ErrorData,
    JSONRPCError,
    TextContent,
    ToolAnnotations,
)
from pydantic import Field, ValidationError

from flowspin import __version__
from flowspin.mcp import engines, run_tools
from flowspin.mcp.errors import ToolProblem, describe
from flowspin.mcp.workspace import resolve_flow_file
from flowspin.store.root import UnsafeWorkspace

log = logging.getLogger("flowspin.mcp")

MAX_PROGRESS_LINES = 500  # progress notifications per tool call

INSTRUCTIONS = """\
flowspin runs single Metaflow @steps like notebook cells ("spins"), warm and in milliseconds.
Workflow: write the flow's skeleton and `check` it; `run` the whole flow once (spins need a base
run); then `spin` the step you are editing after every change until it works (a failing spin
names the file and line); `show_artifact` / `card` to look at results; `run` again when the
steps work. Paths are relative to the workspace root unless absolute."""

FileArg = Annotated[
    str,
    Field(
        description="Flow file (.py defining a FlowSpec), relative to the workspace root or "
        "absolute."
    ),
]
StepArg = Annotated[str, Field(description="Name of the @step method, e.g. 'train'.")]

CHECK_DESCRIPTION = """\
Check a flow file statically (it is parsed, never imported or run) and return every DAG and
lint problem with its rule id, severity and 1-based line/column. Use it after writing or editing
the flow's structure (steps, self.next, decorators, parameters) and before `run` or `spin`: an
error here would make Metaflow refuse to run. `ok` is false when any error-severity
diagnostic exists."""

GRAPH_DESCRIPTION = """\
Return the flow's DAG from a static parse: each step with its line, type (start, linear, split,
foreach, join, switch, end), next steps, decorators, and the flow's parameters. Use it to learn
a flow's structure before editing it, or to find the step names to pass to `spin`."""

SPIN_DESCRIPTION = """\
Run ONE step of a flow now, in a warm worker that already holds its parent steps' artifacts,
and return its status, the artifacts it produced (type, size-capped summary, changed or
inherited), stdout/stderr, the transition taken and, on failure, the exception with the file and
line to fix. Spin the step you are editing after each change. It needs a base run: if the flow
was never run, call `run` first. Chaining: spinning a step after spinning its parent uses the
parent's spun output. Spins never write to Metaflow's datastore, and they share the warm daemon
with the editor (its card view updates too)."""

RUN_DESCRIPTION = """\
Run the whole flow through Metaflow (`python FILE run`) and wait for it to finish; return the
run id, final status, per-step status and, for a failed task, the step, file and line of the
exception. Use it once before spinning (to create the base run spins start from), and again
when the steps work end to end. Slower than `spin` (seconds to minutes): prefer `spin` while
iterating on one step."""

LIST_RUNS_DESCRIPTION = """\
List past Metaflow runs of the flow in this file (newest first): run id, status, start time,
user, parameters. Use it to choose a `run_id` for `spin` or to see whether a base run exists."""

SHOW_ARTIFACT_DESCRIPTION = """\
Show one artifact of a step, size-capped: a DataFrame as shape, dtypes and its first 5 rows; an
array as shape and dtype; anything else as type and a short repr. `preview` adds a table's first
10 rows as columns and rows (DataFrames, arrays, lists of records), or one level of a dict's,
list's or object's children; `path` looks inside (a dict key, list index, attribute or column).
Reads the step's latest spin (or the spin given by `spin_id`); when the step was never spun, the
latest Metaflow run's task. Use it after `spin` or `run` to check values without printing them
in the step."""

DIFF_DESCRIPTION = """\
Compare the latest spin of a step with the same step's task in the spin's base run (default), or
with another spin (`against`: a spin id): per artifact "changed", "added", "removed" or "same",
with a summary of each side and a detail (a number's delta, a DataFrame's schema, row-count and
changed cells, a unified diff of text and JSON-able values; values stored over 1 MB are compared
by type and repr only). Use it after editing and spinning a step to see what the edit changed."""

CARD_DESCRIPTION = """\
Return the latest card of a step (from its latest spin, else the latest run): the HTML file's
path and the card's visible text, cut to a few thousand characters. Use it after spinning a step
decorated with @card to check what the report shows."""


def _result(data: dict[str, Any], *, is_error: bool = False) -> CallToolResult:
    text = json.dumps(data, ensure_ascii=False, default=str)
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data,
        is_error=is_error,
    )


def _guarded(name: str, fn: Callable[[], CallToolResult]) -> CallToolResult:
    """Run `fn`, turning our problems and any crash into a `ToolError`, which the SDK returns
    as an `is_error` result with exactly our text (other exceptions it would hide)."""
    try:
        return fn()
    except ToolError:
        raise
    except ToolProblem as exc:
        raise ToolError(str(describe(name, exc))) from exc
    except Exception as exc:
        if not isinstance(exc, UnsafeWorkspace):
            log.exception("tool %s crashed", name)
        raise ToolError(str(describe(name, exc))) from exc


class ProgressRelay:
    """Forwards a step's output lines to the client as progress notifications, from any thread.

    Engines call back from worker or reader threads; `anyio.from_thread.run` with the event
    loop's token hops onto the loop. A client that asked for no progress gets nothing (the SDK
    makes `report_progress` a no-op), and a failed notification never fails the tool.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._token = anyio.lowlevel.current_token()
        self._count = 0
        self._lock = threading.Lock()

    def __call__(self, stream: str, text: str) -> None:
        for line in text.splitlines():
            if not line.strip():
                continue
            with self._lock:
                self._count += 1
                count = self._count
            if count > MAX_PROGRESS_LINES:
                if count == MAX_PROGRESS_LINES + 1:
                    line = "(more output: the full tail comes with the result)"
                else:
                    continue  # a chatty step must not be slowed down by notifications
            message = f"[{stream}] {line[:500]}"
            try:
                anyio.from_thread.run(
                    self._ctx.report_progress, count, None, message, token=self._token
                )
            except Exception:  # the client went away, or the loop is closing
                log.debug("progress notification dropped", exc_info=True)


async def _in_thread(
    name: str, fn: Callable[[], CallToolResult], on_cancel: Callable[[], None] | None = None
) -> CallToolResult:
    """Run a blocking tool body in a worker thread; a client's cancellation stops its work."""
    try:
        return await anyio.to_thread.run_sync(_guarded, name, fn, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        if on_cancel is not None:
            try:
                on_cancel()
            except Exception:
                log.exception("stopping the cancelled %s failed", name)
        raise


def _unreadable_line(exc: Exception) -> JSONRPCError:
    """The JSON-RPC answer to a line that is not a JSON-RPC message: parse error (-32700) for
    text that is not JSON, invalid request (-32600) for JSON of the wrong shape. The message
    never quotes the line: a client that sent megabytes must not get them back."""
    not_json = isinstance(exc, ValidationError) and any(
        err.get("type") == "json_invalid" for err in exc.errors(include_input=False)
    )
    if not_json:
        error = ErrorData(
            code=PARSE_ERROR, message="Parse error: the line is not valid JSON (one JSON-RPC "
            "message per line, UTF-8)"
        )
    else:
        error = ErrorData(
            code=INVALID_REQUEST, message="Invalid Request: the line is JSON but not a JSON-RPC "
            "2.0 request, notification or response"
        )
    return JSONRPCError(jsonrpc="2.0", id=None, error=error)


class FlowspinMCPServer(MCPServer):
    """The SDK's server, but a malformed line on stdin gets a JSON-RPC error back.

    The SDK's stdio transport drops such a line silently, so a client with a framing bug
    waits forever for an answer. We relay the transport's messages and answer what it could
    not read, by the JSON-RPC spec, with id null.
    """

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Any = None
    ) -> Any:
        """An unknown tool is named back cut short (the SDK would quote the whole name)."""
        known = {tool.name for tool in await self.list_tools()}
        if name not in known:
            shown = name if len(name) <= 80 else name[:80] + "..."
            raise ToolError(
                f"unknown tool {shown!r}. Next: use one of {', '.join(sorted(known))}."
            )
        return await super().call_tool(name, arguments, context)

    async def run_stdio_async(self) -> None:
        from mcp.server.stdio import stdio_server
        from mcp.shared._context_streams import create_context_streams
        from mcp.shared.message import SessionMessage

        async with stdio_server() as (raw_read, write_stream):
            send, read = create_context_streams[SessionMessage | Exception](0)

            async def relay() -> None:
                async with send:
                    async for item in raw_read:
                        if isinstance(item, Exception):
                            log.warning("unreadable message on stdin: %s", type(item).__name__)
                            await write_stream.send(SessionMessage(_unreadable_line(item)))
                        else:
                            await send.send(item)

            async with anyio.create_task_group() as tg:
                tg.start_soon(relay)
                await self._lowlevel_server.run(
                    read, write_stream, self._lowlevel_server.create_initialization_options()
                )
                tg.cancel_scope.cancel()


def build_server(workspace: Path) -> MCPServer:
    """An MCPServer whose tools act on flows under `workspace` (relative paths start there)."""
    workspace = workspace.resolve()
    server = FlowspinMCPServer(
        name="flowspin",
        title="flowspin: spin Metaflow steps",
        instructions=INSTRUCTIONS,
        version=__version__,
    )
    def check(file: FileArg) -> CallToolResult:
        def go() -> CallToolResult:
            path = resolve_flow_file(workspace, file)
            data = engines.check(workspace, path)
            return _result(data)

        return _guarded("check", go)

    def graph(file: FileArg) -> CallToolResult:
        def go() -> CallToolResult:
            path = resolve_flow_file(workspace, file)
            return _result(engines.graph(workspace, path))

        return _guarded("graph", go)

    async def spin(
        ctx: Context,
        file: FileArg,
        step: StepArg,
        run_id: Annotated[
            str | None,
            Field(description="Base run id to take parent artifacts from; default the latest "
                  "run whose parent tasks finished."),
        ] = None,
        split: Annotated[
            int | None,
            Field(description="For a foreach child step: which split (0-based index) to run; "
                  "default the first.", ge=0),
        ] = None,
        params: Annotated[
            dict[str, str] | None,
            Field(description="Parameter overrides, name -> value as you would type it on the "
                  "command line, e.g. {\"alpha\": \"0.5\"}; default the base run's values."),
        ] = None,
        timeout_s: Annotated[
            float | None,
            Field(description="Cancel the step after this many seconds (default: no limit).",
                  gt=0),
        ] = None,
        reset: Annotated[
            bool,
            Field(description="Start from the base run's artifacts, ignoring spins of parent "
                  "steps made since (by default a spun parent's output feeds this spin)."),
        ] = False,
        downstream: Annotated[
            bool,
            Field(description="Spin the step, then every step below it in order, each on the "
                  "output of the one above; stops at the first failure. Returns {status, step, "
                  "results: [one spin result per step]}. Use it after editing a step whose "
                  "output later steps use."),
        ] = False,
    ) -> CallToolResult:
        relay = ProgressRelay(ctx)

        def go() -> CallToolResult:
            path = resolve_flow_file(workspace, file)
            data = engines.spin(
                workspace, path, step, run_id=run_id, split=split, params=params,
                timeout_s=timeout_s, reset=reset, on_log=relay, downstream=downstream,
            )
            return _result(data, is_error=data.get("status") != "ok")

        def stop() -> None:
            from flowspin.mcp import spinclient

            spinclient.cancel(resolve_flow_file(workspace, file))

        return await _in_thread("spin", go, on_cancel=stop)

    async def run(
        ctx: Context,
        file: FileArg,
        params: Annotated[
            dict[str, str] | None,
            Field(description="Flow parameters, name -> value, passed as --name value; only "
                  "Parameters the flow declares."),
        ] = None,
        tags: Annotated[
            list[str] | None,
            Field(description="Tags for the run (Metaflow's --tag), e.g. [\"experiment-3\"]."),
        ] = None,
        max_workers: Annotated[
            int | None,
            Field(description="At most this many tasks at once (Metaflow's --max-workers).",
                  ge=1, le=1024),
        ] = None,
        decorators: Annotated[
            list[str] | None,
            Field(description="Decorators added to every step (Metaflow's --with), one of "
                  + ", ".join(run_tools.WITH_ALLOWED) + ", with attributes as --with takes them, "
                  "e.g. [\"kubernetes:cpu=4,memory=16000\", \"retry:times=2\"]."),
        ] = None,
    ) -> CallToolResult:
        relay = ProgressRelay(ctx)
        cancel = threading.Event()

        def go() -> CallToolResult:
            path = resolve_flow_file(workspace, file)
            data = run_tools.run(
                workspace, path, params=params, tags=tags, max_workers=max_workers,
                with_decorators=decorators, on_line=lambda line: relay("output", line),
                cancel=cancel,
            )
            return _result(data, is_error=data.get("status") != "ok")

        return await _in_thread("run", go, on_cancel=cancel.set)

    def list_runs(
        file: FileArg,
        limit: Annotated[int, Field(description="At most this many runs, newest first.",
                                    ge=1, le=100)] = 10,
    ) -> CallToolResult:
        def go() -> CallToolResult:
            path = resolve_flow_file(workspace, file)
            return _result(run_tools.list_runs(workspace, path, limit=limit))

        return _guarded("list_runs", go)

    def show_artifact(
        file: FileArg,
        step: StepArg,
        name: Annotated[
            str, Field(description="Artifact name (the attribute set as self.<name>).")
        ],
        spin_id: Annotated[
            str | None,
            Field(description="A spin id from a `spin` result; default the step's latest spin."),
        ] = None,
        path: Annotated[
            list[str | int] | None,
            Field(
                description="Keys below the artifact, to look inside it: a dict key, list "
                "index, attribute or DataFrame column, e.g. [\"params\", \"lr\"]."
            ),
        ] = None,
    ) -> CallToolResult:
        def go() -> CallToolResult:
            flow = resolve_flow_file(workspace, file)
            keys = [str(k) for k in path] if path else None
            shown = engines.show_artifact(workspace, flow, step, name, spin_id=spin_id, keys=keys)
            return _result(shown)

        return _guarded("show_artifact", go)

    def diff(
        file: FileArg,
        step: StepArg,
        against: Annotated[
            str,
            Field(description="'run' (the spin's base run, default) or a spin id to compare with."),
        ] = "run",
        spin_id: Annotated[
            str | None,
            Field(description="The spin to compare; default the step's latest spin."),
        ] = None,
    ) -> CallToolResult:
        def go() -> CallToolResult:
            path = resolve_flow_file(workspace, file)
            return _result(engines.diff(workspace, path, step, against=against, spin_id=spin_id))

        return _guarded("diff", go)

    def card(file: FileArg, step: StepArg) -> CallToolResult:
        def go() -> CallToolResult:
            path = resolve_flow_file(workspace, file)
            return _result(engines.card(workspace, path, step))

        return _guarded("card", go)

    @server.prompt(
        name="flowspin-workflow",
        title="Develop this project's flows step by step",
        description="The incremental workflow (skeleton, run once, spin the step being "
        "written, run again) with this workspace's real flow files and step names.",
    )
    def workflow() -> str:
        from flowspin.agents.guide import build_section

        return build_section(workspace)

    # Annotations tell clients what a call may do, so they can ask the user first. Reading
    # tools only read (Metaflow's may reach its metadata service or datastore: open world).
    # `spin` and `run` execute the flow's own code, which may do anything the user can,
    # so neither claims to be harmless; `run` also writes to Metaflow's datastore and may
    # start tasks on remote compute (`with` kubernetes/batch).
    parse_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    reads_metaflow = ToolAnnotations(read_only_hint=True, open_world_hint=True)
    runs_code = ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    )
    server.add_tool(check, name="check", title="Check a flow", description=CHECK_DESCRIPTION,
                    annotations=parse_only)
    server.add_tool(graph, name="graph", title="Flow graph", description=GRAPH_DESCRIPTION,
                    annotations=parse_only)
    server.add_tool(spin, name="spin", title="Spin one step", description=SPIN_DESCRIPTION,
                    annotations=runs_code)
    server.add_tool(run, name="run", title="Run the flow", description=RUN_DESCRIPTION,
                    annotations=runs_code)
    server.add_tool(list_runs, name="list_runs", title="List runs",
                    description=LIST_RUNS_DESCRIPTION, annotations=reads_metaflow)
    server.add_tool(show_artifact, name="show_artifact", title="Show an artifact",
                    description=SHOW_ARTIFACT_DESCRIPTION, annotations=reads_metaflow)
    server.add_tool(diff, name="diff", title="Diff a spin", description=DIFF_DESCRIPTION,
                    annotations=reads_metaflow)
    server.add_tool(card, name="card", title="Step card", description=CARD_DESCRIPTION,
                    annotations=reads_metaflow)
    return server
