"""`flowspin diff` (issue 16): run a flow, edit one step so it changes a number, adds an
artifact and removes one, spin it, and diff the spin against the run's task of the step and
against an earlier spin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_flowspin, run_metaflow, write_flow

FLOW = """
from metaflow import FlowSpec, step


class DiffFlow(FlowSpec):
    @step
    def start(self):
        self.base = 10
        self.next(self.train)

    @step
    def train(self):
        import pandas as pd

        self.frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
        self.score = self.base * 0.5
        self.old = "dropped later"
        self.notes = "line a\\nline b\\n"
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DiffFlow()
"""

EDITED_TRAIN = """
    @step
    def train(self):
        import pandas as pd

        self.frame = pd.DataFrame({"a": [1, 5, 3, 4], "b": ["x", "y", "z", "w"], "c": 0.5})
        self.score = self.base * 0.75
        self.extra = [1, 2, 3]
        self.notes = "line a\\nline c\\n"
        self.next(self.end)
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diff")
    (root / ".git").mkdir()
    flow = write_flow(root, FLOW)
    run_metaflow(flow, "run")
    first = run_flowspin(root, "spin", "flow.py", "train", "--no-daemon", "--json")
    assert first.returncode == 0, first.stderr
    text = flow.read_text()
    start = text.index("    @step\n    def train")
    end = text.index("    @step\n    def end")
    flow.write_text(text[:start] + EDITED_TRAIN.lstrip("\n") + "\n" + text[end:])
    second = run_flowspin(root, "spin", "flow.py", "train", "--no-daemon", "--json")
    assert second.returncode == 0, second.stderr
    (root / "spins.json").write_text(
        json.dumps([json.loads(first.stdout)["spin_id"], json.loads(second.stdout)["spin_id"]])
    )
    return root


def test_diff_against_the_base_run(workdir: Path) -> None:
    proc = run_flowspin(workdir, "diff", "flow.py", "train", "--json")
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)
    first, second = json.loads((workdir / "spins.json").read_text())
    assert diff["step"] == "train" and diff["flow"] == "DiffFlow"
    assert diff["before"]["kind"] == "run" and diff["before"]["pathspec"].endswith("/train/2")
    assert diff["after"] == {**diff["after"], "kind": "spin", "spin_id": second}
    arts = diff["artifacts"]
    assert {n: e["change"] for n, e in arts.items()} == {
        "base": "same",
        "extra": "added",
        "frame": "changed",
        "name": "same",
        "notes": "changed",
        "old": "removed",
        "score": "changed",
    }
    assert arts["score"]["before"]["repr"] == "5.0" and arts["score"]["after"]["repr"] == "7.5"
    assert arts["score"]["detail"] == {"delta": 2.5, "relative": 0.5}
    assert arts["extra"]["after"]["type"] == "list" and arts["extra"]["before"] is None
    assert arts["old"]["before"]["type"] == "str" and arts["old"]["after"] is None
    assert "-line b\n+line c" in arts["notes"]["detail"]["unified_diff"]
    frame = arts["frame"]
    assert frame["before"]["shape"] == [3, 2] and frame["after"]["shape"] == [4, 3]
    assert frame["detail"] == {
        "rows": {"before": 3, "after": 4, "delta": 1},
        "columns_added": ["c"],
        "columns_removed": [],
        "dtypes_changed": {},
        "changed_cells": 1,
        "cells_sample": [{"row": 1, "column": "a", "before": "2", "after": "5"}],
    }

    proc = run_flowspin(workdir, "diff", "flow.py", "train")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("train: run ") and lines[0].endswith(f"-> spin {second}")
    assert " ~ score                float = 5.0 -> float = 7.5 (+2.5)" in lines
    assert " + extra                list, 38 B = [1, 2, 3]" in lines
    assert " - old                  str len 13 = 'dropped later'" in lines
    assert "   base                 int = 10" in lines


def test_diff_against_an_earlier_spin(workdir: Path) -> None:
    first, second = json.loads((workdir / "spins.json").read_text())
    proc = run_flowspin(workdir, "diff", "flow.py", "train", "--against", first, "--json")
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)
    assert diff["before"]["spin_id"] == first and diff["after"]["spin_id"] == second
    changes = {n: e["change"] for n, e in diff["artifacts"].items()}
    assert changes["score"] == "changed" and changes["extra"] == "added"
    assert changes["old"] == "removed" and changes["base"] == "same"


def test_diff_says_what_to_do_without_a_spin(workdir: Path) -> None:
    proc = run_flowspin(workdir, "diff", "flow.py", "end")
    assert proc.returncode == 1
    assert "no successful spin of step 'end'" in proc.stderr
    assert "flowspin spin flow.py end" in proc.stderr
