"""The flow panel's page script in headless chromium, without an editor: a generated graph of
200 steps (every kind, a recursive switch, every status) is drawn within the budget of issue
15 (500 ms from the message to painted, median of fresh pages). Uses
benchmarks/bench_flow_panel.mjs."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO
from e2e_support import CHROMIUM, NODE, require_prerequisites

pytestmark = pytest.mark.e2e


def test_200_steps_render_within_budget() -> None:
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
    assert big >= 200
    assert rows[big]["firstDrawMs"] <= 500, rows[big]
