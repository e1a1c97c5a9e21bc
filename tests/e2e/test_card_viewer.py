"""The card viewer in a real VS Code (code-server + chromium, see test_vscode_extension.py):
show a step's card, then live reloads after spins, without reopening the panel."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, metaflow_env, run_metaflow

pytestmark = pytest.mark.e2e

CACHE = Path(os.environ.get("FLOWSPIN_E2E_CACHE", Path.home() / ".cache" / "flowspin-e2e"))
NODE = CACHE / "node" / "bin" / "node"
CODE_SERVER = CACHE / "code-server" / "out" / "node" / "entry.js"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"

FLOW = textwrap.dedent(
    """\
    from metaflow import FlowSpec, step, card, current
    from metaflow.cards import Markdown


    class ViewerFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.show)

        @card(type="blank")
        @step
        def show(self):
            current.card.append(Markdown("# hello card v1"))
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        ViewerFlow()
    """
)
STEP_LINE = 13  # the Markdown line inside `show`


def _prerequisites() -> None:
    missing = [str(p) for p in (NODE, CODE_SERVER, CHROMIUM) if not p.is_file()]
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        missing.append("node_modules/playwright-core")
    if missing:
        message = f"the card viewer test needs {', '.join(missing)} (scripts/setup-e2e.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _run(cmd: list[str], **kwargs) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "code-server exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling interval of a readiness check
    raise AssertionError(f"code-server did not answer {url}")


def test_card_viewer_follows_spins_live(tmp_path: Path) -> None:
    _prerequisites()
    vsix = tmp_path / "flowspin.vsix"
    _run(["npm", "run", "--silent", "package", "--", "--out", str(vsix)], cwd=REPO, timeout=300)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    flow = workspace / "flow.py"
    flow.write_text(FLOW)
    run_metaflow(flow, "run")
    extensions, user_data = tmp_path / "extensions", tmp_path / "user-data"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(
        json.dumps(
            {
                "security.workspace.trust.enabled": False,
                "workbench.startupEditor": "none",
                "chat.disableAIFeatures": True,
                "telemetry.telemetryLevel": "off",
                "extensions.autoCheckUpdates": False,
                "flowspin.python": sys.executable,
            }
        )
    )
    env = metaflow_env(workspace)
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg-config"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    base = [str(NODE), str(CODE_SERVER), "--extensions-dir", str(extensions)]
    base += ["--user-data-dir", str(user_data)]
    _run([*base, "--install-extension", str(vsix)], env=env, timeout=120)
    port = _free_port()
    with (tmp_path / "code-server.log").open("wb") as out:
        proc = subprocess.Popen(
            [*base, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}"]
            + ["--disable-telemetry", "--disable-workspace-trust", str(workspace)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/healthz", proc)
        config = tmp_path / "drive.json"
        config.write_text(
            json.dumps(
                {
                    "url": url,
                    "workspace": str(workspace),
                    "flowPath": str(flow),
                    "chromium": str(CHROMIUM),
                    "artifacts": str(ARTIFACTS),
                    "python": sys.executable,
                    "env": metaflow_env(workspace),
                    "step": "show",
                    "stepLine": STEP_LINE,
                    "textV1": "hello card v1",
                    "textV2": "hello card v2",
                    "timeoutSeconds": 90,
                }
            )
        )
        drive = subprocess.run(
            [str(NODE), str(Path(__file__).with_name("drive_cards.mjs")), str(config)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
        )
        checks = [json.loads(x) for x in drive.stdout.splitlines() if x.startswith("{")]
        print(json.dumps(checks, indent=1))
        assert drive.returncode == 0, f"after {[c['check'] for c in checks]}: {drive.stderr}"
        names = [c["check"] for c in checks]
        assert names[-3:] == ["run-card-shown", "spin-card-shown", "edited-card-shown"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
