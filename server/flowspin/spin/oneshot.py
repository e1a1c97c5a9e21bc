"""Subprocess mode: a fresh process loads the parent state itself and runs one spin.

Used where forking the worker is unsafe (no fork, CUDA initialised). Slower than a fork, but
just as isolated: nothing this process does reaches the worker.
"""

from __future__ import annotations

import faulthandler
import os
import sys

from flowspin.spin.protocol import read_fd


def main() -> int:
    res_fd = int(sys.argv[1])
    msg = read_fd(0)
    assert msg is not None and msg["type"] == "job"
    job = msg["job"]
    faulthandler.enable()
    from flowspin.spin.flowload import exec_flow_file
    from flowspin.spin.plan import ParentSpec
    from flowspin.spin.processes import limit_memory
    from flowspin.spin.state import StateCache
    from flowspin.store.store import Store

    report = None
    try:
        exec_flow_file(job["flow_file"])  # makes __main__ classes of parent artifacts loadable
    except BaseException:
        pass
    cache = StateCache(1 << 62, Store(job["workspace"]))
    parents = [
        cache.get(
            ParentSpec(**{**s, "index": tuple(s.get("index") or ())}), lazy=True
        ).as_child_input()
        for s in msg["parents"]
    ]
    limit_memory()
    from flowspin.spin.child import execute
    from flowspin.spin.persist import PendingBlobs
    from flowspin.spin.processes import report_and_write

    pending = PendingBlobs(job)
    report = execute(job, parents, pending=pending)
    report_and_write(report, pending, res_fd)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
