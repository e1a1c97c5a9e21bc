"""The card viewer in a real VS Code (code-server + chromium, see test_vscode_extension.py):
show a step's card, then live reloads after spins, without reopening the panel; the spin/run
toggle and its header; and a run's card updating in the panel while the run is in flight."""

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

pytestmark = pytest.mark.e2e


FLOW = textwrap.dedent(
    """\
    import time
    from pathlib import Path

    from metaflow import FlowSpec, Parameter, step, card, current
    from metaflow.cards import Markdown
    from metaflow.plugins.cards.card_creator import CardProcessManager


    class ViewerFlow(FlowSpec):
        gate = Parameter("gate", default="", help="folder of go-N files the live step waits on")

        @step
        def start(self):
            self.next(self.show)

        @card(type="blank")
        @step
        def show(self):
            current.card.append(Markdown("# hello card v1"))
            self.next(self.live)

        @card(type="blank", refresh_interval=0)
        @step
        def live(self):
            kind = "live" if self.gate else "quick"
            progress = Markdown(f"{kind} progress 0 of 2")
            current.card.append(progress)
            current.card.refresh()
            self.settle()
            for epoch in (1, 2):
                self.go(f"go-{epoch}")
                progress.update(f"{kind} progress {epoch} of 2")
                current.card.refresh()
                self.settle()
            self.go("go-end")
            self.next(self.forge)

        def go(self, name):
            # the test writes the file once it saw the previous update in the viewer
            deadline = time.time() + 120
            while self.gate and not (Path(self.gate) / name).exists():
                if time.time() > deadline:
                    raise TimeoutError(name)
                time.sleep(0.02)

        def settle(self):
            # Metaflow drops a refresh while the card's previous render process still runs
            for entry in list(CardProcessManager.async_card_processes.values()):
                entry["proc"].wait()

        @card(type="test_editable_card")
        @step
        def forge(self):
            current.card.append(RawHTML(Path(__file__).with_name("forger.html").read_text()))
            self.next(self.end)

        @step
        def end(self):
            pass


    from metaflow.cards import MetaflowCardComponent


    class RawHTML(MetaflowCardComponent):
        # A card that is exactly this HTML (Metaflow's test_editable_card joins components).

        def __init__(self, html):
            self.html = html

        def render(self):
            return self.html


    if __name__ == "__main__":
        ViewerFlow()
    """
)
STEP_LINE = 19  # the Markdown line inside `show`
LIVE_LINE = 32  # `progress.update(...)` inside `live`
FORGE_LINE = FLOW.splitlines().index("    def forge(self):") + 2  # inside `forge`

# A hostile card: its script tries every way it has to speak for the extension. It posts the
# viewer's own message shapes to the panel, and from frames it nests (with the panel's nonce,
# when it can find one: in its own script tag, as before, or in a CSP violation report), and
# counts its attempts on screen. Its script also holds the text "<script" in strings, which
# broke cards when the viewer stamped its nonce into every "<script" of the card.
FORGER = r"""<!doctype html>
<html><body>
<p id="out">forger loading</p>
<script>
(function () {
  var stolen = (document.currentScript && document.currentScript.nonce) || "";
  document.addEventListener("securitypolicyviolation", function (e) {
    var m = /'nonce-([^']+)'/.exec(e.originalPolicy || "");
    if (m) stolen = m[1];
  });
  var forged = {
    type: "cards", step: "FORGED-STEP", source: "run", runId: "999", taskId: "1",
    label: "FORGED", asked: "auto", live: false, pinned: false, created: null,
    cards: [{type: "blank", id: null, path: "/forged", chunks: ["<p>FORGED CONTENT</p>"]}],
    assets: {}, frameScript: "", state: {}
  };
  var n = 0;
  var nested = null;
  var nestedRan = 0;
  window.addEventListener("message", function (e) {
    if (e.data === "nested ran") nestedRan += 1;
  });
  function attempt() {
    n += 1;
    parent.postMessage(forged, "*");
    parent.postMessage({type: "empty", step: "FORGED-STEP", message: "FORGED"}, "*");
    if (nested) nested.remove();
    nested = document.createElement("iframe");
    nested.srcdoc = "<script nonce='" + stolen + "'>parent.postMessage('nested ran', '*');" +
      "parent.parent.postMessage(" + JSON.stringify(forged) + ", '*');<\/script>";
    document.body.appendChild(nested);
    document.getElementById("out").textContent =
      "forge attempts: " + n + (stolen ? " (with a nonce" : " (no nonce") +
      ", nested scripts ran " + nestedRan + " times)";
  }
  new Image().src = "https://example.invalid/pixel.png";  // a CSP violation, to read the policy
  setInterval(attempt, 50);
})();
</script>
</body></html>
"""


def test_card_viewer_follows_spins_live(tmp_path: Path) -> None:
    require_prerequisites("the card viewer test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    flow = workspace / "flow.py"
    flow.write_text(FLOW)
    (workspace / "forger.html").write_text(FORGER)
    run_metaflow(flow, "run")
    env = metaflow_env(workspace)
    with code_server(tmp_path, workspace, env, [vsix], {"flowspin.python": sys.executable}) as url:
        checks = drive(
            "drive_cards.mjs",
            {
                "url": url,
                "workspace": str(workspace),
                "flowPath": str(flow),
                "chromium": str(CHROMIUM),
                "artifacts": str(ARTIFACTS),
                "python": sys.executable,
                "env": env,
                "step": "show",
                "stepLine": STEP_LINE,
                "liveLine": LIVE_LINE,
                "forgeLine": FORGE_LINE,
                "gate": str(tmp_path / "gate"),
                "textV1": "hello card v1",
                "textV2": "hello card v2",
                "timeoutSeconds": 90,
            },
            tmp_path,
        )
    names = [c["check"] for c in checks]
    assert names[-9:] == [
        "run-card-shown",
        "spin-card-shown",
        "edited-card-shown",
        "toggle-run",
        "toggle-spin",
        "toggle-auto",
        "live-run-card-updates",
        "live-run-card-final",
        "forged-header-refused",
    ]
