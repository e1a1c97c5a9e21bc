"""flowspin's language-model tools in a real VS Code (code-server + chromium, see
test_vscode_extension.py), called through `vscode.lm.invokeTool` as agent mode calls them.

No language model runs on a test machine, so a test-only extension (tests/e2e/lm_probe/)
stands in for the agent: installed next to the packaged flowspin, it lists `vscode.lm.tools`
and invokes the tools named in a request file when its command runs from the palette. The
driver (drive_lm.mjs) answers VS Code's own confirmation dialog for `flowspin_run` as a user.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, metaflow_env
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    code_server,
    drive,
    package_vsix,
    require_prerequisites,
    run,
)

pytestmark = pytest.mark.e2e

FLOW = textwrap.dedent(
    """\
    from metaflow import FlowSpec, step


    class ToolsFlow(FlowSpec):
        @step
        def start(self):
            self.values = [1, 2, 3]
            self.next(self.compute)

        @step
        def compute(self):
            self.total = sum(self.values)
            print("total is", self.total)
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        ToolsFlow()
    """
)
COMPUTE_LINE = FLOW.splitlines().index("        self.total = sum(self.values)") + 1

BAD = FLOW.replace("ToolsFlow", "BadFlow").replace(
    "self.next(self.compute)", "self.next(self.comptue)"
)
BAD_LINE = BAD.splitlines().index("        self.next(self.comptue)") + 1

TOOLS = {"flowspin_spin", "flowspin_check", "flowspin_run", "flowspin_showArtifact"}
PROBE = Path(__file__).with_name("lm_probe")


# Who serves the workspace's spin socket (its command line), and its warm workers.
SOCKET_STATUS = """
import json, sys
from pathlib import Path
from flowspin.daemon import client

