"""Metaflow's console output, read line by line into flowspin run events.

Metaflow's runtime prints every task event and every line a task writes as
`<local time> [<run>/<step>/<task> (pid N)] <text>`; run-level messages have no bracket. stdout
and stderr of a task are merged on that console, so `log` events say `stdout` for both. A failed
task prints its traceback on its own prefixed lines before `Task failed.`, so the parser keeps
each task's recent lines and reads the exception and the flow file's frame from them when the
failure line arrives.

`LineParser` is pure (no I/O, no clock): it is fed lines and returns events, which keeps it
testable on recorded output and reusable by any driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

Event = dict[str, Any]

_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?"
# Metaflow clones a resume's tasks from several threads at once, and their console lines
# interleave: a line may carry the timestamps of its neighbours (`<t1> <t2> [run/step/task] …`)
# or none at all (`[run/step/task] …`). The last timestamp is the line's own.
_TIMES = r"(?P<times>(?:" + _TS + r" )*)"
TASK_LINE = re.compile(
    "^" + _TIMES + r"\[(?P<run>[^/\]\s]+)/(?P<step>[^/\]\s]+)/(?P<task>[^/\]\s]+)"
    r"(?: \(pid (?P<pid>\d+)\))?\] ?(?P<msg>.*)$"
)
RUN_LINE = re.compile("^" + r"(?P<times>(?:" + _TS + r" )+)(?P<msg>.*)$")
_ONE_TS = re.compile(_TS)
RUN_STARTED = re.compile(r"Workflow starting \(run-id (?P<run>[^)\s,]+)\)")
EXECUTING = re.compile(r"executing (?P<flow>\w+) for ")
FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?')
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")

STARTING = ("Task is starting", "Task fallback is starting")
FINISHED = "Task finished successfully."
FAILED = ("Task failed.", "Task failed with a segmentation fault.")
KILLED = "[KILLED BY ORCHESTRATOR]"
# Resume's clone messages, from several threads whose writes interleave: one line may hold
# several tasks' prefixes and another task's message, and a message may stand alone on the next
# line. So a clone is read from every pid-less prefix of a line that mentions cloning.
CLONE_LINE = re.compile(r"(?:Cloning|Skipping cloning of) previously run task")
CLONE_PREFIX = re.compile(r"\[(?P<run>[^/\]\s]+)/(?P<step>[^/\]\s]+)/(?P<task>[^/\]\s]+)\]")
FOREACH = re.compile(r"^Foreach yields (?P<n>\d+) child steps\.$")
MAX_TASK_LINES = 400  # a chatty task keeps only its tail (tracebacks come last)


def parse_time(text: str) -> float | None:
    """Metaflow prints local wall-clock time with milliseconds; returned as epoch seconds."""
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    except ValueError:
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timestamp()
        except ValueError:
            return None


@dataclass
class _Task:
    step: str
    task_id: str
    started: float | None = None
    killed: bool = False
    lines: list[str] = field(default_factory=list)


@dataclass
class Failure:
    file: str | None
    line: int | None
    error_type: str
    message: str
    traceback: str


def read_failure(lines: list[str], flow_file: Path | None) -> Failure:
    """The exception a task printed and the frame of the flow file it was raised from.

    The innermost frame in the flow file wins (that is the line to fix); without one, the
    innermost frame under the flow's folder (a helper module of the user); else none.
    """
    folder = flow_file.resolve().parent if flow_file else None
    target = flow_file.resolve() if flow_file else None
    in_flow: tuple[str, int, int] | None = None
    in_folder: tuple[str, int, int] | None = None
    first_user: int | None = None
    start = 0
    for i, text in enumerate(lines):
        if text.strip().startswith("Traceback (most recent call last)"):
            start = i
        m = FRAME.match(text)
        if not m:
            continue
        try:
            path = Path(m["file"]).resolve()
        except OSError:
            continue
        if target is not None and path == target:
            in_flow = (str(path), int(m["line"]), i)
        if folder is not None and path.is_relative_to(folder) and ".venv" not in path.parts:
            in_folder = (str(path), int(m["line"]), i)
            if first_user is None or i < start:
                first_user = i
    chosen = in_flow or in_folder
    error_type, message = "Error", ""
    for text in reversed(lines):
        stripped = text.strip()
        if not stripped or set(stripped) <= set("^~ "):
            continue
        if FRAME.match(text):
            break
        m = EXCEPTION.match(stripped)
        if m and (m["message"] is not None or "Error" in m["type"] or "Exception" in m["type"]):
            error_type, message = m["type"], (m["message"] or "").strip()
        else:
            message = stripped
        break
    # The user's part of the traceback: Metaflow's own frames above it say nothing new.
    body = lines[first_user:] if first_user is not None and first_user >= start else lines[start:]
    body = [t for t in body if t.strip() and not set(t.strip()) <= set("^~ ")]
    head = ["Traceback (most recent call last):"] if first_user is not None else []
    return Failure(
        file=chosen[0] if chosen else None,
        line=chosen[1] if chosen else None,
        error_type=error_type,
        message=message,
        traceback="\n".join(head + body)[-4000:],
    )


class LineParser:
    """Turns Metaflow console lines into events (see docs/runs.md for the contract)."""

    def __init__(self, flow_file: Path | None = None, flow: str | None = None) -> None:
        self.flow_file = flow_file
        self.flow = flow
        self.run_id: str | None = None
        self._started_sent = False
        self._tasks: dict[tuple[str, str], _Task] = {}
        self.pid: int | None = None
        self._last_time: float | None = None
        self._cloned: set[tuple[str, str]] = set()

    def feed(self, raw: str) -> list[Event]:
        line = ANSI.sub("", raw.rstrip("\r\n"))  # colours, should a terminal be faked
        if CLONE_LINE.search(line):
            return self._clone_line(line)
        m = TASK_LINE.match(line)
        # Without a timestamp, only a line of this run's tasks (not some text in brackets).
        if m and (m["times"] or (self.run_id is not None and m["run"] == self.run_id)):
            return self._task_line(m)
        events: list[Event] = []
        m = RUN_LINE.match(line)
        msg = m["msg"] if m else line
        if m:
            self._last_time = parse_time(_ONE_TS.findall(m["times"])[-1]) or self._last_time
        if self.flow is None and (e := EXECUTING.search(line)):
            self.flow = e["flow"]
        if (s := RUN_STARTED.search(msg)) and not self._started_sent:
            self.run_id = s["run"]
            events.append(self._run_started())
        events.append({"event": "log", "step": None, "task_id": None, "stream": "stdout",
                       "line": msg})
        return events

    def _clone_line(self, line: str) -> list[Event]:
        stamps = _ONE_TS.findall(line)
        when = parse_time(stamps[-1]) if stamps else self._last_time
        self._last_time = when
        events: list[Event] = []
        for m in CLONE_PREFIX.finditer(line):
            if self.run_id is not None and m["run"] != self.run_id:
                continue
            if not self._started_sent:
                self.run_id = m["run"]
                events.append(self._run_started())
            key = (m["step"], m["task"])
            if key in self._cloned:
                continue
            self._cloned.add(key)
            self._tasks[key] = _Task(m["step"], m["task"], started=when)
            base = {"step": m["step"], "task_id": m["task"], "run_id": m["run"]}
            events.append({"event": "task_started", **base, "time": when, "retry": False})
            events.append({"event": "task_finished", **base, "time": when, "duration_ms": 0.0,
                           "cloned": True})
        text = CLONE_PREFIX.sub("", _ONE_TS.sub("", line)).strip()
        events.append({"event": "log", "step": None, "task_id": None, "stream": "stdout",
                       "line": text})
        return events

    def _run_started(self) -> Event:
        self._started_sent = True
        return {"event": "run_started", "flow": self.flow, "run_id": self.run_id, "pid": self.pid}

    def _task_line(self, m: re.Match[str]) -> list[Event]:
        events: list[Event] = []
        if not self._started_sent:
            self.run_id = m["run"]
            events.append(self._run_started())
        step, task_id, msg = m["step"], m["task"], m["msg"]
        stamps = _ONE_TS.findall(m["times"])
        when = parse_time(stamps[-1]) if stamps else self._last_time
        self._last_time = when
        key = (step, task_id)
        base = {"step": step, "task_id": task_id, "run_id": m["run"]}
        task = self._tasks.get(key)
        if msg.startswith(STARTING):
            task = self._tasks[key] = _Task(step, task_id, started=when)
            events.append({"event": "task_started", **base, "time": when,
                           "retry": "retry" in msg or "fallback" in msg})
            return events
        if task is None:
            task = self._tasks[key] = _Task(step, task_id, started=when)
        if msg == FINISHED:
            events.append({"event": "task_finished", **base, "time": when,
                           "duration_ms": _duration(task.started, when)})
            task.lines.clear()
            return events
        if msg in FAILED:
            failure = read_failure(task.lines, self.flow_file)
            if failure.error_type == "Error" and not failure.message:
                failure.message = msg
            events.append({"event": "task_failed", **base, "time": when,
                           "duration_ms": _duration(task.started, when),
                           "file": failure.file, "line": failure.line,
                           "error_type": failure.error_type, "message": failure.message,
                           "traceback": failure.traceback})
            task.lines.clear()
            return events
        if msg == KILLED:
            if task.killed:  # Metaflow prints it once per stream
                return events
            task.killed = True
            events.append({"event": "task_killed", **base, "time": when})
            return events
        if f := FOREACH.match(msg):
            events.append({"event": "foreach", **base, "splits": int(f["n"])})
            return events
        task.lines.append(msg)
        del task.lines[:-MAX_TASK_LINES]
        events.append({"event": "log", "step": step, "task_id": task_id, "stream": "stdout",
                       "line": msg})
        return events


def _duration(start: float | None, end: float | None) -> float:
    if start is None or end is None:
        return 0.0
    return round(max(0.0, end - start) * 1000.0, 1)
