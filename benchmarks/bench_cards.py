"""Card latency after a spin: step end -> card files written -> watcher event delivered.

Run: `.venv/bin/python benchmarks/bench_cards.py` (about half a minute). Prints a table.
Budget (DESIGN.md): card visible <= 150 ms after a spin finishes. Measured here: the server
side of that path, for a blank card with a few components and for the default card:
  render+write  the spin child's `cards_ms` (step function returned -> all card files and
                latest.html written, atomically)
  event         latest.html on disk -> the watchdog event in the listening process
  total         the two together (what the editor waits before it reloads the webview)
The webview's own reload (read the file, set the iframe) is not part of this figure;
bench_cards_viewer.py measures that end to end in a real editor.
"""

from __future__ import annotations

import os
import queue
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FLOW = """
from metaflow import FlowSpec, step, card, current
from metaflow.cards import Markdown, Table, ProgressBar


class BenchCardFlow(FlowSpec):
    @step
    def start(self):
        self.rows = [[i, i * i] for i in range(50)]
        self.next(self.blank)

    @card(type="blank")
    @step
    def blank(self):
        current.card.append(Markdown("# Report"))
        current.card.append(Table(self.rows, headers=["i", "i2"]))
        current.card.append(ProgressBar(max=10, value=4))
        self.next(self.default)

    @card
    @step
    def default(self):
        self.total = sum(r[1] for r in self.rows)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BenchCardFlow()
"""

SPINS = 15


def env_for(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        METAFLOW_USER="bench",
        USER=env.get("USER", "bench"),
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir),
        METAFLOW_HOME=str(workdir / ".metaflowconfig"),
    )
    return env


def stats(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return f"{statistics.median(values):8.1f} {p90:8.1f}"


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="flowspin-bench-cards-"))
    (workdir / "flow.py").write_text(textwrap.dedent(FLOW).lstrip())
    env = env_for(workdir)
    subprocess.run(
        [sys.executable, "flow.py", "--no-pylint", "run"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ.update(env)
    from flowspin.cards.watch import CardWatcher
    from flowspin.spin.service import SpinService

    events: queue.Queue = queue.Queue()
    watcher = CardWatcher(workdir, lambda f, s, p: events.put((s, p, time.time())))
    watcher.start()
    svc = SpinService(workdir, env=env)
    rows = []
    try:
        for step in ("blank", "default"):
            svc.spin(workdir / "flow.py", step)  # warm-up (imports of the card modules)
            while not events.empty():
                events.get()
            render, event, total = [], [], []
            for _ in range(SPINS):
                result = svc.spin(workdir / "flow.py", step)
                assert result.ok and result.cards, result.error
                got_step, path, seen = events.get(timeout=10)
                assert got_step == step
                written = os.stat(path).st_mtime
                cards_ms = result.timings["cards_ms"]
                render.append(cards_ms)
                event.append((seen - written) * 1e3)
                total.append(cards_ms + (seen - written) * 1e3)
                while not events.empty():  # a duplicate event must not skew the next spin
                    events.get()
            rows.append((step, render, event, total))
    finally:
        svc.shutdown()
        watcher.stop()
    print(f"card latency after a spin, {SPINS} spins per card (ms; budget total <= 150)")
    print(f"{'card':<10} {'render+write':>17} {'event':>17} {'total':>17}")
    print(f"{'':<10} {'median':>8} {'p90':>8} {'median':>8} {'p90':>8} {'median':>8} {'p90':>8}")
    for step, render, event, total in rows:
        print(f"{step:<10} {stats(render)} {stats(event)} {stats(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
