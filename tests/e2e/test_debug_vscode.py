"""Debug Step in a real VS Code (code-server + chromium): a breakpoint set with F9, "Flowspin:
Debug Step" from the palette, VS Code's own debugger UI paused at that line in the spin's
child (no Python extension installed: the `flowspin` debug type talks DAP to debugpy), F5,
and the spin's ✓ on the step's lens; F5 on a `flowspin` launch.json configuration naming the
step, paused at the same breakpoint; then a step that raises, its failed spin's quick fix "Debug
this step", and the editor paused at the raising line with the exception shown. Prints the time
from the command to the paused editor."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from conftest import metaflow_env, run_metaflow
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
    from metaflow import FlowSpec, step


    class DebugVsFlow(FlowSpec):
        @step
        def start(self):
            self.x = 3
            self.next(self.train)

        @step
        def train(self):
            factor = self.x + 1
            self.y = self.x * factor
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        DebugVsFlow()
    """
)


# `train` raising at its first line (same lines as FLOW), for "Debug this step".
RAISING = FLOW.replace("factor = self.x + 1", "factor = self.x + 1 / (self.x - 3)")


def line_of(text: str) -> int:
    return next(i for i, ln in enumerate(FLOW.splitlines(), 1) if text in ln)


def test_debug_step_pauses_at_a_breakpoint_in_vscode(tmp_path: Path) -> None:
    require_prerequisites("the Debug Step test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".git").mkdir()
    flow = workspace / "flow.py"
    flow.write_text(FLOW)
    env = metaflow_env(workspace)
    run_metaflow(flow, "run")
    settings = {"flowspin.python": sys.executable, "files.autoSave": "off"}
    with code_server(tmp_path, workspace, env, [vsix], settings) as url:
        checks = drive(
            "drive_debug.mjs",
            {
                "url": url,
                "workspace": str(workspace),
                "chromium": str(CHROMIUM),
                "artifacts": str(ARTIFACTS),
                "startLine": line_of("self.x = 3"),
                "breakLine": line_of("self.y = self.x * factor"),
                "flowPath": str(flow),
                "brokenSource": FLOW.replace("self.next(self.end)", "self.next(self.nope)"),
                "raisingSource": RAISING,
                "raiseLine": line_of("factor = self.x + 1"),
                "raisingText": "1 / (self.x - 3)",
                "launch": {
                    "type": "flowspin",
                    "request": "launch",
                    "name": "Debug train from launch.json",
                    "program": "${workspaceFolder}/flow.py",
                    "step": "train",
                },
                "timeoutSeconds": 90,
            },
            tmp_path,
        )
    by_name = {c["check"]: c for c in checks}
    assert list(by_name) == [
        "server-ready",
        "warm",
        "breakpoint-set",
        "paused",
        "finished",
        "launch-json",
        "post-mortem",
        "post-mortem-ended",
        "failed-quietly",
    ]
    paused = by_name["paused"]
    assert "train" in paused["stack"]
    assert paused["cursor"] == f"Ln {line_of('self.y = self.x * factor')}"
    assert by_name["launch-json"]["cursor"] == paused["cursor"]  # the same breakpoint
    post_mortem = by_name["post-mortem"]
    assert "ZeroDivisionError" in post_mortem["exception"], post_mortem
    assert post_mortem["cursor"] == f"Ln {line_of('factor = self.x + 1')}", post_mortem
    assert "ZeroDivisionError" in by_name["post-mortem-ended"]["lens"]
    failed = by_name["failed-quietly"]
    assert "FlowGraphError" in failed["message"] and not failed["dialog"], failed
    print(f"Debug Step -> paused at the breakpoint in VS Code: {paused['pausedMs']} ms")
    print(f"launch.json, F5 -> paused at the breakpoint: {by_name['launch-json']['pausedMs']} ms")
    print(f"Debug this step -> paused at the raising line: {post_mortem['pausedMs']} ms")
