"""`flowspin run` and `flowspin runs` as a user types them: real Metaflow runs, JSON events,
exit codes, failures at the flow file's line, clear errors for files that are not flows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import metaflow_env, write_flow
from flowspin.runs import list_runs

LINEAR_FLOW = """
from metaflow import FlowSpec, step


class LineFlow(FlowSpec):
    @step
    def start(self):
        self.a = 1
        self.next(self.middle)

    @step
    def middle(self):
        print("in the middle")
        self.b = self.a + 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LineFlow()
"""

FAILING_FLOW = """
from metaflow import FlowSpec, step


class BadFlow(FlowSpec):
    @step
    def start(self):
        self.rows = [1, 2]
        self.next(self.broken)

    @step
    def broken(self):
        total = sum(self.rows)
        self.ratio = total / 0  # the failing line
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BadFlow()
"""


def flowspin(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowspin", *args], cwd=workdir, env=metaflow_env(workdir),
        capture_output=True, text=True, timeout=300,
    )


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_linear_run_json_events_and_client_agree(workdir: Path) -> None:
    flow = write_flow(workdir, LINEAR_FLOW)
    proc = flowspin(workdir, "run", str(flow), "--json", "--", "--tag", "cli")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = events_of(proc.stdout)
    started = next(e for e in events if e["event"] == "run_started")
    finished = events[-1]
    assert finished["event"] == "run_finished" and finished["status"] == "ok"
    assert finished["run_id"] == started["run_id"]
    assert list(finished["steps"]) == ["start", "middle", "end"]
    assert all(s["status"] == "done" and s["tasks"] == 1 for s in finished["steps"].values())
    order = [(e["event"], e["step"]) for e in events if e["event"].startswith("task_")]
    assert order == [
        ("task_started", "start"), ("task_finished", "start"),
        ("task_started", "middle"), ("task_finished", "middle"),
        ("task_started", "end"), ("task_finished", "end"),
    ]
    assert {"event": "log", "step": "middle", "task_id": "2", "stream": "stdout",
            "line": "in the middle"} in events
    runs = list_runs(flow, env=metaflow_env(workdir))
    assert [(r.run_id, r.status) for r in runs] == [(started["run_id"], "ok")]
    assert "cli" in runs[0].tags  # the extra Metaflow arguments went through


def test_failing_step_points_at_the_flow_line(workdir: Path) -> None:
    flow = write_flow(workdir, FAILING_FLOW)
    bad_line = flow.read_text().splitlines().index(
        "        self.ratio = total / 0  # the failing line") + 1
    proc = flowspin(workdir, "run", str(flow), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    events = events_of(proc.stdout)
    failed = [e for e in events if e["event"] == "task_failed"]
    assert len(failed) == 1
    f = failed[0]
    assert (f["step"], f["file"], f["line"]) == ("broken", str(flow.resolve()), bad_line)
    assert f["error_type"] == "ZeroDivisionError" and f["message"] == "division by zero"
    assert "total / 0" in f["traceback"]
    finished = events[-1]
    assert finished["status"] == "failed" and finished["run_id"] == f["run_id"]
    assert {n: s["status"] for n, s in finished["steps"].items()} == {
        "start": "done", "broken": "failed", "end": "pending"
    }
    # the human summary of the same run (nothing re-run: `runs` reads it back)
    listed = flowspin(workdir, "runs", str(flow))
    assert listed.returncode == 0, listed.stderr
    assert f["run_id"] in listed.stdout and "failed" in listed.stdout


def test_not_a_flow_is_a_clear_error(workdir: Path) -> None:
    plain = write_flow(workdir, "x = 1\n", name="plain.py")
    for args in (("run", str(plain)), ("runs", str(plain)),
                 ("run", str(workdir / "missing.py"))):
        proc = flowspin(workdir, *args)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stdout == ""
        name = Path(args[1]).name
        assert name in proc.stderr
        assert "no Metaflow flow" in proc.stderr or "no such file" in proc.stderr
    flow = write_flow(workdir, LINEAR_FLOW)
    wrong = flowspin(workdir, "run", str(flow), "--resume", "midle")
    assert wrong.returncode == 2 and "no step 'midle'" in wrong.stderr
    assert "start, middle, end" in wrong.stderr
    bad = flowspin(workdir, "run", str(plain), "--param", "oops")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr
    assert not (workdir / ".metaflow").exists()  # Metaflow was never started
