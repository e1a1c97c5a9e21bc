"""Spin Downstream from the shell (`flowspin spin FILE STEP --downstream --json`, a real
process over a real Metaflow run): every step below in order, each chained on the spin above,
a foreach body over all its splits and the join taking them; the chain stops at the first
failure; a spin chained on a parent whose code changed since says so (`notices`), and every
result records the code it was made from (`code`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_flowspin, run_metaflow, write_flow

pytestmark = pytest.mark.metaflow

FLOW = """
import os

from metaflow import FlowSpec, step


class ChainFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.prep)

    @step
    def prep(self):
        self.k = 10
        self.next(self.square, foreach="items")

    @step
    def square(self):
        if os.path.exists("fail.flag"):
            raise ValueError("square refuses")
        self.v = self.input * self.k
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.v for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    ChainFlow()
"""


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("downstream")
    (workdir / ".git").mkdir()
    path = write_flow(workdir, FLOW)
    run_metaflow(path, "run")
    return path


def downstream(flow: Path, step: str) -> tuple[int, dict[str, Any]]:
    proc = run_flowspin(
        flow.parent, "spin", flow.name, step, "--downstream", "--json", "--no-daemon"
    )
    assert proc.stdout.count("\n") == 1, proc.stdout + proc.stderr  # exactly one object
    return proc.returncode, json.loads(proc.stdout)


def test_every_step_below_spins_in_order_each_on_the_one_above(flow: Path) -> None:
    code, answer = downstream(flow, "prep")
    assert code == 0 and answer["status"] == "ok", answer
    assert answer["step"] == "prep"
    results = answer["results"]
    assert [r["step"] for r in results] == ["prep", "square", "join", "end"]
    assert all(r["status"] == "ok" for r in results)
    prep, square, join, end = results
    assert len(square["splits"]) == 3  # the foreach body over all its splits
    split_ids = {s["spin_id"] for s in square["splits"]}
    assert prep["spin_id"] in square["base"]["chained_from"]
    assert split_ids <= set(join["base"]["chained_from"])  # the join takes every spun split
    assert join["artifacts"]["total"]["repr"] == "60"
    assert end["base"]["chained_from"] == [join["spin_id"]]
    # Each result records the code it was made from: its own and everything above it.
    assert set(end["code"]) >= {"start", "prep", "square", "join", "end", "(parameters)"}
    assert end["code"]["prep"] == prep["code"]["prep"]


def test_the_chain_stops_at_the_first_failure(flow: Path) -> None:
    (flow.parent / "fail.flag").write_text("")
    try:
        code, answer = downstream(flow, "prep")
    finally:
        (flow.parent / "fail.flag").unlink()
    assert code == 1 and answer["status"] == "error"
    assert [r["step"] for r in answer["results"]] == ["prep", "square"]
    failed = answer["results"][-1]
    assert failed["status"] == "error"
    assert failed["error"]["type"] == "ValueError"
    assert (
        failed["error"]["line"]
        == FLOW.lstrip().splitlines().index('            raise ValueError("square refuses")') + 1
    )


def test_a_spin_on_a_parent_whose_code_changed_says_it_is_stale(flow: Path) -> None:
    code, answer = downstream(flow, "prep")
    assert code == 0, answer
    flow.write_text(flow.read_text().replace("self.k = 10", "self.k = 20"))
    proc = run_flowspin(flow.parent, "spin", flow.name, "square", "--json", "--no-daemon")
    result = json.loads(proc.stdout)
    assert result["status"] == "ok", result
    stale = [n for n in result["notices"] if "which is stale" in n]
    assert stale and "'prep'" in stale[0] and "(edited)" in stale[0], result["notices"]
    # Spinning downstream from the edited step clears it: nothing below is stale any more.
    code, answer = downstream(flow, "prep")
    assert code == 0
    assert answer["results"][2]["artifacts"]["total"]["repr"] == "120"
    assert not any("stale" in n for r in answer["results"] for n in r["notices"])
