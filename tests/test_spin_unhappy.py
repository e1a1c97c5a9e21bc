"""The unhappy paths of a spin carry the user to the fix: a failed foreach split, a DAG broken
mid-edit, a misspelt step, a traceback that starts in flowspin instead of the step."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import run_metaflow, write_flow
from spin_helpers import make_service

FOREACH = """
from metaflow import FlowSpec, step


class WordFlow(FlowSpec):
    @step
    def start(self):
        self.words = ["a", "bb", "ccc"]
        self.next(self.score, foreach="words")

    @step
    def score(self):
        if self.input == "bb":
            raise ValueError("bad word")  # BUG
        self.n = len(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.n for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    WordFlow()
"""

_BUMP = [0]


def edit(path: Path, text: str) -> None:
    """Save a new version of a file, with an mtime no earlier edit had (as an editor would)."""
    path.write_text(text)
    _BUMP[0] += 1
    stamp = time.time() + _BUMP[0]
    os.utime(path, (stamp, stamp))


@pytest.fixture(scope="module")
def failed_foreach(tmp_path_factory):
    """A run whose foreach split 1 raised, so its join never ran."""
    workdir = tmp_path_factory.mktemp("foreach-fail")
    (workdir / ".git").mkdir()
    flow = write_flow(workdir, FOREACH)
    proc = run_metaflow(flow, "run", check=False)
    assert proc.returncode != 0 and "bad word" in proc.stdout + proc.stderr
    svc = make_service(workdir)
    yield workdir, flow, svc
    svc.shutdown()


def test_join_after_a_failed_split_names_the_split_and_the_fix(failed_foreach):
    workdir, flow, svc = failed_foreach
    result = svc.spin(flow, "join")
    assert result.status == "error"
    assert result.error["type"] == "MissingSplit"
    assert "split 1 of step score" in result.error["message"]
    assert "--split 1" in result.error["message"]


def test_join_takes_spun_splits_on_top_of_the_runs_successful_ones(failed_foreach):
    workdir, flow, svc = failed_foreach
    edit(flow, FOREACH.replace('raise ValueError("bad word")  # BUG', "pass"))
    fixed = svc.spin(flow, "score", {"all_splits": True})
    assert fixed.ok, fixed.error
    assert [s["status"] for s in fixed.splits] == ["ok", "ok", "ok"]

    joined = svc.spin(flow, "join")
    assert joined.ok, joined.error
    assert joined.artifacts["total"]["repr"] == "6"
    assert len(joined.base["chained_from"]) == 3  # the spun splits, taken as resume would


BRANCHES = """
from metaflow import FlowSpec, card, step


class ScoreFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.a, self.b)

    @step
    def a(self):
        self.y = self.x + 1
        self.next(self.join)

    @step
    def b(self):
        self.y = self.x + 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.ys = sorted(i.y for i in inputs)
        self.next(self.score)

    @card
    @step
    def score(self):
        self.total = sum(self.ys)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScoreFlow()
"""


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("branches")
    (workdir / ".git").mkdir()
    flow = write_flow(workdir, BRANCHES)
    run_metaflow(flow, "run")
    svc = make_service(workdir)
    yield workdir, flow, svc
    svc.shutdown()
    edit(flow, BRANCHES)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_mistyped_next_is_the_spins_error_and_unaffected_steps_still_spin(branches):
    workdir, flow, svc = branches
    broken = BRANCHES.replace(
        "self.next(self.join)\n\n    @step\n    def b",
        "self.next(self.joni)\n\n    @step\n    def b",
    )
    assert broken != BRANCHES
    edit(flow, broken)
    joined = svc.spin(flow, "join")
    assert joined.status == "error"
    assert joined.error["type"] == "FlowGraphError"
    assert "joni" in joined.error["message"]
    assert joined.error["line"] == line_of(broken, "self.next(self.joni)")
    after = svc.spin(flow, "score")
    assert after.error["type"] == "FlowGraphError"

    unaffected = svc.spin(flow, "b")  # not reached by the typo in `a`
    assert unaffected.ok, unaffected.error
    edit(flow, BRANCHES)
    assert svc.spin(flow, "join").ok


def test_a_join_without_inputs_blocks_the_steps_after_it(branches):
    workdir, flow, svc = branches
    broken = BRANCHES.replace(
        "def join(self, inputs):\n        self.ys = sorted(i.y for i in inputs)",
        "def join(self):\n        self.ys = [1, 2]",
    )
    assert broken != BRANCHES
    edit(flow, broken)
    result = svc.spin(flow, "score")  # a @card step: its card used to crash on the graph
    assert result.status == "error"
    assert result.error["type"] == "FlowGraphError"
    assert result.error.get("rule")
    assert svc.spin(flow, "a").ok
    edit(flow, BRANCHES)
    fixed = svc.spin(flow, "score")
    assert fixed.ok, fixed.error
    assert fixed.cards


def test_a_misspelt_step_gets_a_suggestion_at_its_line(branches):
    workdir, flow, svc = branches
    edit(flow, BRANCHES)
    result = svc.spin(flow, "scor")
    assert result.error["type"] == "UnknownStep"
    assert result.error["message"] == "no step 'scor' in ScoreFlow; did you mean 'score'?"
    assert result.error["line"] == line_of(BRANCHES, "def score")


def test_a_failed_spins_traceback_starts_at_the_step(branches):
    workdir, flow, svc = branches
    failing = BRANCHES.replace("self.total = sum(self.ys)", "self.total = sum(self.ys) / 0")
    edit(flow, failing)
    try:
        result = svc.spin(flow, "score")
    finally:
        edit(flow, BRANCHES)
    assert result.error["type"] == "ZeroDivisionError"
    lines = result.error["traceback"].splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith(f'  File "{flow}", line {line_of(failing, "/ 0")}, in score')
    assert "flowspin" not in result.error["traceback"]
    assert "metaflow/task.py" not in result.stderr


def test_a_long_list_shows_its_first_items_not_a_repr_failure(branches):
    """Python 3.10/3.11's reprlib.Repr takes no keyword arguments: a long list's repr used to
    read "<repr failed: TypeError ...>"."""
    workdir, flow, svc = branches
    edit(flow, BRANCHES.replace("self.total = sum(self.ys)", "self.total = list(range(300))"))
    try:
        result = svc.spin(flow, "score", {"persist": False})
    finally:
        edit(flow, BRANCHES)
    assert result.ok, result.error
    shown = result.artifacts["total"]["repr"]
    assert shown.startswith("[0, 1, 2, 3") and shown.endswith("...]"), shown