(status,) = list(client.request(Path(sys.argv[1]), {"type": "status"}))
cmdline = Path(f"/proc/{status['pid']}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
print(json.dumps({"cmdline": cmdline, "workers": status["workers"]}))
"""


def _package_probe(out: Path) -> Path:
    """The probe as a .vsix, installed like flowspin (an unpacked folder in the extensions
    dir is not picked up once --install-extension has written the dir's extensions.json)."""
    vsce = REPO / "node_modules" / ".bin" / "vsce"
    run(
        [str(vsce), "package", "--no-dependencies", "--skip-license", "--allow-missing-repository"]
        + ["--out", str(out)],
        cwd=PROBE,
        timeout=120,
    )
    return out


def _payload(result: dict) -> dict:
    """What the tool answered: the JSON text flowspin puts in its one text part."""
    assert result["ok"], f"invokeTool failed: {result}"
    return json.loads(result["text"])


def test_language_model_tools_are_listed_and_callable_in_real_vscode(tmp_path: Path) -> None:
    require_prerequisites("the language-model tools test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    probe = _package_probe(tmp_path / "lm-probe.vsix")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "flow.py").write_text(FLOW)
    (workspace / "bad.py").write_text(BAD)
    request, output = tmp_path / "probe-request.json", tmp_path / "probe-output.jsonl"
    bare = tmp_path / "bare-venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(bare)], timeout=120)
    bare_python = bare / "bin" / "python"

    spin_args = {"file": "flow.py", "step": "compute"}
    rounds = [
        # A fresh window, no Python file open: the tools are there from the manifest, and
        # calling one activates flowspin.
        {"calls": [{"id": "check", "tool": "flowspin_check", "input": {"file": "bad.py"}}]},
        # With the flow open and the cursor in `compute`, the language server serves the
        # workspace's spin socket, so the agent's spins land in the editor's warm worker.
        {
            "open": {"name": "flow.py", "line": COMPUTE_LINE},
            "waitForPath": str(workspace / ".flowspin" / "daemon.sock"),
            "calls": [
                {"id": "spin-before-run", "tool": "flowspin_spin", "input": spin_args},
                {
                    "id": "run-declined",
                    "tool": "flowspin_run",
                    "input": {"file": "flow.py"},
                    "dialog": "cancel",
                },
                {
                    "id": "run",
                    "tool": "flowspin_run",
                    "input": {"file": "flow.py"},
                    "dialog": "accept",
                    "timeoutSeconds": 300,
                },
                {"id": "spin", "tool": "flowspin_spin", "input": spin_args},
                {
                    "id": "show",
                    "tool": "flowspin_showArtifact",
                    "input": {**spin_args, "name": "total"},
                },
            ],
            "after": [sys.executable, "-c", SOCKET_STATUS, str(workspace)],
        },
        # The project points flowspin.python at an interpreter without flowspin: the agent is
        # told so, and what to do, instead of getting a traceback.
        {
            "workspaceSettings": {
                "path": str(workspace / ".vscode" / "settings.json"),
                "content": {"flowspin.python": str(bare_python)},
            },
            "calls": [{"id": "no-flowspin", "tool": "flowspin_check", "input": {"file": "bad.py"}}],
        },
    ]
    settings = {
        # AI features stay on, as for anyone using agent mode. (With chat.disableAIFeatures
        # the tools are still listed and callable in 1.139.)
        "chat.disableAIFeatures": False,
        "flowspin.python": sys.executable,
        "flowspinLmProbe.request": str(request),
    }
    env = metaflow_env(workspace)
    with code_server(tmp_path, workspace, env, [vsix, probe], settings) as url:
        config = {
            "url": url,
            "workspace": str(workspace),
            "chromium": str(CHROMIUM),
            "artifacts": str(ARTIFACTS),
            "requestFile": str(request),
            "outputFile": str(output),
            "commandTitle": "LM Probe: Invoke flowspin Tools",
            "rounds": rounds,
            "timeoutSeconds": 120,
        }
        try:
            checks = drive("drive_lm.mjs", config, tmp_path)
        except AssertionError:
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(tmp_path / "code-server.log", ARTIFACTS / "code-server-lm-tools.log")
            raise

    results = {c["id"]: c for c in checks if c["check"] == "result"}
    socket_status = json.loads(next(c for c in checks if c["check"] == "after")["output"])
    dialogs = {c["id"]: c for c in checks if c["check"] == "dialog"}

    # Listed, with the manifest's schemas, before flowspin was even activated.
    first_list = next(c for c in checks if c["check"] == "tools" and c["round"] == 0)
    listed = {t["name"]: t for t in first_list["tools"]}
    assert set(listed) == TOOLS
    assert listed["flowspin_spin"]["required"] == ["file", "step"]
    assert "base run" in listed["flowspin_spin"]["description"]

    # check: the DAG problem with its line, from a file never opened in the editor.
    checked = _payload(results["check"])["result"]
    assert checked["ok"] is False
    (typo,) = [d for d in checked["diagnostics"] if "'comptue'" in d["message"]]
    assert typo["line"] == BAD_LINE and typo["severity"] == "error"

    # spin before any run: says to run first.
    early = _payload(results["spin-before-run"])
    assert early["ok"] is False and early["result"]["error"]["type"] == "MissingBaseRun"
    assert "`run` tool" in early["result"]["hint"]

    # run asks first, in VS Code's own dialog; declining starts nothing.
    declined = dialogs["run-declined"]
    assert declined["message"] == "Run the whole flow?"
    assert "flow.py" in declined["detail"] and "Metaflow" in declined["detail"]
    assert results["run-declined"]["ok"] is False
    assert results["run-declined"]["error"] == "Canceled"
    ran = _payload(results["run"])
    assert ran["ok"] and ran["result"]["status"] == "ok", ran
    run_id = ran["result"]["run_id"]
    assert _metaflow_run_ids(workspace) == [run_id]  # the declined call made no run

    # spin after the run: the step ran against that run's artifacts, in the editor's worker.
    spun = _payload(results["spin"])
    assert spun["ok"] and spun["result"]["status"] == "ok", spun
    assert spun["result"]["base"]["run_id"] == run_id
    assert spun["result"]["changed"]["total"]["repr"] == "6"
    assert "total is 6" in spun["result"]["stdout"]
    assert spun["result"]["via"] == "daemon"
    cmdline = socket_status["cmdline"]
    assert "flowspin" in cmdline and "lsp" in cmdline, cmdline
    assert str(workspace / "flow.py") in socket_status["workers"]

    shown = _payload(results["show"])["result"]
    assert shown["source"]["kind"] == "spin" and shown["value"]["repr"] == "6"

    missing = _payload(results["no-flowspin"])
    assert missing["ok"] is False
    assert f"flowspin is not installed in {bare_python}" in missing["error"]
    assert "flowspin.python" in missing["error"] and "Traceback" not in missing["error"]


def _metaflow_run_ids(workspace: Path) -> list[str]:
    proc = run(
        [sys.executable, "-m", "flowspin", "runs", "flow.py", "--json"],
        cwd=workspace,
        env=metaflow_env(workspace),
        timeout=120,
    )
    return [str(r["run_id"]) for r in json.loads(proc.stdout)["runs"]]
