"""The one result a spin request gets back, when it is not simply its one child's.

A request that fails before any child runs (a bad request, no base run, a DAG the edit broke,
an unreachable datastore) still answers with a whole result, shaped like a child's, so every
caller reads one contract. A request with `--all-splits` ran a child per foreach split: its
result is the first failing split's (or the first split's), with every split listed.
"""

from __future__ import annotations

import time
from typing import Any

from flowspin.protocol import error_info
from flowspin.spin.jobs import Active, Child


def setup_failure(
    a: Active,
    flow_name: str,
    flow_file: str,
    err_type: str = "",
    message: str = "",
    tb: str = "",
    error: dict[str, Any] | None = None,
    line: int = 0,
) -> dict[str, Any]:
    """The result of a request that ended before any child ran. `error`, when given, is a
    whole error (the checker's diagnostic) and the other fields are not used."""
    from flowspin.store.layout import new_spin_id

    return {
        "status": "error",
        "flow": flow_name,
        "step": a.step,
        "spin_id": new_spin_id(),
        "mode": getattr(a, "mode", "fork"),
        "base": {"run_id": "", "tasks": [], "chained_from": []},
        "artifacts": {},
        "next": {},
        "stdout": "",
        "stderr": "",
        "duration_ms": (time.perf_counter() - a.started) * 1e3,
        "cards": [],
        "error": error or error_info(err_type, message, traceback=tb, file=flow_file, line=line),
        "notices": a.notices,
        "timings": {},
        "flow_file": flow_file,
    }


def combined(a: Active, done: list[Child], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's result from its children's (`done` and `results` in split order, at
    least one)."""
    if len(results) == 1:
        final = results[0]
        if a.opts.debug_port is not None:  # where the debugger listened, how long it took
            final["debug"] = (done[0].report or {}).get("debug") or {}
        return final
    final = dict(results[0])
    bad = [r for r in results if r["status"] != "ok"]
    if bad:
        final = dict(bad[0])
    final["splits"] = [
        {k: r[k] for k in ("spin_id", "status", "split_index", "duration_ms", "error", "next")}
        for r in results
    ]
    final["duration_ms"] = (time.perf_counter() - a.started) * 1e3
    return final
