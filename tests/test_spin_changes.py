"""What a spin reports as changed: every kind of in-place mutation, never a pure read.

A warm spin no longer re-pickles what the step read (fingerprints taken once in the worker and
copy-on-write page tracking in the child); these tests hold it to the old contract with a real
run, a real worker and each way a step can change what it inherited.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_metaflow, write_flow
from spin_helpers import make_service

FLOW = """
import numpy as np
import pandas as pd
from metaflow import FlowSpec, step


class Inner:
    def __init__(self):
        self.level = 1


class Outer:
    def __init__(self):
        self.inner = Inner()


class ChangeFlow(FlowSpec):
    @step
    def start(self):
        n = 400_000
        self.df = pd.DataFrame({"c0": np.arange(n, dtype="float64"), "v": np.ones(n)})
        self.arr = np.zeros(500_000)
        self.items = [1, 2, 3]
        self.d = {"a": 1}
        self.obj = Outer()
        self.label = "base"
        self.next(self.work)

    @step
    def work(self):
        # BODY
        self.next(self.after)

    @step
    def after(self):
        self.seen_v = float(self.df["v"].sum())
        self.seen_first = float(self.df.iloc[0, 0])
        self.seen_arr = float(self.arr.sum())
        self.seen_items = list(self.items)
        self.seen_keys = sorted(self.d)
        self.seen_level = self.obj.inner.level
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ChangeFlow()
"""

READ_BODY = """\
self.m = float(self.df["c0"].mean()) + float(self.arr.sum())
        self.stats = self.df.describe().to_dict()
        self.n = len(self.items) + len(self.d) + self.obj.inner.level + len(self.label)
        alias = self.df
        self.total = float(alias["v"].sum()) + float(self.arr[10:20].sum())
        self.first = float(self.df.iloc[0, 0]) + float(self.df.loc[5, "v"])"""

INHERITED = ["df", "arr", "items", "d", "obj", "label"]

# (body, the artifact it changes, what the next step sees: (artifact of `after`, value))
MUTATIONS = {
    "dataframe column in place": ('self.df["v"] *= 2', "df", ("seen_v", 800_000.0)),
    "dataframe cell": ('self.df.loc[5, "v"] = 11.0', "df", ("seen_v", 400_010.0)),
    "ndarray slice assignment": ("self.arr[10:20] = 5.0", "arr", ("seen_arr", 50.0)),
    "list.append": ("self.items.append(4)", "items", ("seen_items", [1, 2, 3, 4])),
    "new dict key": ('self.d["b"] = 2', "d", ("seen_keys", ["a", "b"])),
    "attribute of a nested object": ("self.obj.inner.level = 2", "obj", ("seen_level", 2)),
    "through an alias": ("d = self.df\n        d.iloc[0, 0] = 1.0", "df", ("seen_first", 1.0)),
}


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("changes")
    (workdir / ".git").mkdir()
    flow = write_flow(workdir, FLOW.replace("# BODY", "pass"))
    run_metaflow(flow, "run")
    svc = make_service(workdir)
    yield workdir, flow, svc
    svc.shutdown()


def set_body(flow: Path, body: str) -> None:
    flow.write_text(FLOW.replace("# BODY", body))


def test_pure_read_of_every_kind_is_never_a_change(flow_run):
    workdir, flow, svc = flow_run
    set_body(flow, READ_BODY)
    for _ in range(2):  # cold (values loaded in the child), then warm (fingerprints reused)
        result = svc.spin(flow, "work", {"reset": True})
        assert result.ok, result.error
        changed = {n for n, a in result.artifacts.items() if a["changed"]}
        assert changed == {"m", "stats", "n", "total", "first"}
        for name in INHERITED:
            assert result.artifacts[name]["changed"] is False, name


@pytest.mark.parametrize("kind", list(MUTATIONS))
def test_each_in_place_mutation_is_changed_and_saved(flow_run, kind):
    from flowspin import load_spin

    workdir, flow, svc = flow_run
    body, name, (seen, expected) = MUTATIONS[kind]
    set_body(flow, body)
    result = svc.spin(flow, "work", {"reset": True})
    assert result.ok, result.error
    assert result.artifacts[name]["changed"] is True
    assert [n for n in INHERITED if result.artifacts[n]["changed"]] == [name]
    assert result.persist["state"] in ("writing", "done")
    assert name in result.persist["artifacts"]

    # Readers wait for the bytes: the saved spin holds the mutated value...
    saved = load_spin(flow, "work", result.spin_id)
    assert saved.record["persisted"] is True
    # ...and the next step, chained on this spin, sees the mutation, not the base run's value.
    nxt = svc.spin(flow, "after")
    assert nxt.ok, nxt.error
    assert nxt.base["chained_from"] == [result.spin_id]
    assert saved.artifacts is not None
    after = load_spin(flow, "after", nxt.spin_id).artifacts
    assert after[seen] == expected


def test_a_failed_write_loses_nothing_reported_as_saved(flow_run):
    """The result comes before the bytes; when they cannot be written the spin says so, its
    record is not chained from, and the value is never read stale."""
    from flowspin import load_spin

    workdir, flow, svc = flow_run
    set_body(flow, 'self.df["v"] *= 3')
    objects = workdir / ".flowspin" / "objects"
    moved = workdir / ".flowspin" / "objects-away"
    if objects.exists():
        objects.rename(moved)
    objects.write_text("not a folder")  # every blob write now fails
    try:
        result = svc.spin(flow, "work", {"reset": True})
        assert result.ok, result.error
        saved = load_spin(flow, "work", result.spin_id)
        assert saved.record["persisted"] is False
        assert "df" in saved.record["persist_error"]
        with pytest.raises(LookupError, match="not saved"):
            saved.artifacts["df"]
    finally:
        objects.unlink()
        if moved.exists():
            moved.rename(objects)
    # The next step does not chain from a spin whose bytes are missing: it reads the base run.
    nxt = svc.spin(flow, "after")
    assert nxt.ok, nxt.error
    assert nxt.base["chained_from"] == []
    assert load_spin(flow, "after", nxt.spin_id).artifacts["seen_v"] == 400_000.0
