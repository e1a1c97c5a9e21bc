"""The extension in a real VS Code: code-server (installed by scripts/setup-e2e.sh) driven by
Debian's chromium through playwright-core (tests/e2e/drive.mjs).

One code-server serves the whole module. The extension under test is the packaged .vsix, built
and installed the way a user would (`npm run package`, `--install-extension`), into a fresh
extensions folder; the language server is the test venv's `python -m flowspin lsp`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, metaflow_env
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    NODE,
    code_server,
    package_vsix,
    require_prerequisites,
    run,
)

pytestmark = pytest.mark.e2e


BROKEN = textwrap.dedent(
    """\
    from metaflow import FlowSpec, step


    class BrokenFlow(FlowSpec):
        @step
        def start(self):
            self.x = 1
            self.next(self.missing)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        BrokenFlow()
    """
)
BROKEN_LINE = 8  # self.next(self.missing)
FIXED = BROKEN.replace("self.next(self.missing)", "self.next(self.end)")
STEP_LINE = 7  # inside `start`


@dataclass
class VSCode:
    url: str
    workspace: Path
    flow: Path
    log: Path
    user_data: Path
    no_flowspin_python: Path


@pytest.fixture(scope="module")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension packaged as users get it (`npm run package`)."""
    require_prerequisites("the VS Code end-to-end test")
    return package_vsix(tmp_path_factory.mktemp("vsix") / "flowspin.vsix")


@pytest.fixture(scope="module")
def vscode(vsix: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VSCode]:
    root = tmp_path_factory.mktemp("vscode")
    workspace = root / "workspace"
    workspace.mkdir()
    flow = workspace / "flow.py"
    flow.write_text(BROKEN)
    # A real interpreter without flowspin, for the "not installed" notification.
    bare = root / "bare-venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(bare)], timeout=120)
    settings = {
        "workbench.tips.enabled": False,
        "extensions.autoUpdate": False,
        "files.autoSave": "off",  # so that Spin, not auto save, saves the edit
        "flowspin.python": sys.executable,
        "flowspin.trace": "messages",
    }
    with code_server(root, workspace, metaflow_env(workspace), [vsix], settings) as url:
        assert (root / "extensions" / "flowspin.flowspin-0.1.0" / "dist" / "extension.js").is_file()
        yield VSCode(
            url=url,
            workspace=workspace,
            flow=flow,
            log=root / "code-server.log",
            user_data=root / "user-data",
            no_flowspin_python=bare / "bin" / "python",
        )


def _drive(vscode: VSCode, tmp_path: Path, **scenario) -> list[dict]:
    config = tmp_path / "drive.json"
    config.write_text(
        json.dumps(
            {
                "url": vscode.url,
                "workspace": str(vscode.workspace),
                "chromium": str(CHROMIUM),
                "artifacts": str(ARTIFACTS),
                "timeoutSeconds": 60,
                **scenario,
            }
        )
    )
    proc = subprocess.run(
        [str(NODE), str(Path(__file__).with_name("drive.mjs")), str(config)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    checks = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(vscode.log, ARTIFACTS / "code-server.log")
        raise AssertionError(
            f"VS Code end-to-end check failed after {[c['check'] for c in checks]}:\n"
            f"{proc.stderr}\n(code-server log and screenshot in {ARTIFACTS})"
        )
    return checks


def test_diagnostics_fix_spin_and_missing_flowspin_in_real_vscode(
    vscode: VSCode, tmp_path: Path
) -> None:
    checks = _drive(
        vscode,
        tmp_path,
        flowName=vscode.flow.name,
        flowPath=str(vscode.flow),
        brokenLine=BROKEN_LINE,
        problemWord="missing",
        fixedSource=FIXED,
        stepLine=STEP_LINE,
        # The server's answer for spinning `start` (not the extension's own fallbacks such as
        # "Put the cursor inside a @step" or "Cannot reach the flowspin server").
        answerPattern=r"spin|not available",
        logsDir=str(vscode.user_data / "logs"),
        workspaceSettings=str(vscode.workspace / ".vscode" / "settings.json"),
        noFlowspinPython=str(vscode.no_flowspin_python),
    )
    print(json.dumps(checks, indent=1))  # shown by pytest -s or on failure
    by_name = {c["check"]: c for c in checks}
    assert "missing" in by_name["diagnostic-shown"]["rows"]
    assert by_name["spin-answered"]["saved"], "Spin did not save the edited file first"
    notification = by_name["spin-answered"]["notification"]
    assert "Put the cursor inside" not in notification
    assert "Cannot reach the flowspin server" not in notification
    assert '"step":"end"' in by_name["lens-answered"]["log"]
    # flowspin.trace = "messages" puts the LSP trace into the flowspin output channel.
    channel = "\n".join(f.read_text() for f in (vscode.user_data / "logs").rglob("flowspin.log"))
    assert "[trace] Sending request 'initialize" in channel
    missing = by_name["flowspin-missing"]
    assert f"flowspin is not installed in {vscode.no_flowspin_python}" in missing["notification"]
    assert missing["installButtons"] == 1
    assert "server-restarted" in by_name
