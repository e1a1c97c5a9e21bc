"""The flow panel in a real VS Code (code-server + chromium, see test_vscode_extension.py):
"Flowspin: Show Flow" draws every step with its kind; a spin from the editor (Ctrl+Alt+S)
turns its node ok; clicking a node, or Tab then Enter, puts the editor's cursor on that step;
the cursor's step is highlighted; a node's Spin button spins it, its Spin Downstream button
the steps below too, Resume asks for the run, Card opens the card viewer; an edit upstream
turns the nodes it fed stale (once the server tracks staleness); a syntax error empties the
panel with the reason and the fix brings the graph back at the same zoom and pan; the panel
comes back after a reload."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, metaflow_env, run_metaflow
from e2e_support import ARTIFACTS, CHROMIUM, code_server, drive, package_vsix, require_prerequisites

pytestmark = pytest.mark.e2e

FLOW = textwrap.dedent(
    """\
    from metaflow import FlowSpec, step


    class PanelFlow(FlowSpec):
        @step
        def start(self):
            self.value = 1
            self.next(self.train)

        @step
        def train(self):
            self.model = self.value * 2
            self.next(self.fan)

        @step
        def fan(self):
            self.items = [1, 2, 3]
            self.next(self.each, foreach="items")

        @step
        def each(self):
            self.out = self.input * self.model
            self.next(self.gather)

        @step
        def gather(self, inputs):
            self.total = sum(i.out for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        PanelFlow()
    """
)
STEPS = ["start", "train", "fan", "each", "gather", "end"]
KINDS = {"start": "start", "train": "linear", "fan": "foreach", "gather": "join", "end": "end"}
LINES = FLOW.splitlines()


def line_of(text: str) -> int:
    return LINES.index(text) + 1


def def_line(step: str) -> int:
    return line_of(f"    def {step}(self{', inputs' if step == 'gather' else ''}):")


def server_tracks_staleness() -> bool:
    """Whether the language server fills in "stale" (issue 15: it lands separately)."""
    lsp = REPO / "server" / "flowspin" / "lsp"
    return any("StaleTracker(" in p.read_text() for p in lsp.glob("*.py"))


def test_flow_panel(tmp_path: Path) -> None:
    require_prerequisites("the flow panel test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    flow = workspace / "flow.py"
    flow.write_text(FLOW)
    run_metaflow(flow, "run")
    env = metaflow_env(workspace)
    check_stale = server_tracks_staleness()
    with code_server(tmp_path, workspace, env, [vsix], {"flowspin.python": sys.executable}) as url:
        checks = drive(
            "drive_flow.mjs",
            {
                "url": url,
                "workspace": str(workspace),
                "chromium": str(CHROMIUM),
                "artifacts": str(ARTIFACTS),
                "steps": STEPS,
                "kinds": KINDS,
                "lines": {
                    "train": line_of("        self.model = self.value * 2"),
                    "startValue": line_of("        self.value = 1"),
                },
                "defLines": {s: def_line(s) for s in STEPS},
                "checkStale": check_stale,
                "timeoutSeconds": 90,
            },
            tmp_path,
        )
    names = [c["check"] for c in checks]
    expected = [
        "server-ready",
        "panel-shows-every-step",
        "cursor-step-highlighted",
        "spin-turns-node-ok",
        "click-reveals-step",
        "keyboard-tab-enter-reveals",
        "spin-button",
        "spin-downstream-button",
        "resume-and-card-buttons",
    ]
    if check_stale:
        expected.append("edit-turns-downstream-stale")
    expected += ["syntax-error-empty-state-and-zoom-kept", "restored-after-reload"]
    assert names == expected
