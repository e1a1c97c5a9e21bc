"""Runs from the editor: `flowspin.server.run|resume|selectBaseRun|cancelRun`,
`flowspin/flowInfo` and `flowspin/listRuns` for the client's prompts, live progress, per-step
lens status, and a failed task's exception as a diagnostic at its line.

`flowspin/listRuns` gives each run's status as `flowspin runs` does (ok, running, failed,
cancelled, orphaned, unfinished), so a run whose launcher is gone (a killed terminal, an
earlier editor session) still shows as running, and `cancelRun {uri, run_id}` stops it: the
editor's own run through its handle, any other run flowspin started through its launch record
(`flowspin.runs.launches.cancel_launch`), as `flowspin run --cancel` does.

The run itself is Metaflow's (`flowspin.runs.RunManager`); this module only translates its
events for the client:

- `flowspin/runLog` `{uri, flow, text}`: one line per Metaflow output line (prefixed
  `[step/task]`) and per task event, then the per-step table;
- `flowspin/runStatus` `{uri, flow, run_id, state, text}` for the status bar (`state`:
  `running`, `ok`, `failed`, `cancelled`);
- a cancellable `$/progress` "Running <Flow>" (cancelling it cancels the run);
- the code lens "✓ run 1795…: done in 0.4 s" under each step's Spin lens;
- diagnostics with code `run-error` (data: `{step, flow_uri, run_id}`) at a failed task's line,
  until the flow runs again, the step spins cleanly, or the file is closed.

After a run ends, the flow's spin worker re-chooses its base run (the new run, unless one is
pinned with Select Base Run) and the parent state of the step under the cursor is preloaded.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from flowspin import protocol
from flowspin.lsp import commands, progress
from flowspin.lsp.commands import Command
from flowspin.lsp.documents import flow_file_of
from flowspin.lsp.failures import exception_diagnostic
from flowspin.lsp.flowgraph import notify_changed
from flowspin.lsp.spin_host import setting, worker_env
from flowspin.runs import FlowFileError, RunHandle, RunManager, StepProgress
from flowspin.runs.flowinfo import parameter_prompts
from flowspin.runs.report import (
    event_line,
    lens_label,
    outcome,
    progress_line,
    summary_lines,
)

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

RUN_LOG = protocol.RUN_LOG
RUN_STATUS = protocol.RUN_STATUS
FLOW_INFO = protocol.FLOW_INFO
LIST_RUNS = protocol.LIST_RUNS
RUN_ERROR = "run-error"
RESUME_COMMAND = '"Flowspin: Resume Flow From Step"'


@dataclass
class ActiveRun:
    handle: RunHandle
    uri: str
    flow: str
    verb: str  # run | resume
    token: str | None = None


@dataclass
class LastRun:
    """What the lenses show for a flow file: its latest editor run's per-step status."""

    run_id: str | None
    steps: dict[str, StepProgress]
    finished: bool
    updated: float = field(default_factory=time.time)  # newer than a spin's: the panel shows it


