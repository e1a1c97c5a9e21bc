"""The runs engine on real Metaflow runs: a foreach with a parameter, cancel then resume, the
list of past runs; plus the console-line parser on Metaflow's own output format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import metaflow_env, write_flow
from flowspin.runs import LineParser, RunManager, RunProgress, list_runs

FOREACH_FLOW = """
from metaflow import FlowSpec, Parameter, step


class FanFlow(FlowSpec):
    width = Parameter("width", default=2, type=int)
    label = Parameter("label", default="x")

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.square, foreach="items")

    @step
    def square(self):
        print("squaring", self.input)
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.tagged = f"{self.label}:{self.total}"


if __name__ == "__main__":
    FanFlow()
"""

WAIT_FLOW = """
import os
import time

from metaflow import FlowSpec, step


class WaitFlow(FlowSpec):
    @step
    def start(self):
        self.x = 41
        self.next(self.wait)

    @step
    def wait(self):
        print("waiting", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.05)
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WaitFlow()
"""


def client_value(workdir: Path, expr: str) -> Any:
    """Evaluate `expr` with Metaflow's Client in a fresh process confined to `workdir`."""
    code = f"import json\nfrom metaflow import Flow, Run\nprint(json.dumps({expr}))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=metaflow_env(workdir),
        capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real foreach run with parameters, through the engine."""
    workdir = tmp_path_factory.mktemp("fan")
    flow = write_flow(workdir, FOREACH_FLOW)
    events: list[dict[str, Any]] = []
    handle = RunManager().start_run(
        flow, {"width": 3, "label": "hello"}, ["--max-workers", "2"],
        metaflow_env(workdir), events.append,
    )
    result = handle.wait(300)
    assert result is not None
    return {"workdir": workdir, "flow": flow, "events": events, "result": result,
            "handle": handle}


def test_foreach_run_reports_every_step_done_with_task_counts(fan: dict[str, Any]) -> None:
    result = fan["result"]
    assert result.status == "ok", result.output_tail
    steps = result.steps
    assert list(steps) == ["start", "square", "join", "end"]
    assert {name: s["status"] for name, s in steps.items()} == dict.fromkeys(steps, "done")
    assert steps["square"]["tasks"] == 3 and steps["square"]["done"] == 3
    assert steps["start"]["tasks"] == 1
    assert steps["square"]["expected"] == 3  # the foreach width, announced by start
    assert fan["handle"].progress.step("square").describe().endswith("(3 tasks)")
    assert all(s["duration_ms"] > 0 for s in steps.values())
    # the live progress object the language server reads says the same
    assert fan["handle"].progress.step("square").tasks == 3
    kinds = [e["event"] for e in fan["events"]]
    assert kinds[0] == "log" and "run_started" in kinds and kinds[-1] == "run_finished"
    started = [e for e in fan["events"] if e["event"] == "task_started"]
    assert sorted(e["step"] for e in started).count("square") == 3
    logs = [e for e in fan["events"] if e["event"] == "log" and e["step"] == "square"]
    assert {e["line"] for e in logs} == {"squaring 0", "squaring 1", "squaring 2"}


def test_run_id_and_parameters_reach_metaflow(fan: dict[str, Any]) -> None:
    run_id = fan["result"].run_id
    started = next(e for e in fan["events"] if e["event"] == "run_started")
    assert started["run_id"] == run_id and started["flow"] == "FanFlow"
    assert started["pid"] == fan["handle"].pid
    got = client_value(
        fan["workdir"], f"[Run('FanFlow/{run_id}').successful, "
        f"Run('FanFlow/{run_id}')['end'].task['tagged'].data]",
    )
    assert got == [True, "hello:5"]  # 0 + 1 + 4, with the label passed through


def test_runs_lists_past_runs_newest_first_with_parameters(fan: dict[str, Any]) -> None:
    runs = list_runs(fan["flow"], env=metaflow_env(fan["workdir"]))
    assert [r.run_id for r in runs] == [fan["result"].run_id]
    info = runs[0]
    assert info.status == "ok" and info.user == "tester" and info.flow == "FanFlow"
    assert info.parameters == {"width": "3", "label": "'hello'"}
    # and through the CLI, in JSON
    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "runs", str(fan["flow"]), "--json"],
        env=metaflow_env(fan["workdir"]), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert listed["flow"] == "FanFlow"
    assert [r["run_id"] for r in listed["runs"]] == [fan["result"].run_id]


def test_a_flow_never_run_lists_no_runs(workdir: Path) -> None:
    flow = write_flow(workdir, FOREACH_FLOW)
    assert list_runs(flow, env=metaflow_env(workdir)) == []
    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "runs", str(flow)],
        env=metaflow_env(workdir), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0 and "FanFlow: no runs yet" in proc.stdout


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cancel_mid_run_then_resume_completes(workdir: Path) -> None:
    flow = write_flow(workdir, WAIT_FLOW)
    env = metaflow_env(workdir)
    waiting = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "log" and event["step"] == "wait" and event["line"] == "waiting":
            waiting.set()

    manager = RunManager()
    handle = manager.start_run(flow, {}, [], env, on_event)
    assert waiting.wait(180), "the wait step never started"
    assert handle.progress.step("wait").status == "running"
    handle.cancel(grace_s=20)
    result = handle.wait(120)
    assert result is not None and result.status == "cancelled"
    assert result.steps["start"]["status"] == "done"
    assert result.steps["wait"]["status"] == "cancelled"
    assert result.steps["wait"]["duration_ms"] > 0  # it ran until it was stopped
    assert result.failures == []  # the KeyboardInterrupt it died of is no failure to show
    assert result.steps["end"]["status"] == "pending"
    # no Metaflow process of the run is left behind (the group empties once tasks exit)
    gone = threading.Event()
    for _ in range(200):
        if not group_alive(handle.pid):
            gone.set()
            break
        gone.wait(0.05)
    assert gone.is_set()

    (workdir / "go").write_text("")
    events: list[dict[str, Any]] = []
    resumed = manager.start_resume(flow, None, result.run_id, [], env, events.append)
    after = resumed.wait(300)
    assert after is not None and after.status == "ok", after and after.output_tail
    assert after.run_id != result.run_id
    assert {n: s["status"] for n, s in after.steps.items()} == {
        "start": "done", "wait": "done", "end": "done"
    }
    cloned = [e["step"] for e in events if e["event"] == "task_finished" and e.get("cloned")]
    assert cloned == ["start"]
    y = client_value(workdir, f"Run('WaitFlow/{after.run_id}')['wait'].task['y'].data")
    assert y == 42


# --- the console parser on Metaflow's own format (recorded lines, no process) ---------------

def _line(task: str, msg: str, t: str = "00:00:01.000", pid: bool = True) -> str:
    p = " (pid 7)" if pid else ""
    return f"2026-01-02 {t} [17/{task}{p}] {msg}"


def test_parser_reads_failures_retries_and_clones(tmp_path: Path) -> None:
    flow = tmp_path / "flow.py"
    helper = tmp_path / "helper.py"
    lines = [
        "Metaflow 2.19.39 executing AFlow for user:tester",
        "2026-01-02 00:00:00.500 Workflow starting (run-id 17):",
        _line("start/1", "Cloning previously run task 16/start/1", pid=False),
        _line("a/2", "Task is starting.", "00:00:01.000"),
        _line("a/2", "Traceback (most recent call last):"),
        _line("a/2", 'File "/venv/site-packages/metaflow/task.py", line 113, in _exec'),
        _line("a/2", "step_function()"),
        _line("a/2", f'File "{flow}", line 12, in a'),
        _line("a/2", "helper.go()"),
        _line("a/2", f'File "{helper}", line 3, in go'),
        _line("a/2", "raise KeyError('k')"),
        _line("a/2", "^^^^^^^^^^^^^^^^^^"),
        _line("a/2", "KeyError: 'k'"),
        _line("a/2", ""),
        _line("a/2", "Task failed.", "00:00:02.250"),
        _line("a/2", "Task is starting (retry).", "00:00:03.000"),
        _line("a/2", "Task finished successfully.", "00:00:03.500"),
        _line("b/3", "Task is starting.", "00:00:04.000"),
        _line("b/3", "[KILLED BY ORCHESTRATOR]"),
        _line("b/3", "[KILLED BY ORCHESTRATOR]"),
    ]
    parser = LineParser(flow)
    events = [e for raw in lines for e in parser.feed(raw + "\n")]
    progress = RunProgress(step_names=["start", "a", "b", "end"])
    for e in events:
        progress.consume(e)
    kinds = [e["event"] for e in events if e["event"] != "log"]
    assert kinds == [
        "run_started", "task_started", "task_finished", "task_started", "task_failed",
        "task_started", "task_finished", "task_started", "task_killed",
    ]
    assert parser.flow == "AFlow" and parser.run_id == "17"
    failed = next(e for e in events if e["event"] == "task_failed")
    # the flow file's frame, not the helper's: that is the line in the file being edited
    assert (failed["file"], failed["line"]) == (str(flow), 12)
    assert (failed["error_type"], failed["message"]) == ("KeyError", "'k'")
    assert failed["duration_ms"] == 1250.0
    assert failed["traceback"].startswith("Traceback (most recent call last):\nFile")
    assert "metaflow/task.py" not in failed["traceback"]
    steps = progress.summary()
    assert steps["start"]["status"] == "done"  # cloned by resume
    assert steps["a"] == {"status": "done", "tasks": 1, "done": 1, "failed": 0,
                          "duration_ms": 2500.0}  # the retry succeeded
    assert steps["b"]["status"] == "failed" and steps["end"]["status"] == "pending"
    assert progress.step("a").describe() == "done in 2.5 s"
    assert progress.step("end").describe() == "pending"
    progress.consume({"event": "run_finished", "status": "failed"})
    assert progress.status == "failed"


def test_parser_reads_clone_lines_that_threads_interleaved() -> None:
    # Metaflow 2.19 clones a resume's tasks from several threads; seen on its console as is.
    lines = [
        "2026-12-01 20:48:14.067 Workflow starting (run-id 1796158094057992):",
        "2026-12-01 20:48:14.067 Cloning RunsFlow/1796158091377677",
        "2026-12-01 20:48:14.935 2026-12-01 20:48:14.936 2026-12-01 20:48:14.938 "
        "[1796158094057992/start/2] Cloning previously run task 1796158091377677/start/1",
        "[1796158094057992/square/1] Cloning previously run task 1796158091377677/square/2",
        "[1796158094057992/square/4] Cloning previously run task 1796158091377677/square/3",
        "2026-12-01 21:21:16.979 2026-12-01 21:21:16.980 [1796158094057992/join/3] "
        "[1796158094057992/end/5] Cloning previously run task 1796158091377677/join/2",
        "Cloning previously run task 1796158091377677/end/6",
        "[elsewhere/not/ours] printed by nobody we know",
    ]
    parser = LineParser()
    events = [e for raw in lines for e in parser.feed(raw + "\n")]
    cloned = [(e["step"], e["task_id"]) for e in events if e.get("cloned")]
    assert cloned == [("start", "2"), ("square", "1"), ("square", "4"), ("join", "3"), ("end", "5")]
    assert all(e["time"] is not None for e in events if e.get("cloned"))
    assert events[-1] == {"event": "log", "step": None, "task_id": None, "stream": "stdout",
                          "line": "[elsewhere/not/ours] printed by nobody we know"}
