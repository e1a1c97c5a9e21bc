"""Run events as the short lines people read: the CLI prints them, the editor's run output
channel shows them. One wording for both, so a run reads the same wherever it was started."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Event = dict[str, Any]


def secs(ms: float) -> str:
    return f"{ms / 1000.0:.1f} s"


def event_line(event: Event, short: Callable[[str], str] = str) -> str | None:
    """The line for one event (None for events that only feed the summary)."""
    kind = event["event"]
    where = f"{event.get('step')}/{event.get('task_id')}"
    if kind == "log":
        prefix = f"[{where}] " if event.get("step") else ""
        return f"{prefix}{event['line']}"
    if kind == "run_started":
        return f"flowspin: {event['flow']} run {event['run_id']} (pid {event['pid']})"
    if kind == "task_started":
        return f"  {where:<24} running"
    if kind == "task_finished":
        note = "cloned" if event.get("cloned") else f"done in {secs(event['duration_ms'])}"
        return f"  {where:<24} {note}"
    if kind == "task_failed":
        at = f" ({short(event['file'])}:{event['line']})" if event.get("file") else ""
        return f"  {where:<24} FAILED{at}: {event['error_type']}: {event['message']}"
    if kind == "task_cancelled":
        return f"  {where:<24} cancelled"
    return None


ResumeHint = Callable[[str | None], str]


def summary_lines(event: Event, resume_hint: ResumeHint) -> list[str]:
    """A `run_finished` event as a per-step table and one closing sentence. `resume_hint(step)`
    says how the reader resumes (from `step`, or where the run stopped), since that differs
    between the shell and the editor."""
    steps = event["steps"]
    width = max([len(s) for s in steps] + [4])
    lines = ["", f"{'step':<{width}}  {'status':<9} {'tasks':>5} {'done':>5} {'failed':>6}  time"]
    for name, st in steps.items():
        lines.append(
            f"{name:<{width}}  {st['status']:<9} {st['tasks']:>5} {st['done']:>5} "
            f"{st['failed']:>6}  {secs(st['duration_ms']) if st['tasks'] else '-'}"
        )
    lines.append("")
    lines.append(outcome(event, resume_hint))
    return lines


def outcome(event: Event, resume_hint: ResumeHint) -> str:
    """One sentence: how the run ended and what to do next."""
    steps = event.get("steps") or {}
    flow, run_id = event.get("flow"), event.get("run_id")
    name = f"{flow}/{run_id}" if run_id else str(flow)
    status = event["status"]
    if status == "ok":
        return f"Run {name} succeeded in {secs(event['duration_ms'])}."
    if status == "cancelled":
        return f"Run {name} cancelled. Continue it with: {resume_hint(None)}"
    failed = [s for s, st in steps.items() if st["status"] == "failed"]
    hint = f" Fix it, then: {resume_hint(failed[0])}" if failed and run_id else ""
    return f"Run {name} failed.{hint}"


def relative_to_cwd(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


_ICONS = {"pending": "○", "running": "●", "done": "✓", "failed": "✗", "cancelled": "■"}


def lens_label(run_id: str | None, step: Any, finished: bool) -> str:
    """A step's status in a run, for the code lens above it: `✓ run 1795…: done in 0.4 s`.
    Pending steps of a finished run did not run at all, which is what it says."""
    text = step.describe()
    if finished and step.status == "pending":
        text = "not run"
    elif finished and step.status == "running":
        text = "unfinished"
    run = f"run {run_id}" if run_id else "run"
    return f"{_ICONS.get(step.status, '•')} {run}: {text}"


def progress_line(steps: dict[str, Any]) -> str:
    """`2/4 steps done · train running 1/3`: the run's state in one line."""
    done = sum(1 for s in steps.values() if s.status == "done")
    running = [f"{n} {s.describe()}" for n, s in steps.items() if s.status == "running"]
    failed = [n for n, s in steps.items() if s.status == "failed"]
    parts = [f"{done}/{len(steps)} steps done"] + running
    if failed:
        parts.append("failed: " + ", ".join(failed))
    return " · ".join(parts)
