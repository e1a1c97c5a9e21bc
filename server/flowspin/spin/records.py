"""A spin's result and its record in the store, including the record of a spin whose changed
artifacts are still being written (results first, bytes after).

`SpinRecords` owns the records of one worker's flow file: it writes each spin's record, holds
readers off a record until its bytes are in (`Store.hold_writing`), makes it final when the
child reports them, and remembers which steps need garbage collection once the worker is idle.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from typing import Any

from flowspin.protocol import error_info
from flowspin.spin.jobs import Active, Child

log = logging.getLogger(__name__)

_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+)')


class SpinRecords:
    def __init__(self, store: Any, flow_file: str, grace_s: float) -> None:
        self.store = store
        self.flow_file = flow_file
        self.grace_s = grace_s
        # Children that reported and are still writing their changed artifacts.
        self.persisting: list[Child] = []
        self.pending_gc: set[str] = set()

    def writing_steps(self) -> set[str]:
        return {c.step for c in self.persisting}

    def gc(self, keep: int) -> list[str]:
        """Collect old spins of the steps spun since the last call; the problems met."""
        problems = []
        for step in self.pending_gc:
            try:
                self.store.gc(self.flow_file, step, keep=keep)
            except Exception as exc:  # a damaged store must not take the worker down
                problems.append(f"store GC failed: {exc!r}")
        self.pending_gc.clear()
        return problems

    def result(self, a: Active, c: Child, flow_name: str) -> dict[str, Any]:
        plan = c.plan
        rep = c.report or {}
        stderr = "".join(c.stderr)
        error = rep.get("error")
        status = rep.get("status", "error")
        if c.report is None:
            status = "error"
            error = crash_error(c.status or 0, stderr, self.flow_file, a)
        if a.cancelled and status != "ok":
            status = "cancelled"
            if error and error.get("type") in ("Cancelled", "Killed", "KeyboardInterrupt"):
                error["type"] = "Cancelled"
        if a.timed_out and status != "ok":
            status = "error"
            error = dict(
                error or {},
                type="Timeout",
                message="the spin exceeded its time limit and was stopped "
                f"(SIGINT, then SIGKILL after {self.grace_s:g} s)",
            )
        arts = rep.get("artifacts") or {}
        code, stale_notes = self.code(a, plan, rep.get("flow") or flow_name)
        result = {
            "status": status,
            "flow": rep.get("flow") or flow_name,
            "step": a.step,
            "spin_id": c.spin_id,
            "mode": c.mode,
            "base": {
                "run_id": plan.run_id,
                "tasks": [t for t in plan.tasks if t],  # a failed split filled by a spin: none
                "chained_from": list(plan.chained_from),
            },
            "artifacts": {
                n: {k: e.get(k) for k in ("type", "repr", "size", "changed")}
                for n, e in arts.items()
                if not n.startswith("_")
            },
            "next": rep.get("next") or {},
            "stdout": "".join(c.stdout),
            "stderr": stderr,
            "duration_ms": (time.perf_counter() - a.started) * 1e3,
            "cards": rep.get("cards") or [],
            "error": error if status != "ok" else None,
            "notices": a.notices + list(rep.get("notices") or []) + c.notices + stale_notes,
            "timings": dict(
                rep.get("timings") or {},
                setup_ms=a.setup_ms,
                launched_ms=(c.started - a.started) * 1e3,
                reported_ms=((c.report_at or time.perf_counter()) - a.started) * 1e3,
            ),
            "split_index": plan.split_index,
            "flow_file": self.flow_file,
            "code": code,
        }
        if rep.get("memory"):
            result["timings"].update({f"child_{k}_mb": v for k, v in rep["memory"].items()})
        if not a.opts.persist:
            result["persist"] = {"state": "off"}
        elif c.report is not None:
            self.save(c, result, arts)
        return result

    def code(self, a: Active, plan: Any, flow_name: str) -> tuple[dict[str, str], list[str]]:
        """What the output was made from and notices about stale parents (`downstream`);
        never the reason a spin fails."""
        from flowspin.spin.downstream import spin_code

        try:
            return spin_code(
                self.flow_file,
                flow_name,
                a.step,
                list(plan.parents),
                a.opts.params,
                a.opts.code_base,
                self.store,
            )
        except Exception:
            log.warning("no code identity for step %s (staleness unknown)", a.step, exc_info=True)
            return {}, []

    def save(self, c: Child, result: dict[str, Any], arts: dict[str, Any]) -> None:
        """Write the spin's record; while the child still writes changed artifacts, the record
        says so and readers of it wait (`Store.wait_written`) until `written` makes it final."""
        pending: dict[str, Any] | None = (c.report or {}).get("persist")
        writing = bool(pending) and "result" in c.fds.values()
        result["persist"] = (
            {"state": "writing", **(pending or {})}
            if writing
            else {"state": "done", **(pending or {})}
        )
        record = {
            "spin_id": c.spin_id,
            "flow": result["flow"],
            "flow_file": self.flow_file,
            "step": c.step,
            "status": result["status"],
            "created": time.time(),
            "base": result["base"],
            "split_index": c.plan.split_index,
            "persisted": not writing,
            "writing": writing,
            "artifacts": arts,
            "next": result["next"],
            "result": result,
        }
        try:
            if writing:
                self.store.hold_writing(self.flow_file, c.step, c.spin_id)
                c.record = record
            elif pending:  # written already, before its result was even sent
                c.record = dict(record, writing=True)
                result["persist"] = self.written(c, c.persist_refs)
                return
            self.store.write_record(self.flow_file, record)
            self.pending_gc.add(c.step)  # after the answer: GC is not on the spin's path
        except Exception as exc:
            if writing:
                self.store.release_writing(self.flow_file, c.step, c.spin_id)
                c.record = None
            result["notices"].append(f"could not save the spin to {self.store.root}: {exc}")

    def written(self, child: Child, refs: dict[str, Any] | None) -> dict[str, Any]:
        """The child finished writing (or died trying): make its record final; its `persist`."""
        from flowspin.spin.persist import fill_refs

        if child in self.persisting:
            self.persisting.remove(child)
        record = child.record
        if record is None:  # not persisted (--no-persist, or no record was written)
            return {}
        child.record = None
        if refs is None:
            failed = [n for n, e in record["artifacts"].items() if e.get("ref") is None]
            problem = "the spin's process ended before its changed artifacts were written"
        else:
            failed = fill_refs(record["artifacts"], refs)
            problem = "could not write artifact(s) " + ", ".join(failed) if failed else ""
        record["writing"] = False
        record["persisted"] = not problem
        persist = {"state": "failed" if problem else "done"}
        if problem:
            persist["error"] = problem
            record["persist_error"] = problem
        persist = dict(record["result"].get("persist") or {}, **persist)
        record["result"] = dict(record["result"], persist=persist)
        try:
            self.store.write_record(self.flow_file, record)
        except Exception as exc:
            log.warning("could not finish spin %s: %s", record["spin_id"], exc)
        finally:
            self.store.release_writing(self.flow_file, record["step"], record["spin_id"])
        self.pending_gc.add(record["step"])
        return persist


def crash_error(status: int, stderr: str, flow_file: str, a: Active) -> dict[str, Any]:
    file, line = flow_file, 0
    for m in _FRAME_RE.finditer(stderr):
        if m.group(1) == flow_file:
            file, line = m.group(1), int(m.group(2))
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGSEGV:
            etype, msg = (
                "Segfault",
                "the step crashed its process (SIGSEGV); the warm state is unharmed",
            )
        elif sig == signal.SIGKILL and (a.cancelled or a.timed_out):
            etype, msg = "Cancelled", "the spin was stopped with SIGKILL after the grace period"
        elif sig == signal.SIGKILL:
            etype, msg = (
                "Killed",
                "the step's process was killed (SIGKILL), most likely out of memory",
            )
        elif sig == signal.SIGINT:
            etype, msg = "Cancelled", "the spin was interrupted"
        else:
            etype, msg = "Signal", f"the step's process died from signal {signal.Signals(sig).name}"
    else:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        etype, msg = (
            "ProcessExit",
            f"the step ended its process with exit code {code} (os._exit?) before finishing",
        )
    return dict(error_info(etype, msg, traceback=stderr[-4000:], file=file, line=line))

