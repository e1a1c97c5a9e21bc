"""Per-step status of a run, aggregated from run events.

Pure and cheap: the CLI's summary table, the language server's code lenses and status bar all
read one `RunProgress` that the run's reader thread feeds. A step's duration is its wall-clock
span (first task start to last task end), so a foreach of parallel tasks reads as the time the
user waited, not the sum of its tasks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


@dataclass
class _TaskState:
    status: str  # running | done | failed | cancelled
    started: float | None = None
    ended: float | None = None


@dataclass
class StepProgress:
    status: str = "pending"  # pending | running | done | failed | cancelled
    tasks: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    duration_ms: float = 0.0
    expected: int | None = None  # foreach width, once the parent announced it

    def describe(self) -> str:
        """A short label for a code lens or status bar: `done in 1.2 s (3 tasks)`."""
        width = self.expected if self.expected is not None else self.tasks
        many = width > 1 or self.expected is not None
        secs = f"{self.duration_ms / 1000.0:.1f} s"
        if self.status == "pending":
            return "pending"
        if self.status == "running":
            return f"running {self.done}/{width}" if many else "running"
        if self.status == "done":
            return f"done in {secs}" + (f" ({self.tasks} tasks)" if many else "")
        if self.status == "failed":
            return f"failed ({self.failed} of {self.tasks} tasks)" if many else "failed"
        return self.status

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "tasks": self.tasks,
            "done": self.done,
            "failed": self.failed,
            "duration_ms": self.duration_ms,
        }
        if self.expected is not None:
            out["expected"] = self.expected
        return out


@dataclass
class RunProgress:
    """Consumes events (`consume`) and answers "what is each step doing" (`steps`)."""

    step_names: list[str] = field(default_factory=list)  # from the static model, in order
    next_steps: dict[str, list[str]] = field(default_factory=dict)  # foreach parent -> child
    run_id: str | None = None
    status: str = "starting"  # starting | running | ok | failed | cancelled
    _tasks: dict[str, dict[str, _TaskState]] = field(default_factory=dict)
    _expected: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def consume(self, event: Event) -> None:
        kind = event.get("event")
        with self._lock:
            if kind == "run_started":
                self.run_id = event.get("run_id")
                self.status = "running"
                return
            if kind == "run_finished":
                self.status = event.get("status", self.status)
                ended = "cancelled" if self.status == "cancelled" else "failed"
                for tasks in self._tasks.values():
                    for state in tasks.values():
                        if state.status == "running":
                            state.status = ended
                            state.ended = event.get("time", state.ended)
                return
            if kind == "foreach":
                for child in self.next_steps.get(event["step"], []):
                    self._expected[child] = event["splits"]
                return
            step, task_id = event.get("step"), event.get("task_id")
            if step is None or task_id is None:
                return
            tasks = self._tasks.setdefault(step, {})
            when = event.get("time")
            if kind == "task_started":
                previous = tasks.get(task_id)
                if previous is not None and event.get("retry"):
                    # a retry: the step's time includes the failed attempt the user waited for
                    previous.status, previous.ended = "running", None
                else:
                    tasks[task_id] = _TaskState("running", started=when)
            elif kind in ("task_finished", "task_failed", "task_killed", "task_cancelled"):
                state = tasks.setdefault(task_id, _TaskState("running", started=when))
                if kind == "task_finished":
                    state.status = "done"
                elif kind == "task_failed":
                    state.status = "failed"
                elif kind == "task_cancelled":
                    state.status = "cancelled"
                elif state.status == "running":
                    state.status = "cancelled" if self.status == "cancelled" else "failed"
                state.ended = when

    def step(self, name: str) -> StepProgress:
        with self._lock:
            return self._step(name)

    def _step(self, name: str) -> StepProgress:
        tasks = self._tasks.get(name, {})
        out = StepProgress(tasks=len(tasks), expected=self._expected.get(name))
        for state in tasks.values():
            if state.status == "done":
                out.done += 1
            elif state.status in ("failed", "cancelled"):
                out.failed += 1
            else:
                out.running += 1
        starts = [s.started for s in tasks.values() if s.started is not None]
        ends = [s.ended for s in tasks.values() if s.ended is not None]
        if starts and ends:
            out.duration_ms = round(max(0.0, max(ends) - min(starts)) * 1000.0, 1)
        if not tasks:
            out.status = "pending"
        elif out.running:
            out.status = "running"
        elif any(s.status == "failed" for s in tasks.values()):
            out.status = "failed"
        elif any(s.status == "cancelled" for s in tasks.values()):
            out.status = "cancelled"
        elif out.expected is not None and out.tasks < out.expected:
            out.status = "running"  # more splits to come
        else:
            out.status = "done"
        return out

    def steps(self) -> dict[str, StepProgress]:
        """Every known step: the model's steps in source order first, then any others seen."""
        with self._lock:
            names = list(self.step_names) + [n for n in self._tasks if n not in self.step_names]
            return {name: self._step(name) for name in names}

    def summary(self) -> dict[str, dict[str, Any]]:
        return {name: sp.as_dict() for name, sp in self.steps().items()}
