"""Run Flow in a real VS Code (code-server + chromium): Ctrl+Alt+R asks for each Parameter,
the run's outcome reaches the status bar and the per-step lenses, the prompt remembers the
last values, and a failed task shows in the Problems view at its line."""

from __future__ import annotations

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
from runs_support import FAIL_LINE, RUNS_FLOW

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
            },
            tmp_path,
        )
    names = [c["check"] for c in checks]
    assert names == ["server-ready", "run-succeeded", "run-failed"]
    succeeded, failed = checks[1], checks[2]
    assert succeeded["firstOffer"] == ""  # nothing remembered yet: the default applies
    assert failed["remembered"] == "3"  # the last run's value, offered again
    assert "ZeroDivisionError" in str(failed["problem"])
