"""Spins from the editor: `flowspin.server.spin|cancel|restartWorker`, live output, progress,
per-step results, spin-error diagnostics and parent-state preloading.

A spin runs in a thread (never on the event loop, so diagnostics keep flowing) through the
server's `SpinService` (see `spin_host`). While it runs the client gets `flowspin/log`
`{uri, step, stream, text}` per output chunk, a cancellable `$/progress` "Spinning <step>"
(cancelling it cancels the spin) and `flowspin/status` busy. After it: the step's lens title
("✓ 12 ms", "✗ ZeroDivisionError"), a `flowspin/spinResult` notification, and for a failure a
diagnostic (code `spin-error`) at the failing line, merged with the lint diagnostics until the
next successful spin of that step or until the file is closed.

`flowspin/cursor` `{uri, line}` (sent by the client when the cursor rests) preloads the parent
state of the step there, one preload in flight per flow file, so even the first spin is warm.

Debug Step (`flowspin.server.debugStep`, or `debug_port` in a spin's argument) is a spin whose
child waits for a debugger (`flowspin.spin.debugstep`): as soon as the child's stderr announces
its address the client gets `flowspin/debugListening` `{uri, step, host, port}` and attaches;
the spin then ends like any other (lens, result, diagnostic).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from flowspin import protocol
from flowspin.analysis import Flow, Step
from flowspin.lsp import commands, progress
from flowspin.lsp.commands import Command
from flowspin.lsp.documents import DocSnapshot, flow_file_of, looks_like_flow
from flowspin.lsp.failures import exception_diagnostic
from flowspin.lsp.flowgraph import notify_changed
from flowspin.lsp.spin_host import setting
from flowspin.spin.result import SpinResult

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

LOG = protocol.LOG
SPIN_RESULT = protocol.SPIN_RESULT
DEBUG_LISTENING = protocol.DEBUG_LISTENING
CURSOR = protocol.CURSOR
SPIN_ERROR = "spin-error"


class SpinTracker:
    """What is spinning now, spin-error diagnostics, and preloads in flight."""

    def __init__(self) -> None:
        self.running: dict[Path, int] = {}  # flow file -> spins in flight
        # (flow uri, step) -> (uri the diagnostic shows in, diagnostic)
        self.errors: dict[tuple[str, str], tuple[str, types.Diagnostic]] = {}
        self.preloading: dict[Path, str] = {}  # flow file -> step being preloaded
        self.wanted: dict[Path, str] = {}  # flow file -> step to preload next
        self.preloaded: dict[Path, str] = {}  # flow file -> step last preloaded
        self.cursor: dict[Path, tuple[str, int]] = {}  # flow file -> (uri, line) last rested on
        # (flow uri, step) -> spins of it in flight, and its latest result with its end time
        # (what the flow panel shows, see `flowgraph`).
        self.active_steps: dict[tuple[str, str], int] = {}
        self.results: dict[tuple[str, str], tuple[float, SpinResult]] = {}
        self.lock = threading.Lock()

    def diagnostics_for(self, uri: str) -> list[types.Diagnostic]:
        return [diag for shown, diag in self.errors.values() if shown == uri]

    def rewarm(self, ls: FlowspinServer, flow_file: Path) -> None:
        """The base run changed (a run ended, one was pinned): preload the step under the
        cursor again, against the new base. On the event loop."""
        with self.lock:
            self.preloaded.pop(flow_file, None)
            where = self.cursor.get(flow_file)
        if where is not None:
            try:
                on_cursor(ls, *where)
            except Exception:
                log.exception("preloading %s again failed", flow_file.name)

    def forget(self, uri: str) -> list[str]:
        """Drop spin errors of a closed document; the uris whose diagnostics changed."""
        keys = [k for k, (shown, _) in self.errors.items() if uri in (k[0], shown)]
        touched = {self.errors.pop(k)[0] for k in keys}
        return sorted(touched - {uri})


def _base(ls: FlowspinServer, flow_file: Path) -> dict[str, Any]:
    """The base run pinned with Select Base Run, else none (the newest run decides)."""
    pinned = ls.runs.pinned_run(flow_file)
    return {"run": pinned} if pinned else {}


def _options(ls: FlowspinServer, argument: dict[str, Any], flow_file: Path) -> dict[str, Any]:
    # The settings of the flow's workspace folder (`argument["uri"]` is the flow's).
    timeout = setting(ls.state.settings_for(argument.get("uri")), "spin.timeout")
    options: dict[str, Any] = {}
    debugging = argument.get("debug_port") is not None
    # A step paused at a breakpoint is not hung: the spin.timeout setting is not applied to a
    # debug spin (an explicit `timeout` in the argument still is, attach included).
    if isinstance(timeout, (int, float)) and timeout > 0 and not debugging:
        options["timeout"] = float(timeout)
    for key in ("run", "task", "split", "timeout", "debug_port", "debug_timeout"):
        if argument.get(key) is not None:
            options[key] = argument[key]
    if "run" not in options and "task" not in options:
        options.update(_base(ls, flow_file))
    if argument.get("reset"):
        options["reset"] = True
    return options


def _with_code_base(ls: FlowspinServer, uri: str, flow: str, options: dict[str, Any]) -> None:
    """What the base run ran (see `staleness`), so the result's `code` and stale-parent
    notices are right for a step above that was edited and not spun since."""
    base = ls.stale.code_base(uri, flow)
    if base:
        options["code_base"] = base


def state_source(result: SpinResult) -> str:
    base = result.base or {}
    chained = base.get("chained_from") or []
    if chained:
        return "chained from spin " + ", ".join(chained)
    return f"base run {base.get('run_id')}" if base.get("run_id") else "no base run"


def lens_status(result: SpinResult) -> str:
    if result.status == "ok":
        return f"✓ {result.duration_ms:.0f} ms"
    if result.status == "cancelled":
        return "■ cancelled"
    return f"✗ {(result.error or {}).get('type') or result.status}"


def message(result: SpinResult, step: str, flow: str = "") -> str:
    source = state_source(result)
    what = f"'{step}'" + (f" in {flow}" if flow else "")
    if result.status == "ok":
        changed = [n for n, a in result.artifacts.items() if a.get("changed")]
        return (
            f"✓ Spun {what} in {result.duration_ms:.0f} ms ({source}); "
            f"changed: {', '.join(changed) or 'nothing'}."
        )
    err = result.error or {}
    if result.status == "cancelled":
        return f"Spin of {what} cancelled after {result.duration_ms:.0f} ms ({source})."
    where = ""
    if err.get("file") and err.get("line"):
        where = f" at {Path(err['file']).name}:{err['line']}"
    return f"✗ Spin of {what} failed: {err.get('type')}: {err.get('message')}{where} ({source})."


def error_diagnostic(
    ls: FlowspinServer, uri: str, flow_file: Path, step_line: int, result: SpinResult
) -> tuple[str, types.Diagnostic]:
    """Where a failed spin's exception shows (see `failures`)."""
    return exception_diagnostic(
        ls,
        uri,
        flow_file,
        lambda: step_line,
        result.error or {},
        context=f"(spin of '{result.step}')",
        code=SPIN_ERROR,
        data={"step": result.step, "flow_uri": uri},
    )


