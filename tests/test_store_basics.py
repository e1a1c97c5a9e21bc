"""The local store: atomic writes, damaged records, GC, lazy loading, zero-copy buffers."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from flowspin.store import Store, load_spin
from flowspin.store.store import dumps_value, loads_value


def record(step, spin_id, value_sha, created=None):
    return {
        "spin_id": spin_id,
        "step": step,
        "status": "ok",
        "created": created or time.time(),
        "base": {"run_id": "1", "tasks": [], "chained_from": []},
        "artifacts": {
            "x": {
                "ref": {"kind": "blob", "sha": value_sha},
                "type": "int",
                "repr": "1",
                "size": 1,
                "changed": True,
            }
        },
        "result": {"status": "ok", "flow": "F", "step": step, "spin_id": spin_id, "mode": "fork"},
    }


def test_roundtrip_with_out_of_band_buffers():
    arr = np.arange(1000, dtype=np.float64)
    chunks, sha, size = dumps_value({"a": arr, "s": "x"})
    data = b"".join(bytes(c) for c in chunks)
    assert len(data) == size and len(sha) == 64
    back = loads_value(data)
    assert back["s"] == "x" and np.array_equal(back["a"], arr)
    assert dumps_value({"a": arr, "s": "x"})[1] == sha  # content addressed


def test_records_gc_and_lazy_load(tmp_path):
    flow = tmp_path / "flow.py"
    flow.write_text("# flow\n")
    (tmp_path / ".git").mkdir()
    store = Store(tmp_path)
    shas = []
    for i in range(7):
        sha, _ = store.put_value(i * 10)
        shas.append(sha)
        store.write_record(flow, record("s", f"2026-{i:02d}", sha))
    # everything old enough to be collected
    for blob in store.objects.glob("*/*"):
        os.utime(blob, (0, 0))
    removed = store.gc(flow, "s", keep=5)
    assert removed == 2
    assert store.list_spins(flow, "s") == [f"2026-{i:02d}" for i in range(2, 7)]
    assert not store.blob_path(shas[0]).exists() and store.blob_path(shas[6]).exists()
    spun = load_spin(flow, "s")
    assert spun.spin_id == "2026-06" and spun.artifacts["x"] == 60
    assert list(spun.artifacts) == ["x"] and spun.result.flow == "F"
    assert load_spin(flow, "s", "2026-03").artifacts["x"] == 30
    with pytest.raises(LookupError):
        load_spin(flow, "other")


def test_damaged_newest_record_leaves_older_readable(tmp_path):
    flow = tmp_path / "flow.py"
    flow.write_text("# flow\n")
    store = Store(tmp_path)
    sha, _ = store.put_value(1)
    store.write_record(flow, record("s", "2026-01", sha))
    (store.step_dir(flow, "s") / "2026-02.msgpack").write_bytes(b"\xc1garbage")
    assert load_spin(flow, "s").spin_id == "2026-01"
    leftovers = [p for p in store.root.rglob(".*.tmp")]
    assert leftovers == []
