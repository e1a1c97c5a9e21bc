"""The `run` tool: Metaflow's own run through MCP, a failure reported at its line, then spins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from conftest import write_flow
from mcp_session import mcp_session, payload, stop_daemon

FLOW = """
from metaflow import FlowSpec, Parameter, step


class RunToolFlow(FlowSpec):
    divisor = Parameter("divisor", default=1)

    @step
    def start(self):
        self.xs = [1, 2]
        self.next(self.divide, foreach="xs")

    @step
    def divide(self):
        self.y = self.input / int(self.divisor)
        print("divided", self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.ys = sorted(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RunToolFlow()
"""
DIVIDE_LINE = FLOW.lstrip().splitlines().index(
    "        self.y = self.input / int(self.divisor)"
) + 1


@pytest.fixture
def project(workdir: Path) -> Iterator[Path]:
    write_flow(workdir, FLOW)
    yield workdir
    stop_daemon(workdir)


async def test_run_reports_failures_at_the_line_then_a_good_run_is_the_base(
    project: Path,
) -> None:
    lines: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        lines.append(message or "")

    async with mcp_session(project) as client:
        bad = await client.call_tool(
            "run", {"file": "flow.py", "params": {"divisor": "0"}}, progress_callback=on_progress
        )
        good = await client.call_tool(
            "run", {"file": "flow.py", "max_workers": 1, "tags": ["mcp-test"]}
        )
        runs = payload(await client.call_tool("list_runs", {"file": "flow.py"}))
        spun = payload(await client.call_tool("spin", {"file": "flow.py", "step": "join"}))

    assert bad.is_error
    failed = payload(bad)
    assert failed["status"] == "error" and failed["run_id"]
    assert failed["steps"]["start"]["status"] == "done"
    assert failed["steps"]["divide"]["status"] == "failed"
    failure = failed["failures"][0]
    assert failure["step"] == "divide" and failure["type"] == "ZeroDivisionError"
    assert failure["file"] == "flow.py" and failure["line"] == DIVIDE_LINE
    assert f"fix flow.py:{DIVIDE_LINE}" in failed["hint"]
    assert any("Workflow starting" in line for line in lines)  # streamed while it ran

    ok = payload(good)
    assert not good.is_error and ok["status"] == "ok"
    assert ok["steps"]["divide"]["status"] == "done" and ok["steps"]["divide"]["tasks"] == 2
    assert list(ok["steps"]) == ["start", "divide", "join", "end"]

    assert [r["run_id"] for r in runs["runs"]] == [ok["run_id"], failed["run_id"]]
    assert runs["runs"][0]["status"] == "ok" and runs["runs"][0]["params"] == {"divisor": "1"}
    assert runs["runs"][0]["tags"] == ["mcp-test"]  # the typed option reached Metaflow

    assert spun["status"] == "ok" and spun["base"]["run_id"] == ok["run_id"]
    assert spun["changed"]["ys"]["repr"] == "[1.0, 2.0]"


SLOW_FLOW = """
import time

from metaflow import FlowSpec, step


class SlowFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.sleepy)

    @step
    def sleepy(self):
        time.sleep(300)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SlowFlow()
"""


def metaflow_processes(folder: Path) -> list[int]:
    """Live processes running `... slow.py ... run` in `folder` (the run and its tasks)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        if b"slow.py" in cmdline and cwd == folder.resolve():
            found.append(int(proc.name))
    return found


async def test_cancelling_a_run_stops_metaflow(workdir: Path) -> None:
    write_flow(workdir, SLOW_FLOW, name="slow.py")
    sleeping = anyio.Event()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        if "sleepy/" in (message or "") and "Task is starting" in (message or ""):
            sleeping.set()

    async with mcp_session(workdir) as client:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(
                    lambda: client.call_tool(
                        "run", {"file": "slow.py"}, progress_callback=on_progress
                    )
                )
                await sleeping.wait()
                assert metaflow_processes(workdir)
                tasks.cancel_scope.cancel()  # the agent's client gives up on the call
        with anyio.fail_after(60):
            while metaflow_processes(workdir):
                await anyio.sleep(0.2)
        runs = payload(await client.call_tool("list_runs", {"file": "slow.py"}))
    assert runs["runs"][0]["status"] == "cancelled"  # the run knows it was cancelled (20.8)