async def spin(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    assert target.step is not None and target.flow is not None
    tracker: SpinTracker = ls.spins
    uri, step = target.uri, target.step.name
    if not uri.startswith("file:"):
        return {
            "ok": False,
            "message": "Save the flow to a file first: a spin runs the saved file.",
        }
    flow_file = flow_file_of(ls, uri)
    host = ls.spin_host
    host.sync(ls.state.settings_for(uri))
    service = host.service()
    host.serve(flow_file)
    loop = asyncio.get_running_loop()
    options = _options(ls, target.argument, flow_file)
    if isinstance(target.argument.get("params"), dict):  # launch.json's `params`
        options["params"] = target.argument["params"]
    debug_seen = DebugAnnouncement(uri, step) if "debug_port" in options else None

    box: dict[str, str | None] = {"token": None}

    def on_log(stream: str, text: str) -> None:
        params = {"uri": uri, "step": step, "stream": stream, "text": text}
        loop.call_soon_threadsafe(ls.protocol.notify, LOG, params)
        if stream == "stderr" and "flowspin: download" in text:
            # A big parent download (a run in S3): the progress bar says how far it is.
            line = [t for t in text.splitlines() if "flowspin: download" in t][-1]
            message = line.split("flowspin: ", 1)[1]
            loop.call_soon_threadsafe(lambda: progress.report(ls, box["token"], message))
        if debug_seen is not None and stream == "stderr":
            found = debug_seen.feed(text)
            if found is not None:
                loop.call_soon_threadsafe(ls.protocol.notify, DEBUG_LISTENING, found)

    with tracker.lock:
        tracker.running[flow_file] = tracker.running.get(flow_file, 0) + 1
        tracker.active_steps[(uri, step)] = tracker.active_steps.get((uri, step), 0) + 1
    notify_changed(ls, uri)
    _with_code_base(ls, uri, target.flow.name, options)
    verb = "Debugging" if debug_seen is not None else "Spinning"
    token = None
    try:
        # The spin starts at once; the progress bar is set up with the client meanwhile.
        running = asyncio.ensure_future(
            asyncio.to_thread(service.spin, flow_file, step, options, on_log)
        )
        ls.send_status("busy", f"{verb} {step}")
        token = await progress.begin(
            ls,
            "spin",
            f"{verb} {step}",
            f"{target.flow.name}.{step}",
            lambda: service.cancel(flow_file),
        )
        box["token"] = token
        result = await running
    finally:
        with tracker.lock:
            tracker.running[flow_file] -= 1
            busy = sum(tracker.running.values())
            tracker.active_steps[(uri, step)] -= 1
            if not tracker.active_steps[(uri, step)]:
                del tracker.active_steps[(uri, step)]
        progress.end(ls, token)
        if not busy:
            ls.send_status("ready", f"spin of {step} finished")
    summary = _record(ls, uri, flow_file, target.flow, target.step, result)
    data = result.to_dict()
    return {"ok": result.status == "ok", "message": summary, "result": data}


class DebugAnnouncement:
    """Finds the child's `flowspin-debug: listening on HOST:PORT` line in a spin's stderr
    stream (chunks may split a line) and yields the notification's params, once."""

    def __init__(self, uri: str, step: str) -> None:
        self.uri, self.step = uri, step
        self.pending = ""
        self.done = False

    def feed(self, text: str) -> dict[str, Any] | None:
        if self.done:
            return None
        from flowspin.spin.debugstep import parse_debug_line

        whole, _, self.pending = (self.pending + text).rpartition("\n")
        found = parse_debug_line(whole)
        if found is None:
            self.pending = self.pending[-4096:]  # a line, not a step's whole stderr
            return None
        self.done, self.pending = True, ""
        host, port = found
        return {"uri": self.uri, "step": self.step, "host": host, "port": port}


async def debug_step(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    """`flowspin.server.debugStep {uri, step, debug_timeout?}`: a spin whose step runs under
    debugpy on a free port; `flowspin/debugListening` tells the client where to attach."""
    argument = dict(target.argument)
    if argument.get("debug_port") is None:
        argument["debug_port"] = 0
    target.argument = argument
    return await spin(ls, target)


def _record(
    ls: FlowspinServer, uri: str, flow_file: Path, flow: Flow, step_node: Step, result: SpinResult
) -> str:
    """A spin ended: its lens status, its error as a diagnostic (or the fixed errors cleared),
    the `flowspin/spinResult` and `flowspin/flowGraphChanged` notifications; its summary line.
    On the event loop."""
    tracker: SpinTracker = ls.spins
    step = step_node.name
    with tracker.lock:
        tracker.preloaded[flow_file] = step
        tracker.results[(uri, step)] = (ls.clock(), result)
    ls.stale.spin_ended(uri, step, result)

    ls.set_step_status(uri, step, lens_status(result))
    key = (uri, step)
    touched: set[str] = set()
    if result.status == "ok":
        if key in tracker.errors:
            touched.add(tracker.errors.pop(key)[0])
        touched |= ls.runs.drop_errors(uri, step)  # the failed run task works now
    elif result.status == "error":
        if key in tracker.errors:
            touched.add(tracker.errors[key][0])
        shown, diag = error_diagnostic(ls, uri, flow_file, step_node.span.line - 1, result)
        tracker.errors[key] = (shown, diag)
        touched.add(shown)
    ls.diagnostics.republish(touched)

    summary = message(result, step, flow.name)
    note: dict[str, Any] = {
        "uri": uri,
        "flow": result.flow or flow.name,
        "step": step,
        "status": result.status,
        "duration_ms": result.duration_ms,
        "spin_id": result.spin_id,
        "summary": summary,
        "state_source": state_source(result),
    }
    if result.error:
        note["error"] = result.error
    ls.protocol.notify(SPIN_RESULT, note)
    notify_changed(ls, uri)
    return summary


async def spin_downstream(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    """`flowspin.server.spinDownstream {uri, step}`: the step and every step below it, each
    chained on the one above (`flowspin.spin.downstream.spin_downstream`), one cancellable
    `$/progress` for the chain; each spin ends like a single one (lens, diagnostic,
    notifications). Stops at the first failure, whose diagnostic stays."""
    from flowspin.spin.downstream import spin_downstream as chain

    assert target.step is not None and target.flow is not None
    tracker: SpinTracker = ls.spins
    uri, first, flow = target.uri, target.step.name, target.flow
    if not uri.startswith("file:"):
        return {
            "ok": False,
            "message": "Save the flow to a file first: a spin runs the saved file.",
        }
    flow_file = flow_file_of(ls, uri)
    host = ls.spin_host
    host.sync(ls.state.settings_for(uri))
    service = host.service()
    host.serve(flow_file)
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    options = _options(ls, target.argument, flow_file)
    for key in ("debug_port", "debug_timeout"):  # a debugger attaches to one step, not a chain
        options.pop(key, None)
    _with_code_base(ls, uri, flow.name, options)
    box: dict[str, str | None] = {"token": None}

    def started(step: str) -> None:  # on the loop
        with tracker.lock:
            tracker.active_steps[(uri, step)] = tracker.active_steps.get((uri, step), 0) + 1
        progress.report(ls, box["token"], f"{flow.name}.{step}")
        notify_changed(ls, uri)

    def ended(step: str, result: SpinResult) -> None:  # on the loop
        with tracker.lock:
            tracker.active_steps[(uri, step)] -= 1
            if not tracker.active_steps[(uri, step)]:
                del tracker.active_steps[(uri, step)]
        node = flow.steps.get(step)
        if node is not None:
            _record(ls, uri, flow_file, flow, node, result)

    def spin_one(step: str, opts: dict[str, Any]) -> SpinResult:  # on the chain's thread
        def on_log(stream: str, text: str) -> None:
            params = {"uri": uri, "step": step, "stream": stream, "text": text}
            loop.call_soon_threadsafe(ls.protocol.notify, LOG, params)

        asyncio.run_coroutine_threadsafe(_call(started, step), loop).result()
        result = service.spin(flow_file, step, opts, on_log)
        asyncio.run_coroutine_threadsafe(_call(ended, step, result), loop).result()
        return result

    def cancel_chain() -> None:
        stop.set()
        service.cancel(flow_file)

    with tracker.lock:
        tracker.running[flow_file] = tracker.running.get(flow_file, 0) + 1
    try:
        running = asyncio.ensure_future(
            asyncio.to_thread(
                chain, spin_one, str(flow_file), first, options, cancelled=stop.is_set
            )
        )
        ls.send_status("busy", f"Spinning downstream from {first}")
        box["token"] = await progress.begin(
            ls, "spin", f"Spinning downstream from {first}", f"{flow.name}.{first}", cancel_chain
        )
        try:
            results = await running
        except ValueError as exc:  # the saved file does not parse, has no such step
            return {"ok": False, "message": f"Spin Downstream from '{first}': {exc}"}
    finally:
        with tracker.lock:
            tracker.running[flow_file] -= 1
            busy = sum(tracker.running.values())
        progress.end(ls, box["token"])
        if not busy:
            ls.send_status("ready", f"spin downstream from {first} finished")
    steps = [r.step for r in results]
    last = results[-1] if results else None
    if last is not None and last.status == "ok" and not stop.is_set():
        text = f"✓ Spun {len(results)} steps from '{first}' down: {', '.join(steps)}."
    elif last is None or last.status == "ok":
        text = f"Spin Downstream from '{first}' cancelled after {', '.join(steps) or 'no step'}."
    else:
        text = f"Spin Downstream stopped at '{last.step}': {message(last, last.step, flow.name)}"
    return {
        "ok": last is not None and last.status == "ok" and not stop.is_set(),
        "message": text,
        "results": [r.to_dict() for r in results],
    }


async def _call(fn: Callable[..., None], *args: Any) -> None:
    fn(*args)


def cancel(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    """Cancel what runs for this flow file: its spin, its Metaflow run, or both."""
    tracker: SpinTracker = ls.spins
    flow_file = flow_file_of(ls, target.uri)
    with tracker.lock:
        running = tracker.running.get(flow_file, 0)
    said = []
    if running:
        ls.spin_host.service().cancel(flow_file)
        said.append(f"Cancelling the spin of {target.describe()}.")
    run = ls.runs.cancel(flow_file)
    if run:
        said.append(run)
    if not said:
        return {"ok": True, "message": "Nothing to cancel: no spin or run is in progress."}
    return {"ok": True, "message": " ".join(said)}


async def restart_worker(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    flow_file = flow_file_of(ls, target.uri)
    ls.spin_host.sync(ls.state.settings_for(target.uri))
    service = ls.spin_host.service()
    await asyncio.to_thread(service.restart_worker, flow_file)
    with ls.spins.lock:
        ls.spins.preloaded.pop(flow_file, None)
    return {
        "ok": True,
        "message": f"Restarted the spin worker of {flow_file.name}; the next spin reloads its "
        "parent state.",
    }


def on_cursor(ls: FlowspinServer, uri: str, line: int) -> None:
    """Preload the parent state of the step at `line` in the background (deduplicated).

    The step is looked up on the file's worker thread (`work.py`), like every request: the
    cursor rests while the user types, when the text is new and its parse (seconds on a
    10,000-step flow) would otherwise run on the event loop."""
    doc = ls.workspace.get_text_document(uri)
    if not looks_like_flow(doc.source) or not doc.path:
        return
    path = doc.path

    def locate(snap: DocSnapshot, check: Callable[[], None]) -> str | None:
        view = ls.state.models.view(snap, check=check)
        located = view.index.step_at(line + 1) if view else None
        return located[1].name if located else None

    async def locate_then_preload() -> None:
        try:
            step = await ls.work.request(uri, locate, drop_stale=False)
        except Exception:
            log.exception("preload at %s:%s failed", uri, line)
            return
        if step is not None:
            _preload(ls, uri, line, path, step)

    asyncio.get_running_loop().create_task(locate_then_preload())


def _preload(ls: FlowspinServer, uri: str, line: int, path: str, step: str) -> None:
    flow_file = Path(path).resolve()
    tracker: SpinTracker = ls.spins
    with tracker.lock:
        tracker.cursor[flow_file] = (uri, line)
        if tracker.running.get(flow_file) or tracker.preloaded.get(flow_file) == step:
            return
        if flow_file in tracker.preloading:
            if tracker.preloading[flow_file] != step:
                tracker.wanted[flow_file] = step
            return
        tracker.preloading[flow_file] = step
    ls.spin_host.sync(ls.state.settings_for(uri))
    ls.spin_host.serve(flow_file)
    threading.Thread(
        target=_preload_loop, args=(ls, flow_file, step), name="flowspin-preload", daemon=True
    ).start()


def _preload_loop(ls: FlowspinServer, flow_file: Path, step: str) -> None:
    tracker: SpinTracker = ls.spins
    service = ls.spin_host.service()
    while True:
        try:
            answer = service.preload_state(flow_file, step, _base(ls, flow_file))
        except Exception as exc:
            answer = {"ok": False, "error": str(exc)}
        ok = bool(answer.get("ok"))
        if ok:
            log.info("preloaded '%s' of %s (base run %s)", step, flow_file.name,
                     answer.get("run_id"))
        else:
            log.info("preloading '%s' of %s failed: %s", step, flow_file.name,
                     answer.get("error"))
        with tracker.lock:
            if ok:
                tracker.preloaded[flow_file] = step
            following = tracker.wanted.pop(flow_file, None)
            if following is None or following == step:
                tracker.preloading.pop(flow_file, None)
                return
            tracker.preloading[flow_file] = step = following


def _field(params: Any, name: str) -> Any:
    return params.get(name) if isinstance(params, dict) else getattr(params, name, None)


COMMANDS = (
    Command("flowspin.server.spin", spin, needs_step=True),
    Command("flowspin.server.debugStep", debug_step, needs_step=True),
    Command("flowspin.server.cancel", cancel),
    Command("flowspin.server.spinDownstream", spin_downstream, needs_step=True),
    Command("flowspin.server.restartWorker", restart_worker),
)


def register(server: FlowspinServer) -> None:

    @server.feature(CURSOR)
    def cursor(ls: FlowspinServer, params: Any) -> None:
        uri, line = _field(params, "uri"), _field(params, "line")
        if isinstance(uri, str) and isinstance(line, int):
            try:
                on_cursor(ls, uri, line)
            except Exception:
                log.exception("preload at %s:%s failed", uri, line)
