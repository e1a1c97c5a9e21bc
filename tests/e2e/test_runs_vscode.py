"""Run Flow in a real VS Code (code-server + chromium): Ctrl+Alt+R asks for each Parameter,
the run's outcome reaches the status bar and the per-step lenses, the prompt remembers the
last values, and a failed task shows in the Problems view at its line."""

from __future__ import annotations

import sys
import textwrap
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

pytestmark = [pytest.mark.e2e, pytest.mark.metaflow]

FLOW = textwrap.dedent(
    """\
    from metaflow import FlowSpec, Parameter, step


    class RunsFlow(FlowSpec):
        width = Parameter("width", default=2, type=int, help="how many splits")
        divisor = Parameter("divisor", default=1, type=int)

        @step
        def start(self):
            self.items = list(range(self.width))
            self.next(self.square, foreach="items")

        @step
        def square(self):
            self.value = self.input * self.input
            self.next(self.join)

        @step
        def join(self, inputs):
            self.total = sum(i.value for i in inputs)
            self.ratio = self.total / self.divisor
            self.next(self.end)

        @step
        def end(self):
            print("ratio", self.ratio)


    if __name__ == "__main__":
        RunsFlow()
    """
)
FAIL_LINE = 1 + FLOW.splitlines().index("        self.ratio = self.total / self.divisor")


def test_run_flow_from_the_keyboard(tmp_path: Path) -> None:
    require_prerequisites("the Run Flow test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".git").mkdir()
    flow = workspace / "flow.py"
    flow.write_text(FLOW)
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
