"""MCP's `run` and `runs` tools: a Metaflow run of the flow, waited for, and the past runs.

Apart from the other tools' adapters (`flowspin.mcp.engines`) because a run is a different
engine (`flowspin.runs`, a `python flow.py run` subprocess) with its own safety rules: an
agent gives typed options, each checked, never raw command-line arguments.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowspin.mcp.engines import flow_names, static_model
from flowspin.mcp.errors import NotAvailable, ToolProblem
from flowspin.mcp.shaping import tail
from flowspin.mcp.workspace import display_path

# Run events told as Metaflow's console tells them, so streamed progress reads the same
# whichever run engine produced it.
TASK_EVENT_TEXT = {
    "task_started": "Task is starting.",
    "task_finished": "Task finished successfully.",
    "task_failed": "Task failed.",
}


# Decorators an agent may add to every step of a run (`decorators`, Metaflow's `--with`): where
# and how the steps run, never arbitrary command-line options (those include `--run-id-file
# PATH`, which writes wherever it is told).
WITH_ALLOWED = ("kubernetes", "batch", "resources", "retry", "timeout", "environment", "card")
MAX_TAG_CHARS = 256
MAX_WITH_CHARS = 1000


def run_options(
    path: Path,
    params: dict[str, str] | None,
    tags: list[str] | None,
    max_workers: int | None,
    with_decorators: list[str] | None,
) -> tuple[dict[str, str], list[str]]:
    """The run's parameters and Metaflow arguments from typed options, each checked: parameter
    names the flow declares, tags and `--with` decorators from `WITH_ALLOWED`. Every value is
    its own argument after its option, so none can become an option of its own."""
    params = dict(params or {})
    model = static_model(path)
    declared = {
        p.name for flow in model.flows for p in flow.parameters if p.kind == "Parameter"
    }
    knowable = not any(flow.has_external_bases for flow in model.flows)
    for name in params:
        known = name in declared or name.replace("-", "_") in declared
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,99}", name) or (knowable and not known):
            shown = name if len(name) <= 80 else name[:80] + "..."
            raise ToolProblem(
                f"{shown!r} is not a parameter of the flow in {path.name}",
                next_step="pass only the flow's Parameters in `params` ("
                + (", ".join(sorted(declared)) or "it declares none")
                + "); tags, max_workers and decorators have their own arguments.",
            )
    args: list[str] = []
    for tag in tags or []:
        if not tag.strip() or len(tag) > MAX_TAG_CHARS or "\n" in tag or "\0" in tag:
            raise ToolProblem(
                f"tag {tag[:80]!r} is not a usable Metaflow tag",
                next_step=f"use short one-line tags (at most {MAX_TAG_CHARS} characters).",
            )
        args += ["--tag", tag]
    if max_workers is not None:
        args += ["--max-workers", str(int(max_workers))]
    for spec in with_decorators or []:
        name = spec.split(":", 1)[0].strip()
        unusable = len(spec) > MAX_WITH_CHARS or "\n" in spec or "\0" in spec
        if name not in WITH_ALLOWED or unusable:
            raise ToolProblem(
                f"decorator {spec[:80]!r} is not allowed in a run (--with)",
                next_step=f"use one of {', '.join(WITH_ALLOWED)}, optionally with attributes "
                "as Metaflow's --with takes them, e.g. \"kubernetes:cpu=4,memory=16000\" or "
                "\"retry:times=2\".",
            )
        args += ["--with", spec]
    return params, args


def run(
    workspace: Path,
    path: Path,
    *,
    params: dict[str, str] | None = None,
    tags: list[str] | None = None,
    max_workers: int | None = None,
    with_decorators: list[str] | None = None,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Metaflow's `run` of the flow, waited for; per-step status and failures at their line."""
    from flowspin.agents.summary import cut

    shown = display_path(workspace, path)
    names = flow_names(path)
    if not names:
        raise ToolProblem(
            f"{shown} defines no FlowSpec subclass",
            next_step="pass the file that defines the flow (`check` shows what is wrong).",
        )
    params, extra_args = run_options(path, params, tags, max_workers, with_decorators)
    raw = _run_via_engine(path, params, extra_args, on_line, cancel)
    failures = raw["failures"]
    for failure in failures:
        if failure["file"]:
            failure["file"] = display_path(workspace, Path(failure["file"]))
        failure["task"] = f"{names[0]}/{raw['run_id']}/{failure['step']}/{failure['task']}"
        failure["traceback"] = tail(failure.get("traceback") or "", 1500)
    ok = raw["returncode"] == 0
    result: dict[str, Any] = {
        "status": "ok" if ok else "error",
        "file": shown,
        "flow": names[0],
        "run_id": raw["run_id"],
        "returncode": raw["returncode"],
        "duration_s": round(raw["duration_s"], 2),
        "steps": raw["steps"],
        "failures": failures,
    }
    if ok:
        result["hint"] = (
            f"run {raw['run_id']} finished: `spin` any step now, spins start from this run."
        )
        return result
    if raw.get("cancelled"):
        result["status"] = "cancelled"
    result["output_tail"] = tail(raw["output"], 800 if failures else 3000)
    if failures and failures[0]["line"]:
        first = failures[0]
        result["hint"] = (
            f"fix {first['file']}:{first['line']} ({first['type']}: "
            f"{cut(first['message'], 200)}), `spin` {first['step']!r} until it works (its "
            "parents finished in this run), then `run` again."
        )
    elif raw["run_id"] is None:
        result["hint"] = (
            "Metaflow did not start the run (see output_tail): `check` the flow, and check "
            "params, tags and decorators."
        )
    else:
        result["hint"] = "the run failed (see output_tail and failures); fix it and `run` again."
    return result


