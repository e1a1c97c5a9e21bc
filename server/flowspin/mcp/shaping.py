"""Turning a spin result (the `flowspin spin --json` contract) into what an agent should read.

The contract lists every artifact the spun task holds with a repr of up to 1000 characters and
the whole stdout/stderr; an agent needs the changed artifacts summarised (a DataFrame as shape,
dtypes, head), the inherited ones by name, the output tails, and one sentence on what to do next.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flowspin.agents.summary import REPR_LIMIT, cut
from flowspin.mcp.workspace import display_path

log = logging.getLogger("flowspin.mcp")

OUTPUT_TAIL = 4000
TRACEBACK_TAIL = 3000
MAX_CHANGED_SUMMARIES = 30
MAX_BASE_TASKS = 10
LOAD_LIMIT_BYTES = 512 * 1024 * 1024  # never unpickle something this big just to describe it


def tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"[{len(text) - limit} earlier chars cut]...{text[-limit:]}"


def _changed_summaries(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Summaries of the artifacts the spin set, from the stored values when they can be read."""
    from flowspin.agents.summary import summarize

    changed = {n: a for n, a in (result.get("artifacts") or {}).items() if a.get("changed")}
    loaded = None
    if result.get("spin_id") and changed:
        try:
            from flowspin.store import load_spin

            loaded = load_spin(path, result["step"], result["spin_id"])
        except Exception as exc:  # not persisted (--no-persist) or the store is unreadable
            log.info("spin %s not loadable for summaries: %s", result.get("spin_id"), exc)
    out: dict[str, Any] = {}
    for i, (name, info) in enumerate(changed.items()):
        fallback = {
            "type": info.get("type"),
            "repr": cut(info.get("repr") or "", REPR_LIMIT),
            "size": info.get("size"),
        }
        too_big = (info.get("size") or 0) > LOAD_LIMIT_BYTES
        if loaded is None or i >= MAX_CHANGED_SUMMARIES or too_big:
            out[name] = fallback
            continue
        try:
            out[name] = summarize(loaded.artifacts[name])
        except Exception as exc:
            log.info("artifact %s not loadable: %s", name, exc)
            out[name] = fallback
    return out


def _short_base(base: dict[str, Any]) -> dict[str, Any]:
    """The base run, with at most MAX_BASE_TASKS parent pathspecs (a wide foreach has 1000s)."""
    tasks = list(base.get("tasks") or [])
    short = dict(base)
    if len(tasks) > MAX_BASE_TASKS:
        short["tasks"] = tasks[:MAX_BASE_TASKS]
        short["tasks_total"] = len(tasks)
    return short


def _in_workspace(workspace: Path, file: str) -> bool:
    try:
        Path(file).resolve().relative_to(workspace)
    except (OSError, ValueError):
        return False
    return True


def _hint(workspace: Path, shown: str, result: dict[str, Any], run_id: str | None) -> str:
    status = result.get("status")
    error = result.get("error") or {}
    step = result.get("step")
    if status == "ok":
        targets = (result.get("next") or {}).get("steps")
        follow = ""
        if targets:
            follow = f" `spin` the next step ({', '.join(str(t) for t in targets)}) to continue " \
                "from this output, or"
        return f"step {step!r} works.{follow} `run` the whole flow when every step does."
    if status == "cancelled":
        return "the spin was cancelled (timeout?); raise timeout_s or make the step faster."
    etype = error.get("type") or "Error"
    message = cut(str(error.get("message") or ""), 300)
    if etype == "MissingBaseRun":
        if run_id:
            return f"run {run_id!r} was not found: call `list_runs` to see the run ids, or leave " \
                "run_id out to start from the latest run."
        return "there is no base run to take parent artifacts from: run the flow first with " \
            "the `run` tool, then spin again."
    if etype == "FlowLoadError":
        where = f" at {shown}:{error['line']}" if error.get("line") else ""
        return f"the flow file does not load{where}: fix it (`check` lists every problem), " \
            "then spin again."
    file = error.get("file_abs") or ""
    if error.get("line") and file and _in_workspace(workspace, file):
        return f"fix {error.get('file')}:{error['line']} ({etype}: {cut(message, 200)}), then " \
            f"spin {step!r} again."
    return f"{etype}: {message}. Check the spin's arguments (params, split, run_id) or the " \
        "flow, then spin again."


def shape_spin(
    workspace: Path,
    path: Path,
    result: dict[str, Any],
    *,
    via: str,
    run_id: str | None = None,
) -> dict[str, Any]:
    shown = display_path(workspace, path)
    artifacts = result.get("artifacts") or {}
    shaped: dict[str, Any] = {
        "status": result.get("status"),
        "file": shown,
        "flow": result.get("flow"),
        "step": result.get("step"),
        "spin_id": result.get("spin_id"),
        "mode": result.get("mode"),
        "via": via,
        "base": _short_base(result.get("base") or {}),
        "duration_ms": round(float(result.get("duration_ms") or 0.0), 1),
        "changed": _changed_summaries(path, result),
        "inherited": sorted(n for n, a in artifacts.items() if not a.get("changed")),
        "next": result.get("next"),
        "stdout": tail(result.get("stdout") or "", OUTPUT_TAIL),
        "stderr": tail(result.get("stderr") or "", OUTPUT_TAIL),
        "cards": [c.get("path") for c in result.get("cards") or []],
    }
    if result.get("split_index") is not None:
        shaped["split_index"] = result["split_index"]
    if result.get("notices"):
        shaped["notices"] = result["notices"]
    error = result.get("error")
    if error:
        file = error.get("file") or ""
        shaped["error"] = {
            "type": error.get("type"),
            "message": cut(str(error.get("message") or ""), 1000),
            "file": display_path(workspace, Path(file)) if file else None,
            "line": error.get("line") or None,
            "traceback": tail(error.get("traceback") or "", TRACEBACK_TAIL),
        }
    else:
        shaped["error"] = None
    hint_error = dict(shaped["error"] or {}, file_abs=(error or {}).get("file") or "")
    shaped["hint"] = _hint(workspace, shown, {**result, "error": hint_error}, run_id)
    return shaped
