"""The Artifacts view in a real VS Code (code-server + chromium, see test_vscode_extension.py):
after a spin, the flowspin view in the activity bar lists the step's artifacts with their
values; clicking a DataFrame opens the preview with its first 100 rows (numbers
right-aligned), a column header sorts it, Next pages on."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from conftest import metaflow_env, run_metaflow
from e2e_support import ARTIFACTS, CHROMIUM, code_server, drive, package_vsix, require_prerequisites

pytestmark = pytest.mark.e2e

FLOW = textwrap.dedent(
    """\
    from metaflow import FlowSpec, step


    class ArtifactsFlow(FlowSpec):
        @step
        def start(self):
            import pandas as pd

            self.answer = 42
            self.df = pd.DataFrame({"n": range(250), "word": ["w%d" % i for i in range(250)]})
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        ArtifactsFlow()
    """
)
LINES = FLOW.splitlines()


def test_artifacts_view(tmp_path: Path) -> None:
    require_prerequisites("the Artifacts view test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    flow = workspace / "flow.py"
    flow.write_text(FLOW)
    run_metaflow(flow, "run")
    env = metaflow_env(workspace)
    with code_server(tmp_path, workspace, env, [vsix], {"flowspin.python": sys.executable}) as url:
        checks = drive(
            "drive_artifacts.mjs",
            {
                "url": url,
                "workspace": str(workspace),
                "chromium": str(CHROMIUM),
                "artifacts": str(ARTIFACTS),
                "lines": {"start": LINES.index("        self.answer = 42") + 1},
                "timeoutSeconds": 90,
            },
            tmp_path,
        )
    names = [c["check"] for c in checks]
    assert names == [
        "server-ready",
        "spun",
        "view-lists-artifacts",
        "open-shows-rows",
        "sort-by-column",
        "next-page",
    ]
    listed = next(c for c in checks if c["check"] == "view-lists-artifacts")
    assert "int = 42" in listed["answer"] and "[250 x 2]" in listed["df"]
