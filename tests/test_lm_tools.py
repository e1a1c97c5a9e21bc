"""The VS Code language-model tools: declared in package.json exactly as the MCP tools are
defined, and answered by `python -m flowspin.mcp.call` (what the extension spawns)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, metaflow_env, run_metaflow, write_flow
from flowspin.mcp.lmtools import language_model_tools
from mcp_session import stop_daemon

FLOW = """
from metaflow import FlowSpec, step


class ToolFlow(FlowSpec):
    @step
    def start(self):
        self.values = [1, 2, 3]
        self.next(self.compute)

    @step
    def compute(self):
        self.total = sum(self.values)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ToolFlow()
"""


# The extension runs the bridge with the user's interpreter, which has flowspin but not
# necessarily the `mcp` extra: the bridge must answer with the MCP SDK unimportable.
WITHOUT_MCP_SDK = """
import runpy, sys

class NoMCP:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("mcp", "mcp_types"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoMCP())
sys.argv = ["flowspin.mcp.call", *sys.argv[1:]]
runpy.run_module("flowspin.mcp.call", run_name="__main__")
"""


def bridge(tool: str) -> list[str]:
    """`python -m flowspin.mcp.call TOOL` as the extension spawns it, without the MCP SDK."""
    return [sys.executable, "-c", WITHOUT_MCP_SDK, tool]


def call(workdir: Path, tool: str, args: dict) -> dict:
    proc = subprocess.run(
        bridge(tool),
        input=json.dumps(args),
        cwd=workdir,
        env=metaflow_env(workdir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_manifest_declares_the_generated_tools() -> None:
    manifest = json.loads((REPO / "package.json").read_text())
    declared = manifest["contributes"]["languageModelTools"]
    assert declared == language_model_tools(), "run: python -m flowspin.mcp.lmtools"
    assert {t["name"] for t in declared} == {
        "flowspin_spin",
        "flowspin_check",
        "flowspin_run",
        "flowspin_showArtifact",
    }
    source = (REPO / "extension" / "lmTools.ts").read_text()
    for tool in declared:
        assert f"'{tool['name']}'" in source  # every declared tool is registered


def test_spin_check_and_show_artifact_through_the_bridge(workdir: Path) -> None:
    flow = write_flow(workdir, FLOW)
    try:
        assert call(workdir, "check", {"file": "flow.py"})["result"]["ok"] is True
        missing = call(workdir, "spin", {"file": "flow.py", "step": "compute"})
        assert missing["ok"] is False
        assert missing["result"]["error"]["type"] == "MissingBaseRun"
        assert "`run` tool" in missing["result"]["hint"]  # says how to make a base run
        run_metaflow(flow, "run")
        spun = call(workdir, "spin", {"file": "flow.py", "step": "compute"})
        assert spun["ok"] and spun["result"]["status"] == "ok", spun
        shown = call(
            workdir, "show_artifact", {"file": "flow.py", "step": "compute", "name": "total"}
        )
        assert shown["ok"] and "6" in json.dumps(shown["result"]), shown
        flow.write_text(FLOW.replace("sum(self.values)", "sum(self.values) / 0"))
        broken = call(workdir, "spin", {"file": "flow.py", "step": "compute"})
        text = json.dumps(broken)
        assert "ZeroDivisionError" in text and "flow.py" in text and ":13" in text, text
        gone = call(workdir, "check", {"file": "nope.py"})
        assert gone == {"ok": False, "error": gone["error"]} and "does not exist" in gone["error"]
    finally:
        stop_daemon(workdir)


NAP_FLOW = """
import os
import time

from metaflow import FlowSpec, step


class NapFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.nap)

    @step
    def nap(self):
        if os.path.exists({marker!r}):  # absent for the base run, present for what is cancelled
            open({napping!r}, "w").close()
            time.sleep(300)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NapFlow()
"""


def _cancel_midway(workdir: Path, tool: str, args: dict, napping: Path) -> tuple[dict, float]:
    """Start the bridge, wait until the step naps, SIGINT it as the extension does when the
    agent's call is cancelled; its answer and how long it took to give it."""
    proc = subprocess.Popen(
        bridge(tool),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=workdir,
        env=metaflow_env(workdir),
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(args))
    proc.stdin.close()
    deadline = time.monotonic() + 120
    while not napping.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"{tool} never reached the napping step"
        time.sleep(0.1)  # polling a file the step writes, not waiting for an outcome
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    took = time.monotonic() - sent
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err
    return json.loads(out), took


def _processes_of(flow: Path) -> list[int]:
    """Live processes whose command line names `flow` (a Metaflow run and its tasks)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        if flow.name.encode() in cmdline and cwd == flow.parent:
            found.append(int(entry.name))
    return found


def test_cancelling_a_tool_call_stops_the_spin_and_the_run(workdir: Path) -> None:
    """The user stops the agent mid-call: the spin is cancelled in its (shared, warm) worker
    instead of holding it for minutes, and the run stops instead of going on orphaned."""
    marker, napping = workdir / "nap-now", workdir / "napping"
    flow = write_flow(workdir, NAP_FLOW.format(marker=str(marker), napping=str(napping)))
    try:
        run_metaflow(flow, "run")
        marker.touch()
        spun, spin_s = _cancel_midway(workdir, "spin", {"file": "flow.py", "step": "nap"}, napping)
        assert spun["ok"] is False and spun["result"]["status"] == "cancelled", spun
        assert spin_s < 30  # answered when cancelled, not when the 300 s nap ended

        napping.unlink()
        ran, run_s = _cancel_midway(workdir, "run", {"file": "flow.py"}, napping)
        assert ran["ok"] is False and ran["result"]["status"] == "cancelled", ran
        assert ran["result"]["steps"]["nap"]["status"] == "cancelled"
        assert run_s < 60
        deadline = time.monotonic() + 60
        while _processes_of(flow):
            assert time.monotonic() < deadline, f"Metaflow still running: {_processes_of(flow)}"
            time.sleep(0.1)  # polling the process table for the run's processes to exit
    finally:
        stop_daemon(workdir)


def test_the_bridge_stays_inside_the_workspace(workdir: Path) -> None:
    """The editor's agent tools take the same confinement as MCP: no flow outside the
    workspace folder (by path or by symlink), and no free-form Metaflow arguments."""
    ws = workdir / "ws"
    outside = workdir / "outside"
    ws.mkdir()
    outside.mkdir()
    write_flow(ws, FLOW)
    evil = write_flow(outside, FLOW.replace("pass", "open(__file__ + '.ran', 'w')"), "evil.py")
    (ws / "linked.py").symlink_to(evil)
    for tool in ("check", "spin", "run", "show_artifact"):
        for file in ("../outside/evil.py", "linked.py"):
            args = {"file": file, "step": "start", "name": "x"} if tool != "run" else {
                "file": file
            }
            out = call(ws, tool, args)
            assert out["ok"] is False and "outside the workspace" in out["error"], out
    precious = outside / "precious.txt"
    precious.write_text("keep me")
    old = call(ws, "run", {"file": "flow.py", "extra_args": ["--run-id-file", str(precious)]})
    assert old["ok"] is False and "takes no argument extra_args" in old["error"], old
    assert precious.read_text() == "keep me"
    assert not Path(f"{evil}.ran").exists()


def test_a_workspace_at_the_filesystem_root_confines_nothing_and_is_refused() -> None:
    """A bridge (or MCP server) started in `/` would accept any path as "inside"."""
    out = call(Path("/"), "check", {"file": "etc/hostname"})
    assert out["ok"] is False and "filesystem root" in out["error"], out
