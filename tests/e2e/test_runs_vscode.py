"""Run Flow in a real VS Code (code-server + chromium): Ctrl+Alt+R asks for each Parameter,
the run's outcome reaches the status bar and the per-step lenses, the prompt remembers the
last values, and a failed task shows in the Problems view at its line; then Cancel Run…
stops a run a terminal started and lost (its `flowspin run` killed), picked as running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import metaflow_env
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    code_server,
    drive,
    package_vsix,
    require_prerequisites,
)
from runs_support import FAIL_LINE, HOLD_FLOW, RUNS_FLOW

pytestmark = [pytest.mark.e2e, pytest.mark.metaflow]

def test_run_flow_from_the_keyboard(tmp_path: Path) -> None:
    require_prerequisites("the Run Flow test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".git").mkdir()
    flow = workspace / "flow.py"
    flow.write_text(RUNS_FLOW.lstrip())
    env = metaflow_env(workspace)
    # A run started in a terminal whose `flowspin run` is then killed: it goes on, held.
    (workspace / "held_flow.py").write_text(HOLD_FLOW.lstrip().replace("hold.flag", "held.flag"))
    (workspace / "held.flag").write_text("")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "run", "held_flow.py", "--json"],
        cwd=workspace, env=env, stdout=subprocess.PIPE, text=True,
    )
    assert launcher.stdout is not None
    held_run = ""
    for line in launcher.stdout:
        event = json.loads(line)
        held_run = event.get("run_id") or held_run
        if event["event"] == "log" and event["line"] == "holding":
            break
    launcher.kill()
    launcher.wait()
    launcher.stdout.close()
    try:
        checks = _drive(tmp_path, workspace, env, vsix, held_run)
    finally:
        (workspace / "held.flag").unlink(missing_ok=True)  # a run left behind ends on its own
    names = [c["check"] for c in checks]
    assert names == ["server-ready", "run-succeeded", "run-failed", "run-cancelled"]
    succeeded, failed = checks[1], checks[2]
    assert succeeded["firstOffer"] == ""  # nothing remembered yet: the default applies
    assert failed["remembered"] == "3"  # the last run's value, offered again
    assert "ZeroDivisionError" in str(failed["problem"])
    listed = subprocess.run(
        [sys.executable, "-m", "flowspin", "runs", "held_flow.py", "--json"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=120,
    )
    statuses = {r["run_id"]: r["status"] for r in json.loads(listed.stdout)["runs"]}
    assert statuses[held_run] == "cancelled"


def _drive(tmp_path: Path, workspace: Path, env: dict[str, str], vsix: Path, held: str) -> list:
    with code_server(tmp_path, workspace, env, [vsix], {"flowspin.python": sys.executable}) as url:
        checks = drive(
            "drive_runs.mjs",
            {
                "url": url,
                "workspace": str(workspace),
                "chromium": str(CHROMIUM),
                "artifacts": str(ARTIFACTS),
                "stepLine": FAIL_LINE,
                "failLine": FAIL_LINE,
                "timeoutSeconds": 90,
                "heldRunId": held,
            },
            tmp_path,
        )
    return checks
