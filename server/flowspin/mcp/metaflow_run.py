"""The `run` tool's engine when this build has no `flowspin.runs`: Metaflow's own `run` in a
subprocess (so the run lands in the user's real datastore), its task lines read as they come.

Metaflow prints one line per task event, `<time> [<run>/<step>/<task> (pid N)] <message>`, and a
failed task's traceback on its own prefixed lines; from those we report per-step status and, for
a failed task, the exception and the flow file's line it came from.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_STARTED = re.compile(r"Workflow starting \(run-id (?P<run>[^)\s]+)\)")
TASK_LINE = re.compile(
    r"\[(?P<run>[^/\]\s]+)/(?P<step>[^/\]\s]+)/(?P<task>[^/\]\s]+) \(pid \d+\)\] ?(?P<msg>.*)$"
)
FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')
EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
OUTPUT_TAIL = 3000
GRACE_S = 10.0


@dataclass
class TaskState:
    step: str
    task: str
    status: str = "running"
    lines: list[str] = field(default_factory=list)


@dataclass
class RunOutcome:
    returncode: int
    run_id: str | None
    tasks: dict[str, TaskState]
    output: str
    duration_s: float


def command(flow_file: Path, params: dict[str, str], extra_args: list[str]) -> list[str]:
    args = [sys.executable, flow_file.name, "--no-pylint", "run"]
    for name, value in params.items():
        args += [f"--{name}", str(value)]
    return args + list(extra_args)


def _stop_when(cancel: threading.Event, proc: subprocess.Popen[str]) -> None:
    """On cancel: SIGINT (Metaflow stops its tasks and leaves a resumable run), then harder."""
    cancel.wait()
    for sig, grace in ((signal.SIGINT, GRACE_S), (signal.SIGTERM, GRACE_S), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            proc.send_signal(sig)
            proc.wait(grace)
        except (OSError, subprocess.TimeoutExpired):
            continue


def run_flow(
    flow_file: Path,
    params: dict[str, str],
    extra_args: list[str],
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunOutcome:
    """Run the flow in its folder (where `python flow.py run` would be typed); wait for it.

    Setting `cancel` stops the run as Ctrl-C would.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.monotonic()
    proc = subprocess.Popen(
        command(flow_file, params, extra_args),
        cwd=flow_file.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    )
    if cancel is not None:
        threading.Thread(target=_stop_when, args=(cancel, proc), daemon=True).start()
    run_id: str | None = None
    tasks: dict[str, TaskState] = {}
    output: list[str] = []
    size = 0
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            output.append(line)
            size += len(line) + 1
            while size > 4 * OUTPUT_TAIL and len(output) > 1:
                size -= len(output.pop(0)) + 1
            if on_line is not None:
                on_line(line)
            if run_id is None and (m := RUN_STARTED.search(line)):
                run_id = m["run"]
            if m := TASK_LINE.search(line):
                key = f"{m['step']}/{m['task']}"
                state = tasks.setdefault(key, TaskState(m["step"], m["task"]))
                msg = m["msg"].strip()
                if msg == "Task finished successfully.":
                    if state.status == "running":
                        state.status = "done"
                elif msg == "Task failed.":
                    state.status = "failed"
                elif msg == "[KILLED BY ORCHESTRATOR]":
                    state.status = "killed"
                else:
                    state.lines.append(msg)
                    del state.lines[:-200]  # a chatty task keeps only its tail
        proc.wait()
    finally:
        if proc.poll() is None:  # an error here: do not leave Metaflow running unobserved
            proc.terminate()
            proc.wait()
        if cancel is not None:
            cancel.set()  # releases the watcher thread
    return RunOutcome(
        proc.returncode, run_id, tasks, "\n".join(output), time.monotonic() - started
    )


def failure_of(state: TaskState, flow_file: Path) -> dict[str, Any]:
    """The exception a failed task printed, and the innermost frame in the flow's folder."""
    file = line = None
    first_user_frame: int | None = None
    folder = flow_file.parent.resolve()
    for i, text in enumerate(state.lines):
        if m := FRAME.search(text):
            try:
                frame_path = Path(m["file"]).resolve()
                frame_path.relative_to(folder)
            except (OSError, ValueError):
                continue
            file, line = str(frame_path), int(m["line"])
            if first_user_frame is None:
                first_user_frame = i
    # The user's part of the traceback (Metaflow's own frames above it say nothing new).
    user_part = state.lines[first_user_frame:] if first_user_frame is not None else state.lines
    traceback = "\n".join(t for t in user_part if t.strip() and not set(t.strip()) <= set("^~ "))
    err_type, message = "Error", ""
    for text in reversed(state.lines):
        text = text.strip()
        if not text or set(text) <= set("^~ "):
            continue
        if m := EXCEPTION_LINE.match(text):
            err_type, message = m["type"], (m["message"] or "").strip()
        else:
            message = text
        break
    return {
        "step": state.step,
        "task": state.task,
        "type": err_type,
        "message": message,
        "file": file,
        "line": line,
        "traceback": tail_text(traceback, 1500),
    }


def step_status(outcome: RunOutcome) -> dict[str, dict[str, Any]]:
    """Per step, in the order steps started: status, task count, failed task ids."""
    steps: dict[str, dict[str, Any]] = {}
    for state in outcome.tasks.values():
        entry = steps.setdefault(state.step, {"status": "done", "tasks": 0})
        entry["tasks"] += 1
        if state.status == "failed":
            entry["status"] = "failed"
            entry.setdefault("failed_tasks", []).append(state.task)
        elif state.status in ("running", "killed") and entry["status"] == "done":
            entry["status"] = "killed" if outcome.returncode else state.status
    return steps


def tail_text(text: str, limit: int = OUTPUT_TAIL) -> str:
    if len(text) <= limit:
        return text
    return f"[{len(text) - limit} earlier chars cut]...{text[-limit:]}"
