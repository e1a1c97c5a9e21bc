"""A damaged store never shows a wrong value and never blocks spinning for good.

A flipped byte in a blob used to make `show` print 501 where the record said 500 and pass the
wrong value into chained spins; a truncated blob broke every chained spin until deleted by
hand; a record of the wrong shape crashed `show` with a TypeError, and one without `spin_id`
crashed chaining with KeyError.
"""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest
from conftest import run_flowspin, run_metaflow, write_flow
from spin_helpers import make_service

FLOW = """
from metaflow import FlowSpec, step


class StoreFlow(FlowSpec):
    @step
    def start(self):
        self.base = 1
        self.next(self.make)

    @step
    def make(self):
        self.value = 500
        self.next(self.use)

    @step
    def use(self):
        self.doubled = self.value * 2
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    StoreFlow()
"""


@pytest.fixture(scope="module")
def spun(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("store-faults")
    (workdir / ".git").mkdir()
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    svc = make_service(workdir)
    yield workdir, flow, svc
    svc.shutdown()


def blob_of(workdir: Path, flow: Path, spin_id: str, name: str) -> Path:
    from flowspin import load_spin

    sha = load_spin(flow, "make", spin_id).record["artifacts"][name]["ref"]["sha"]
    return workdir / ".flowspin" / "objects" / sha[:2] / sha


def fresh_make_spin(flow: Path, svc) -> str:
    made = svc.spin(flow, "make", {"reset": True})
    assert made.ok, made.error
    assert not [n for n in made.notices if "could not save" in n], made.notices
    return made.spin_id


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_damaged_blob_is_reported_never_shown_and_rewritten_by_the_next_spin(spun, damage):
    workdir, flow, svc = spun
    spin_id = fresh_make_spin(flow, svc)
    blob = blob_of(workdir, flow, spin_id, "value")
    data = blob.read_bytes()
    if damage == "flipped byte":
        assert data.count(b"\xf4\x01") == 1  # 500 as a pickled 2-byte int
        blob.write_bytes(data.replace(b"\xf4\x01", b"\xf5\x01"))  # now it would read 501
    else:
        blob.write_bytes(data[: len(data) // 2])

    shown = run_flowspin(workdir, "show", "flow.py", "make", "value", "--spin", spin_id)
    assert shown.returncode == 1
    assert "does not match its content hash" in shown.stderr
    assert "501" not in shown.stdout + shown.stderr
    assert "Traceback" not in shown.stderr

    chained = svc.spin(flow, "use")
    assert chained.status == "error"
    assert chained.error["type"] == "DamagedSpin"
    assert spin_id in chained.error["message"] and "Spin make again" in chained.error["message"]

    again = fresh_make_spin(flow, svc)  # the same value: the removed blob is written again
    assert blob_of(workdir, flow, again, "value") == blob  # (waits for the bytes)
    assert blob.read_bytes() == data
    good = svc.spin(flow, "use")
    assert good.ok, good.error
    assert good.base["chained_from"] == [again]
    assert good.artifacts["doubled"]["repr"] == "1000"


def test_records_of_the_wrong_shape_are_treated_as_missing(spun):
    workdir, flow, svc = spun
    good_id = fresh_make_spin(flow, svc)
    folder = next((workdir / ".flowspin" / "spins").glob("*/make"))
    # Newer than any real spin: a record whose artifacts are a list, and one with no spin_id.
    wrong = folder / "99991231-235959-000000-aaaa.msgpack"
    wrong.write_bytes(msgpack.packb({"spin_id": "x", "step": "make", "artifacts": [1, 2]}))
    no_id = folder / "99991231-235959-000001-bbbb.msgpack"
    no_id.write_bytes(
        msgpack.packb({"step": "make", "status": "ok", "artifacts": {}, "created": 1e12})
    )

    shown = run_flowspin(
        workdir, "show", "flow.py", "make", "--spin", "99991231-235959-000000-aaaa"
    )
    assert shown.returncode == 1
    assert "is damaged" in shown.stderr and "Traceback" not in shown.stderr
    newest = run_flowspin(workdir, "show", "flow.py", "make")
    assert newest.returncode == 0, newest.stderr
    assert good_id in newest.stdout

    chained = svc.spin(flow, "use")  # no KeyError: 'spin_id'
    assert chained.ok, chained.error
    assert chained.base["chained_from"] == [good_id]
    wrong.unlink()
    no_id.unlink()