def _run_via_engine(
    path: Path,
    params: dict[str, str] | None,
    extra_args: list[str] | None,
    on_line: Callable[[str], None] | None,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    """The run through `flowspin.runs` (the engine the editor and `flowspin run` use)."""
    try:
        from flowspin.runs import FlowFileError, RunManager
    except ImportError as exc:
        raise NotAvailable("running flows", str(exc)) from exc
    output: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "log":
            text = event.get("line", "")
        elif kind in TASK_EVENT_TEXT:
            text = TASK_EVENT_TEXT[kind]
            if kind == "task_failed":
                text += f" {event.get('error_type')}: {event.get('message')}"
        elif kind == "run_started":
            text = f"Workflow starting (run-id {event.get('run_id')})"
        else:
            return
        where = f"[{event['step']}/{event['task_id']}] " if event.get("step") else ""
        line = f"{where}{text}"
        output.append(line)
        del output[:-400]
        if on_line is not None:
            on_line(line)

    try:
        handle = RunManager().start_run(
            path, dict(params or {}), list(extra_args or []), on_event=on_event
        )
    except FlowFileError as exc:
        raise ToolProblem(
            f"cannot run {path.name}: {exc}",
            next_step="`check` the flow file and fix what it reports, then `run` again.",
        ) from exc
    if cancel is not None:
        def stop_on_cancel() -> None:
            cancel.wait()
            if not handle.done():
                handle.cancel()

        threading.Thread(target=stop_on_cancel, daemon=True).start()
    try:
        result = handle.wait()
    finally:
        if cancel is not None:
            cancel.set()  # releases the watcher
    assert result is not None
    return {
        "run_id": result.run_id,
        "returncode": result.returncode,
        "duration_s": result.duration_ms / 1000,
        "steps": result.steps,
        "cancelled": result.status == "cancelled",
        "failures": [
            {
                "step": f.get("step"),
                "task": f.get("task_id"),
                "type": f.get("error_type") or "Error",
                "message": f.get("message") or "",
                "file": f.get("file"),
                "line": f.get("line"),
                "traceback": f.get("traceback") or "",
            }
            for f in result.failures
        ],
        "output": "\n".join(output),
    }


def list_runs(workspace: Path, path: Path, *, limit: int = 10) -> dict[str, Any]:
    """Past runs through `flowspin.runs` (what `flowspin runs` and the editor's picker show)."""
    try:
        from flowspin.runs import RunListError
        from flowspin.runs import list_runs as engine_list_runs
    except ImportError as exc:
        raise NotAvailable("listing runs", str(exc)) from exc

    shown = display_path(workspace, path)
    names = flow_names(path)
    if not names:
        raise ToolProblem(
            f"{shown} defines no FlowSpec subclass",
            next_step="pass the file that defines the flow (`check` shows what is wrong).",
        )
    try:
        infos = engine_list_runs(path, limit=limit)
    except RunListError as exc:
        raise ToolProblem(
            f"could not list the runs of {shown}: {exc}",
            next_step="check the METAFLOW_* settings in the MCP server's env (datastore, "
            "metadata service, profile).",
        ) from exc
    runs = [
        {
            "run_id": info.run_id,
            "flow": info.flow,
            "status": info.status,
            "started": info.created_at,
            "finished": info.finished_at,
            "user": info.user,
            "params": info.parameters,
            **({"tags": info.tags} if info.tags else {}),
        }
        for info in infos
    ]
    if not runs:
        hint = "no runs yet: call `run` to create one (spins need a base run)."
    elif runs[0]["status"] == "ok":
        hint = (
            "spins start from the latest run whose parent tasks finished "
            f"({runs[0]['run_id']} here); pass run_id to `spin` to pick another."
        )
    else:
        hint = (
            "the latest run did not succeed; spins of steps before the failure still work; "
            "`run` again after fixing it."
        )
    return {"file": shown, "flows": names, "runs": runs, "next": hint}
