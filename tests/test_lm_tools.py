"""The VS Code language-model tools: declared in package.json exactly as the MCP tools are
defined, and answered by `python -m flowspin.mcp.call` (what the extension spawns)."""

from __future__ import annotations

import json
import subprocess
import sys
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


def call(workdir: Path, tool: str, args: dict) -> dict:
    """`python -m flowspin.mcp.call TOOL` as the extension spawns it, without the MCP SDK."""
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_MCP_SDK, tool],
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
