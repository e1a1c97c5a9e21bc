"""Card latency in the real editor: from a spin's end to the new card's content drawn in the
card viewer's webview, and from a running task's `current.card.refresh()` to the update drawn,
beside Metaflow's own card viewer (`python flow.py card server`) on the same update.

Run: `.venv/bin/python benchmarks/bench_cards_viewer.py` (about two minutes; needs what
scripts/setup-e2e.sh installs: code-server, Node 24, chromium, playwright-core). Prints tables.
Budget (DESIGN.md): card visible <= 150 ms after a spin finishes.

A real code-server runs the packaged extension on a scratch workspace; chromium, driven by
playwright-core (bench_cards_viewer.mjs), opens the card viewer on a @card step. Each spin runs
from a shell through the language server's warm workers (`flowspin spin ... --json`), with a
new text for the card each time; the driver polls the webview's frames for that text (a few ms
apart) and takes the time it first appears. Columns:
  card written -> drawn   the spin child's `latest.html` (its mtime, the spin's last write) to
                          the new text in the webview: watcher event, notification, the
                          extension reading the card, the iframe's reload and the card's own JS
  CLI exit -> drawn       what a shell user sees: the card is usually drawn before or around
                          the moment `flowspin spin` returns (negative: before)
  whole shell spin        `flowspin spin` from process start to exit, for scale
Realtime: a run's step refreshes its card once per file the driver writes; from Metaflow's
data file (`runtime/*.data.json`, its mtime) to the update drawn, in flowspin's viewer (pushed
by the watcher, applied in place by the card's JavaScript) and in Metaflow's card server page
(which polls, here every second, its shortest interval; its default is 5 s).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "e2e")]

from conftest import metaflow_env  # noqa: E402
from e2e_support import (  # noqa: E402
    CHROMIUM,
    NODE,
    code_server,
    free_port,
    missing_prerequisites,
    package_vsix,
)

SPINS = int(os.environ.get("FLOWSPIN_BENCH_SPINS", "12"))
EPOCHS = int(os.environ.get("FLOWSPIN_BENCH_EPOCHS", "8"))

FLOW = """
import time
from pathlib import Path

from metaflow import FlowSpec, Parameter, step, card, current
from metaflow.cards import Markdown
from metaflow.plugins.cards.card_creator import CardProcessManager

TOKEN = Path(__file__).resolve().parent / "token.txt"


class BenchViewerFlow(FlowSpec):
    gate = Parameter("gate", default="", help="folder of go-N files the live step waits on")
    epochs = Parameter("epochs", default=2)

    @step
    def start(self):
        self.rows = [[i, i * i] for i in range(20)]
        self.next(self.show)

    @card(type="blank")
    @step
    def show(self):
        text = TOKEN.read_text() if TOKEN.exists() else "no token"
        current.card.append(Markdown(f"# {text}"))
        self.next(self.live)

    @card(type="blank", refresh_interval=0)
    @step
    def live(self):
        kind = "live" if self.gate else "quick"
        progress = Markdown(f"{kind} progress 0 of {self.epochs}")
        current.card.append(progress)
        current.card.refresh()
        self.settle()
        for epoch in range(1, self.epochs + 1):
            self.go(f"go-{epoch}")
            progress.update(f"{kind} progress {epoch} of {self.epochs}")
            current.card.refresh()
            self.settle()
        self.go("go-end")
        self.next(self.end)

    def go(self, name):
        deadline = time.time() + 300
        while self.gate and not (Path(self.gate) / name).exists():
            if time.time() > deadline:
                raise TimeoutError(name)
            time.sleep(0.01)

    def settle(self):
        # Metaflow drops a refresh while the card's previous render process still runs
        for entry in list(CardProcessManager.async_card_processes.values()):
            entry["proc"].wait()

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BenchViewerFlow()
"""


def line_of(source: str, needle: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if needle in line)


def stats(values: list[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8} {'-':>8}"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(ordered):8.0f} {p90:8.0f} {ordered[0]:8.0f}"


def main() -> int:
    missing = missing_prerequisites()
    if missing:
        print(f"bench_cards_viewer: skipped, needs {', '.join(missing)} (scripts/setup-e2e.sh)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="flowspin-bench-viewer-"))
    workspace = tmp / "workspace"
    workspace.mkdir()
    (workspace / ".git").mkdir()
    source = textwrap.dedent(FLOW).lstrip()
    flow = workspace / "flow.py"
    flow.write_text(source)
    env = metaflow_env(workspace)
    subprocess.run(
        [sys.executable, "flow.py", "--no-pylint", "run"],
        cwd=workspace,
        env=env,
        check=True,
        capture_output=True,
    )
    vsix = package_vsix(tmp / "flowspin.vsix")
    with code_server(tmp, workspace, env, [vsix], {"flowspin.python": sys.executable}) as url:
        config = tmp / "drive.json"
        config.write_text(
            json.dumps(
                {
                    "url": url,
                    "workspace": str(workspace),
                    "chromium": str(CHROMIUM),
                    "artifacts": str(tmp / "artifacts"),
                    "python": sys.executable,
                    "env": env,
                    "showLine": line_of(source, "current.card.append(Markdown(f"),
                    "liveLine": line_of(source, "progress.update("),
                    "spins": SPINS,
                    "epochs": EPOCHS,
                    "cardServerPort": free_port(),
                    "timeoutSeconds": 120,
                }
            )
        )
        drive = subprocess.run(
            [str(NODE), str(Path(__file__).with_name("bench_cards_viewer.mjs")), str(config)],
            capture_output=True,
            text=True,
            timeout=1200,
            cwd=REPO,
        )
    if os.environ.get("FLOWSPIN_BENCH_KEEP"):
        print(f"kept {tmp}", file=sys.stderr)
    rows = [json.loads(x) for x in drive.stdout.splitlines() if x.startswith("{")]
    if drive.returncode != 0:
        print(drive.stdout, drive.stderr, sep="\n", file=sys.stderr)
        return 1
    spins = [r for r in rows if r.get("kind") == "spin"]
    updates = [r for r in rows if r.get("kind") == "data"]
    print(f"card viewer latency in code-server + chromium, {len(spins)} warm spins (ms)")
    print("budget: card visible <= 150 ms after the spin finishes")
    print(f"{'':<34} {'median':>8} {'p90':>8} {'min':>8}")
    print(f"{'card written -> drawn in webview':<34} {stats([r['afterCardMs'] for r in spins])}")
    print(f"{'flowspin spin exit -> drawn':<34} {stats([r['afterExitMs'] for r in spins])}")
    print(f"{'whole shell spin (CLI start..exit)':<34} {stats([r['spinMs'] for r in spins])}")
    print()
    print(
        f"running task's current.card.refresh() -> update drawn, {len(updates)} updates (ms, "
        "from Metaflow's data file)"
    )
    print(f"{'':<34} {'median':>8} {'p90':>8} {'min':>8}")
    print(f"{'flowspin card viewer (pushed)':<34} {stats([r['flowspinMs'] for r in updates])}")
    metaflow = [r["metaflowMs"] for r in updates if r.get("metaflowMs") is not None]
    print(f"{'metaflow card server (poll 1 s)':<34} {stats(metaflow)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
