"""The flow panel's page script in headless chromium, without an editor: a generated graph of
200 steps (every kind, a recursive switch, every status) is laid out and painted, and redrawn
with new statuses. Uses benchmarks/bench_flow_panel.mjs; how fast (the 500 ms budget) is the
benchmark's to say, never a timed assertion here."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO
from e2e_support import CHROMIUM, NODE, require_prerequisites

pytestmark = pytest.mark.e2e


def test_200_steps_are_laid_out_and_painted() -> None:
    require_prerequisites("the flow panel render test")
    subprocess.run(["npm", "run", "--silent", "bundle"], cwd=REPO, check=True, timeout=120)
    proc = subprocess.run(
        [str(NODE), "benchmarks/bench_flow_panel.mjs", "--json"]
        + ["--sizes", "20,200", "--reps", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"CHROMIUM": str(CHROMIUM), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["steps"]: r for r in json.loads(proc.stdout)["rows"]}
    print(rows)
    big = max(rows)
    assert big >= 200 and rows[big]["edges"] >= big - 1
    # painted (the page sets its render time once the graph is on screen), then redrawn
    assert rows[big]["firstDrawMs"] > 0 and rows[big]["redrawMs"] > 0, rows[big]