@dataclass
class RunTracker:
    manager: RunManager = field(default_factory=lambda: RunManager(python=sys.executable))
    active: dict[Path, ActiveRun] = field(default_factory=dict)
    last: dict[Path, LastRun] = field(default_factory=dict)
    # flow uri -> [(uri the diagnostic shows in, diagnostic)]
    errors: dict[str, list[tuple[str, types.Diagnostic]]] = field(default_factory=dict)
    pinned: dict[Path, str] = field(default_factory=dict)  # flow file -> base run id for spins
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pinned_run(self, flow_file: Path) -> str | None:
        """The base run pinned for the flow's spins with Select Base Run, if any."""
        with self.lock:
            return self.pinned.get(flow_file)

    def cancel(self, flow_file: Path) -> str | None:
        """Cancel the flow's run, if one is in progress; what was cancelled."""
        with self.lock:
            active = self.active.get(flow_file)
        if active is None:
            return None
        active.handle.cancel()
        run = f" {active.handle.run_id}" if active.handle.run_id else ""
        return (
            f"Cancelling the {active.verb}{run} of {active.flow} (Metaflow stops its tasks; "
            "resume it later)."
        )

    def shutdown(self) -> None:
        """The editor closes: a run started from it ends with it."""
        self.manager.cancel_all()

    def diagnostics_for(self, uri: str) -> list[types.Diagnostic]:
        with self.lock:
            return [d for items in self.errors.values() for shown, d in items if shown == uri]

    def drop_errors(self, flow_uri: str, step: str | None = None) -> set[str]:
        """Forget run errors of a flow (of one step); the uris whose diagnostics changed."""
        with self.lock:
            items = self.errors.get(flow_uri, [])
            gone = [i for i in items if step is None or diagnostic_data(i[1]).get("step") == step]
            kept = [i for i in items if i not in gone]
            if kept:
                self.errors[flow_uri] = kept
            else:
                self.errors.pop(flow_uri, None)
            return {shown for shown, _ in gone}

    def forget(self, uri: str) -> set[str]:
        """A closed document: drop run errors of that flow and those shown in it."""
        touched = self.drop_errors(uri)
        with self.lock:
            for flow_uri, items in list(self.errors.items()):
                kept = [i for i in items if i[0] != uri]
                if kept != items:
                    self.errors[flow_uri] = kept
        return touched - {uri}

    def lens(self, flow_file: Path, step: str) -> str | None:
        with self.lock:
            last = self.last.get(flow_file)
        if last is None or step not in last.steps:
            return None
        return lens_label(last.run_id, last.steps[step], last.finished)


def diagnostic_data(diag: types.Diagnostic) -> dict[str, Any]:
    """The `data` flowspin puts on its own diagnostics (`{step, flow_uri, ...}`), else {}."""
    return diag.data if isinstance(diag.data, dict) else {}


def _resume_hint(step: str | None) -> str:
    return f"{RESUME_COMMAND} with the cursor in '{step}'" if step else RESUME_COMMAND


def _environment(ls: FlowspinServer, uri: str) -> tuple[list[str], dict[str, str]]:
    """`flowspin.run.args` and the runs' environment (the server's plus `flowspin.run.env`),
    from the settings of the file's workspace folder."""
    settings = ls.state.settings_for(uri)
    args = setting(settings, "run.args", [])
    extra = [str(a) for a in args] if isinstance(args, list) else []
    env = worker_env(settings)
    env.setdefault("USER", env.get("METAFLOW_USER", "flowspin"))
    return extra, env


def _refuse_unsaved(target: commands.Target) -> commands.Result | None:
    if not target.uri.startswith("file:"):
        return {"ok": False, "message": "Save the flow to a file first: a run runs the saved file."}
    return None


def _clean_params(target: commands.Target) -> tuple[dict[str, str], str | None]:
    raw = target.argument.get("params") or {}
    if not isinstance(raw, dict):
        return {}, 'Expected "params" as an object {name: value}.'
    known = {p["name"] for p in parameter_prompts(target.flow)} if target.flow else set()
    params: dict[str, str] = {}
    for name, value in raw.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue  # empty: the flow's own default
        if known and name not in known:
            return {}, (
                f"{target.describe()} has no Parameter {name!r}; "
                f"its Parameters are {', '.join(sorted(known)) or 'none'}."
            )
        params[str(name)] = str(value)
    return params, None


async def run(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    refused = _refuse_unsaved(target)
    if refused:
        return refused
    params, problem = _clean_params(target)
    if problem:
        return {"ok": False, "message": problem}
    extra, env = _environment(ls, target.uri)
    manager = ls.runs.manager
    flow = target.flow.name if target.flow else None  # a file may hold several

    def start(on_event: Callable[[dict[str, Any]], None]) -> RunHandle:
        return manager.start_run(
            flow_file_of(ls, target.uri), params, extra, env, on_event, flow=flow
        )

    return await _drive(ls, target, "run", start)


async def resume(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    refused = _refuse_unsaved(target)
    if refused:
        return refused
    flow_file = flow_file_of(ls, target.uri)
    origin = target.argument.get("origin_run_id")
    if not isinstance(origin, str) or not origin:
        origin = ls.runs.pinned_run(flow_file)  # else Metaflow's latest run
    step = target.step.name if target.step is not None else None
    extra, env = _environment(ls, target.uri)
    manager = ls.runs.manager
    flow = target.flow.name if target.flow else None  # a file may hold several

    def start(on_event: Callable[[dict[str, Any]], None]) -> RunHandle:
        return manager.start_resume(flow_file, step, origin, extra, env, on_event, flow=flow)

    return await _drive(ls, target, "resume", start)


async def _drive(
    ls: FlowspinServer,
    target: commands.Target,
    verb: str,
    start: Callable[[Callable[[dict[str, Any]], None]], RunHandle],
) -> commands.Result:
    assert target.flow is not None
    tracker: RunTracker = ls.runs
    uri, flow_file = target.uri, flow_file_of(ls, target.uri)
    with tracker.lock:
        busy = tracker.active.get(flow_file)
    if busy is not None:
        return {
            "ok": False,
            "message": f"A {busy.verb} of {busy.flow} is already in progress"
            f"{f' (run {busy.handle.run_id})' if busy.handle.run_id else ''}; "
            "wait for it or cancel it (Flowspin: Cancel).",
        }
    loop = asyncio.get_running_loop()
    box: dict[str, ActiveRun] = {}

    def on_event(event: dict[str, Any]) -> None:  # the run's reader thread
        loop.call_soon_threadsafe(_on_event, ls, box, event)

    try:
        handle = start(on_event)
    except FlowFileError as exc:
        return {"ok": False, "message": str(exc)}
    except OSError as exc:
        return {"ok": False, "message": f"Cannot start Metaflow with {sys.executable}: {exc}"}
    active = ActiveRun(handle, uri, handle.target.flow, verb)
    box["run"] = active
    with tracker.lock:
        tracker.active[flow_file] = active
        tracker.last[flow_file] = LastRun(
            None, handle.progress.steps(), finished=False, updated=ls.clock()
        )
    ls.diagnostics.republish(tracker.drop_errors(uri))
    ls.stale.run_started(uri)  # the run's code is the text it starts from
    ls.refresh_lenses()
    notify_changed(ls, uri)
    _status(ls, active, "running", f"{active.flow}: starting the {verb}")
    ls.send_status("busy", f"{verb.capitalize()} of {active.flow}")
    active.token = await progress.begin(
        ls,
        verb,
        f"Running {active.flow}" if verb == "run" else f"Resuming {active.flow}",
        "starting",
        handle.cancel,
        still_wanted=lambda: not handle.done(),
    )
    try:
        result = await asyncio.to_thread(handle.wait)
    finally:
        with tracker.lock:
            tracker.active.pop(flow_file, None)
            idle = not tracker.active
        progress.end(ls, active.token)
        if idle:
            ls.send_status("ready", f"{verb} of {active.flow} finished")
    assert result is not None
    threading.Thread(
        target=_after_run, args=(ls, flow_file, loop), name="flowspin-after-run", daemon=True
    ).start()
    final = {
        "event": "run_finished",
        "status": result.status,
        "run_id": result.run_id,
        "flow": active.flow,
        "duration_ms": result.duration_ms,
        "steps": result.steps,
    }
    answer: commands.Result = {
        "ok": result.status == "ok",
        "message": outcome(final, _resume_hint),
        "status": result.status,
        "run_id": result.run_id,
        "steps": result.steps,
    }
    if result.status == "failed" and not result.failures and result.output_tail:
        tail = "\n".join(t for t in result.output_tail if t.strip())[-600:]
        answer["message"] += f" Metaflow said: {tail}"
    return answer


def _on_event(ls: FlowspinServer, box: dict[str, ActiveRun], event: dict[str, Any]) -> None:
    """One run event, on the event loop: log line, lens and status updates, diagnostics."""
    active = box.get("run")
    if active is None:
        return
    try:
        _translate(ls, active, event)
    except Exception:
        log.exception("showing run event %s failed", event.get("event"))


def _translate(ls: FlowspinServer, active: ActiveRun, event: dict[str, Any]) -> None:
    kind = event["event"]
    if kind == "run_finished":
        for line in summary_lines(event, _resume_hint):
            _log_line(ls, active, line)
        if event.get("message"):
            _log_line(ls, active, event["message"])
    else:
        shown = event_line(event, lambda p: Path(p).name)
        if shown is not None:
            _log_line(ls, active, shown)
    if kind == "log":
        return
    handle = active.handle
    steps = handle.progress.steps()
    flow_file = handle.target.path
    finished = kind == "run_finished"
    with ls.runs.lock:
        ls.runs.last[flow_file] = LastRun(handle.run_id, steps, finished, updated=ls.clock())
    ls.refresh_lenses()
    if kind == "task_failed":
        _add_error(ls, active, event)
    notify_changed(ls, active.uri)
    if finished:
        _status(ls, active, event["status"], outcome(event, _resume_hint))
        return
    text = progress_line(steps)
    run = f" run {handle.run_id}" if handle.run_id else ""
    _status(ls, active, "running", f"{active.flow}{run}: {text}")
    progress.report(ls, active.token, text)


def _log_line(ls: FlowspinServer, active: ActiveRun, text: str) -> None:
    ls.protocol.notify(RUN_LOG, {"uri": active.uri, "flow": active.flow, "text": text})


def _status(ls: FlowspinServer, active: ActiveRun, state: str, text: str) -> None:
    ls.protocol.notify(
        RUN_STATUS,
        {
            "uri": active.uri,
            "flow": active.flow,
            "run_id": active.handle.run_id,
            "state": state,
            "text": text,
        },
    )


def _add_error(ls: FlowspinServer, active: ActiveRun, event: dict[str, Any]) -> None:
    """A failed task's exception at its line: in the flow file, or in the workspace module
    where the innermost user frame is; at the step's `def` when no frame is known."""
    step = event.get("step")

    def step_line() -> int:
        doc = ls.workspace.get_text_document(active.uri)
        model = ls.state.models.navigation_model(doc)
        flow = next((f for f in (model.flows if model else []) if step in f.steps), None)
        return flow.steps[step].span.line - 1 if flow and step is not None else 0

    run_id = event.get("run_id") or active.handle.run_id
    shown, diag = exception_diagnostic(
        ls,
        active.uri,
        active.handle.target.path,
        step_line,
        {
            "type": event.get("error_type"),
            "message": event.get("message"),
            "file": event.get("file"),
            "line": event.get("line"),
        },
        context=f"(run {run_id}, task {step}/{event.get('task_id')})",
        code=RUN_ERROR,
        data={"step": step, "flow_uri": active.uri, "run_id": run_id},
    )
    with ls.runs.lock:
        ls.runs.errors.setdefault(active.uri, []).append((shown, diag))
    ls.diagnostics.republish({shown})


def _after_run(ls: FlowspinServer, flow_file: Path, loop: asyncio.AbstractEventLoop) -> None:
    """The new run is the base for spins now (unless one is pinned): tell the worker, then
    warm the step under the cursor so the next spin is instant."""
    try:
        ls.spin_host.service().rebase(flow_file)
    except Exception as exc:
        log.info("re-choosing the base run of %s failed: %s", flow_file.name, exc)
    loop.call_soon_threadsafe(ls.spins.rewarm, ls, flow_file)


async def cancel_run(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    """Cancel one run by id (the palette's Cancel Run…): this server's own, or one another
    launcher started, alive or not."""
    from flowspin.runs import load_target
    from flowspin.runs.launches import NotCancellable, cancel_launch

    refused = _refuse_unsaved(target)
    if refused:
        return refused
    run_id = target.argument.get("run_id")
    if not isinstance(run_id, (str, int)) or not str(run_id).strip():
        return {"ok": False, "message": 'Which run? Pass {"uri": ..., "run_id": ...}.'}
    run_id = str(run_id).strip()
    flow_file = flow_file_of(ls, target.uri)
    with ls.runs.lock:
        active = ls.runs.active.get(flow_file)
    if active is not None and active.handle.run_id == run_id:
        active.handle.cancel()
        return {
            "ok": True,
            "run_id": run_id,
            "status": "cancelling",
            "message": f"Cancelling the {active.verb} {run_id} of {active.flow} (Metaflow "
            "stops its tasks; resume it later).",
        }
    try:
        flow = load_target(flow_file).flow
        outcome = await asyncio.to_thread(cancel_launch, flow_file, flow, run_id)
    except (NotCancellable, FlowFileError) as exc:
        text = str(exc)
        return {"ok": False, "run_id": run_id, "message": text[:1].upper() + text[1:]}
    return {
        "ok": outcome.ok,
        "run_id": run_id,
        "status": "cancelled" if outcome.ok else "running",
        "message": outcome.message
        + (f" Resume it with {RESUME_COMMAND}." if outcome.ok else ""),
    }


def select_base_run(ls: FlowspinServer, target: commands.Target) -> commands.Result:
    refused = _refuse_unsaved(target)
    if refused:
        return refused
    flow_file = flow_file_of(ls, target.uri)
    run_id = target.argument.get("run_id")
    name = target.flow.name if target.flow else flow_file.name
    with ls.runs.lock:
        if isinstance(run_id, (str, int)) and str(run_id):
            ls.runs.pinned[flow_file] = str(run_id)
            message = (
                f"Spins of {name} now use run {run_id} as their base (pinned); choose "
                "\"Latest run\" in Select Base Run to follow new runs again."
            )
        else:
            ls.runs.pinned.pop(flow_file, None)
            message = f"Spins of {name} use its latest run again."
    ls.spins.rewarm(ls, flow_file)
    return {"ok": True, "message": message, "run_id": ls.runs.pinned.get(flow_file)}


def flow_info(ls: FlowspinServer, params: Any) -> dict[str, Any]:
    """The flow at the cursor, its steps and Parameters (for the run and resume prompts)."""
    target = commands.resolve(ls, _as_dict(params), need_step=True)
    if target.error is not None:  # not in a step: the flow alone
        target = commands.resolve(ls, _as_dict(params), need_step=False)
    if target.error is not None or target.flow is None:
        return {"ok": False, "message": target.error or "No flow here."}
    flow = target.flow
    return {
        "ok": True,
        "flow": flow.name,
        "steps": list(flow.steps),
        "step": target.step.name if target.step else None,
        "parameters": parameter_prompts(flow),
    }


async def list_runs(ls: FlowspinServer, params: Any) -> dict[str, Any]:
    """Past runs of the flow, newest first, for the Select Base Run and Resume quick picks."""
    from flowspin.runs import RunListError
    from flowspin.runs import list_runs as read_runs

    target = commands.resolve(ls, _as_dict(params), need_step=False)
    if target.error is not None or target.flow is None:
        return {"ok": False, "message": target.error or "No flow here.", "runs": []}
    refused = _refuse_unsaved(target)
    if refused:
        return {**refused, "runs": []}
    flow_file = flow_file_of(ls, target.uri)
    _, env = _environment(ls, target.uri)
    try:
        runs = await asyncio.to_thread(
            read_runs, flow_file, python=sys.executable, env=env, limit=30
        )
    except (RunListError, FlowFileError) as exc:
        return {"ok": False, "message": str(exc), "runs": []}
    return {
        "ok": True,
        "flow": target.flow.name,
        "runs": [r.as_dict() for r in runs],
        "pinned": ls.runs.pinned_run(flow_file),
        "message": f"{len(runs)} runs of {target.flow.name}"
        if runs
        else f"No runs of {target.flow.name} yet: run the flow first (Flowspin: Run Flow).",
    }


def _as_dict(params: Any) -> dict[str, Any]:
    if isinstance(params, dict):
        return params
    return {k: getattr(params, k) for k in ("uri", "line", "step") if hasattr(params, k)}


COMMANDS = (
    Command("flowspin.server.run", run),
    Command("flowspin.server.resume", resume),
    Command("flowspin.server.selectBaseRun", select_base_run),
    Command("flowspin.server.cancelRun", cancel_run),
)


def register(server: FlowspinServer) -> None:

    @server.feature(FLOW_INFO)
    def on_flow_info(ls: FlowspinServer, params: Any) -> dict[str, Any]:
        return flow_info(ls, params)

    @server.feature(LIST_RUNS)
    async def on_list_runs(ls: FlowspinServer, params: Any) -> dict[str, Any]:
        return await list_runs(ls, params)
