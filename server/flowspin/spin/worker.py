"""The worker (zygote): one process per flow file holding parent state; forks a child per spin.

Started as `python -m flowspin.spin.worker FLOW_FILE WORKSPACE REQ_FD RESP_FD` with the flow's
interpreter, in the flow's folder. Requests arrive as frames on REQ_FD; `log` and `result`
frames go out on RESP_FD. The worker never runs user step code itself: its memory is only
ever read by children, so no spin can corrupt it.

This module is the event loop and the life of a request (queue, start, cancel, deadlines,
answer); the imported flow is `flowmodule`, plans `plancache`, starting a child `launch`,
reading one `childio`, and the request's result `outcomes`.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from flowspin.logsetup import log_to_stderr
from flowspin.spin.childio import ChildIO
from flowspin.spin.flowmodule import FlowModule
from flowspin.spin.jobs import Active, Child
from flowspin.spin.launch import launch, spin_job, spin_mode
from flowspin.spin.options import SpinOptions
from flowspin.spin.outcomes import combined, setup_failure
from flowspin.spin.plancache import PlanCache
from flowspin.spin.processes import kill_group
from flowspin.spin.protocol import FrameBuffer, write_fd
from flowspin.spin.records import SpinRecords
from flowspin.spin.spares import Spares

log = logging.getLogger(__name__)

GRACE_S = float(os.environ.get("FLOWSPIN_CANCEL_GRACE_S", "2"))
# Spins whose changed artifacts are still being written, at most (a further spin waits).
MAX_WRITING = 2
SHUTDOWN_WRITE_S = 60.0  # how long a stopping worker waits for spins still writing bytes
ENV_BUDGET = "FLOWSPIN_STATE_BUDGET_MB"
ENV_KEEP = "FLOWSPIN_KEEP_SPINS"


class Worker:
    def __init__(self, flow_file: str, workspace: str, req_fd: int, resp_fd: int) -> None:
        from flowspin.spin.state import StateCache
        from flowspin.store.store import Store

        self.flow_file = str(Path(flow_file).resolve())
        self.workspace = str(Path(workspace).resolve())
        self.req_fd = req_fd
        self.resp_fd = resp_fd
        self.store = Store(self.workspace)
        budget = int(float(os.environ.get(ENV_BUDGET, "4096")) * 1024 * 1024)
        self.cache = StateCache(budget, self.store)
        # Big downloads of parent state (a run in S3) say how far they are, on the spin's
        # stderr stream (human CLI output and the editor's spin channel; never inside --json).
        self.cache.progress = self._progress_line
        self.flow = FlowModule(self.flow_file, self.workspace)
        self.plans = PlanCache(self.flow, self.store)
        self.sel = selectors.DefaultSelector()
        self.active: Active | None = None
        self.queue: list[dict[str, Any]] = []
        self.zombies: list[int] = []
        self.spares = Spares(self.flow_file, self.zombies)  # a child forked ahead of a spin
        self.records = SpinRecords(self.store, self.flow_file, GRACE_S)
        self.io = ChildIO(
            self.sel, self.records, self.zombies, GRACE_S, self._output, self._child_done
        )

    def _progress_line(self, text: str) -> None:
        line = text if text.endswith("\n") else text + "\n"
        req = self.active.req_id if self.active else None
        write_fd(self.resp_fd, {"type": "log", "id": req, "stream": "stderr", "data": line})

    def _output(self, stream: str, text: str, spin_id: str) -> None:
        """A child's output, live to the caller (the result keeps it too)."""
        write_fd(
            self.resp_fd,
            {
                "type": "log",
                "id": self.active.req_id if self.active else None,
                "stream": stream,
                "data": text,
                "spin_id": spin_id,
            },
        )

    def load(self, plan: Any, lazy: bool = False) -> list[dict[str, Any]]:
        return [self.cache.get(spec, lazy=lazy).as_child_input() for spec in plan.parents]

    # --- main loop -------------------------------------------------------------------------
    def serve(self) -> None:
        os.set_blocking(self.req_fd, False)
        self.sel.register(self.req_fd, selectors.EVENT_READ, ("req", None))
        self.req_frames = FrameBuffer()
        write_fd(self.resp_fd, {"type": "ready", "pid": os.getpid()})
        while True:
            timeout = self._next_wakeup()
            for key, _ in self.sel.select(timeout):
                kind, child = key.data
                if kind == "req":
                    try:
                        data = os.read(self.req_fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if not data:
                        self._shutdown()
                        return
                    for msg in self.req_frames.feed(data):
                        if self._handle(msg) == "exit":
                            self._shutdown()
                            return
                else:
                    self.io.read(key.fd, child)
            self._check_deadlines()
            if self.zombies:
                self._reap_zombies()
            if self.active is None and self.records.pending_gc and not self.records.persisting:
                for problem in self.records.gc(keep=int(os.environ.get(ENV_KEEP, "5"))):
                    log.warning("%s", problem)
            if self.active is None and self.queue:
                ready = [m for m in self.queue if not self._waits_for_bytes(m)]
                if ready:
                    self.queue.remove(ready[0])
                    self._start(ready[0])
            if self.active is None and not self.queue and self.cache.has_lazy():
                try:
                    self.cache.promote()  # the next spin of these parents is warm
                except Exception as exc:
                    log.warning("loading parent state failed: %s", exc, exc_info=True)
                self.spares.drop()  # forked before the state was complete
            if (
                self.active is None
                and not self.queue
                and self.spares.spare is None
                and self.cache.keys()
                and spin_mode(SpinOptions())[0] == "fork"
            ):
                try:
                    self.spares.make(self.cache, self.flow.generation)
                except OSError:
                    pass

    def _next_wakeup(self) -> float | None:
        a = self.active
        now = time.monotonic()
        waits = [max(0.0, when - now) for when, _ in self.io.stragglers]
        if a is None:
            if self.zombies:
                waits.append(0.05)
            return min(waits) if waits else None
        waits.append(0.5)
        if a.deadline is not None:
            waits.append(max(0.0, a.deadline - now))
        if a.sigint_at is not None:
            waits.append(max(0.0, a.sigint_at + GRACE_S - now))
        waits += [max(0.0, c.drain_until - now) for c in a.children if c.drain_until]
        return min(waits)

    def _handle(self, msg: dict[str, Any]) -> str | None:
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "spin":
            if self.active is None and not self._waits_for_bytes(msg):
                self._start(msg)
            else:
                self.queue.append(msg)
        elif kind == "cancel":
            self._cancel(msg.get("id"))
        elif kind == "preload":
            self._preload(msg)
        elif kind == "rebase":
            # A run of this flow just ended: choose base runs afresh at the next spin (a run
            # that failed late is still the newest base for steps whose parents it finished).
            self.plans.forget()
            write_fd(self.resp_fd, {"type": "rebased", "id": msg.get("id")})
        elif kind == "ping":
            write_fd(
                self.resp_fd,
                {
                    "type": "pong",
                    "id": msg.get("id"),
                    "cache": self.cache.stats(),
                    "pid": os.getpid(),
                },
            )
        elif kind == "shutdown":
            return "exit"
        return None

    def _waits_for_bytes(self, msg: dict[str, Any]) -> bool:
        """A spin that would chain from a parent spin whose bytes are still being written
        starts once they are (a re-spin of the same step, or of any other, does not wait)."""
        if not self.records.persisting or self.flow.cls is None:
            return False
        if len(self.records.persisting) >= MAX_WRITING:
            return True  # each writer holds its changed copy in memory: keep them bounded
        try:
            node = self.flow.cls._graph[msg["step"]]
        except (KeyError, TypeError):
            return False
        writing = self.records.writing_steps()
        return any(p in writing for p in node.in_funcs)

    def _preload(self, msg: dict[str, Any]) -> None:
        reply = {"type": "preloaded", "id": msg.get("id"), "ok": True}
        try:
            self.flow.warm()
            # Loading ahead never changes what later spins see: a preload made with the
            # options of an earlier `--reset` spin must not mark a new reset.
            opts = SpinOptions.from_dict({**(msg.get("options") or {}), "reset": False})
            plan = self.plans.plan(msg["step"], opts)
            self.load(plan)
            reply["run_id"] = plan.run_id
        except Exception as exc:
            reply.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        write_fd(self.resp_fd, reply)

    def _cancel(self, req_id: Any) -> None:
        a = self.active
        if a is not None and (req_id is None or req_id == a.req_id):
            a.cancelled = True
            self.queue = [q for q in self.queue if req_id is not None and q.get("id") != req_id]
            self._interrupt(a)
        else:
            self.queue = [q for q in self.queue if q.get("id") != req_id]

    def _interrupt(self, a: Active) -> None:
        a.pending.clear()
        if a.sigint_at is None:
            a.sigint_at = time.monotonic()
            for c in a.children:
                kill_group(c.pid, signal.SIGINT)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        self.io.kill_stragglers(now)
        a = self.active
        if a is None:
            return
        if a.deadline is not None and now >= a.deadline and a.sigint_at is None:
            a.timed_out = True
            self._interrupt(a)
        if a.sigint_at is not None and now >= a.sigint_at + GRACE_S:
            for c in a.children:
                kill_group(c.pid, signal.SIGKILL)
        self.io.drained(a.children, now)

    # --- starting a spin -------------------------------------------------------------------
    def _start(self, msg: dict[str, Any]) -> None:
        from flowspin.spin.plan import SpinSetupError, split_count

        t0 = time.perf_counter()
        step = msg.get("step")
        try:
            opts = SpinOptions.from_dict(msg.get("options"))
            if not isinstance(step, str) or not step:
                raise ValueError(f"a spin request needs a step name, got {step!r}"[:300])
        except ValueError as exc:
            a = Active(msg.get("id"), str(step), SpinOptions(), t0, None)
            self.active = a
            self._finish_early(a, "InvalidRequest", str(exc))
            return
        timeout = opts.timeout
        a = Active(req_id=msg.get("id"), step=step, opts=opts, started=t0, deadline=None)
        self.active = a
        try:
            self.flow.warm()
            deco_timeout = self.flow.step_timeout(step)
            if deco_timeout and opts.debug_port is not None:
                # Paused at a breakpoint is not hung: only --debug-timeout (for the attach)
                # and an explicit --timeout apply while a debugger drives the step.
                a.notices.append(f"@timeout ({deco_timeout:g} s) not applied while debugging")
            elif deco_timeout and (timeout is None or deco_timeout < timeout):
                timeout = deco_timeout
                a.notices.append(f"@timeout applied: {deco_timeout:g} s")
            a.mode, reason = spin_mode(opts)
            if reason:
                a.notices.append(f"spin mode {a.mode}: {reason}")
            if self.flow.has_step(step):
                from flowspin.spin.dagcheck import blocking_problem

                problem = blocking_problem(self.flow_file, self.flow.name, step)
                if problem is not None:
                    self._finish_early(a, error=problem)
                    return
            plan = self.plans.plan(step, opts)
            parents = self.load(plan, lazy=True)
            a.job = spin_job(
                self.flow_file, self.workspace, step, plan.run_id, opts, self.flow.module_snapshot
            )
            if opts.all_splits:
                n = split_count(
                    self.flow.name, self.flow.cls._graph, step, plan, parents[0]["values"]
                )
                if plan.split_index is None:
                    raise SpinSetupError(
                        "NotAForeach", f"step {step} is not a foreach child; --all-splits needs one"
                    )
                a.pending = [(None, i) for i in range(n)]
            else:
                a.pending = [(plan, plan.split_index)]
                a.parents[id(plan)] = parents
        except SpinSetupError as exc:
            self._finish_early(a, exc.err_type, exc.message, line=exc.line)
            return
        except Exception as exc:
            from flowspin.store.remote import DatastoreUnreachable

            # A datastore that cannot be reached is the whole story: its message says where
            # and what to check, so no traceback of flowspin's own frames comes with it.
            tb = "" if isinstance(exc, DatastoreUnreachable) else traceback.format_exc()
            self._finish_early(a, type(exc).__name__, str(exc), tb)
            return
        a.setup_ms = (time.perf_counter() - t0) * 1e3
        if timeout:
            a.deadline = time.monotonic() + float(timeout)
        self._launch_more(a)

    def _launch_more(self, a: Active) -> None:
        """Start children of pending splits, at most one per CPU at a time; answer once
        none is left."""
        limit = max(1, os.cpu_count() or 1)
        while a.pending and len(a.children) < limit:
            plan, split = a.pending.pop(0)
            if plan is None:
                opts = SpinOptions.from_dict(
                    {**a.opts.to_dict(), "split": split, "all_splits": False}
                )
                try:
                    plan = self.plans.plan(a.step, opts)
                    a.parents[id(plan)] = self.load(plan, lazy=True)
                except Exception as exc:
                    a.notices.append(f"split {split}: {type(exc).__name__}: {exc}")
                    continue
            parents = a.parents.pop(id(plan))
            child = launch(a.step, plan, a.job, parents, a.mode, self.spares, self.flow.generation)
            self.io.watch(child)
            a.children.append(child)
        if not a.children and not a.pending:
            self._complete(a)

    def _child_done(self, child: Child) -> None:
        a = self.active
        assert a is not None
        a.children.remove(child)
        a.done.append(child)
        self._launch_more(a)

    def _reap_zombies(self) -> None:
        for pid in list(self.zombies):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.zombies.remove(pid)

    # --- results ---------------------------------------------------------------------------
    def _finish_early(
        self,
        a: Active,
        err_type: str = "",
        message: str = "",
        tb: str = "",
        error: dict[str, Any] | None = None,
        line: int = 0,
    ) -> None:
        result = setup_failure(
            a, self.flow.name, self.flow_file, err_type, message, tb, error, line
        )
        self.active = None
        write_fd(self.resp_fd, {"type": "result", "id": a.req_id, "result": result})

    def _complete(self, a: Active) -> None:
        done = sorted(a.done, key=lambda c: c.plan.split_index or 0)
        results = [self.records.result(a, c, self.flow.name) for c in done]
        if not results:
            self._finish_early(a, "NoSplits", "; ".join(a.notices) or "nothing to spin")
            return
        final = combined(a, done, results)
        self.active = None
        write_fd(self.resp_fd, {"type": "result", "id": a.req_id, "result": final})

    def _shutdown(self) -> None:
        self.spares.drop()
        a = self.active
        if a is not None:
            for c in a.children:
                kill_group(c.pid, signal.SIGKILL)
        # Spins that reported are kept: their bytes are written before the worker goes.
        deadline = time.monotonic() + SHUTDOWN_WRITE_S
        while self.records.persisting and time.monotonic() < deadline:
            for key, _ in self.sel.select(max(0.0, deadline - time.monotonic())):
                kind, child = key.data
                if kind == "child" and child in self.records.persisting:
                    self.io.read(key.fd, child)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    flow_file, workspace, req_fd, resp_fd = args[0], args[1], int(args[2]), int(args[3])
    log_to_stderr("worker")  # stderr is .flowspin/logs/worker-<flow>.log (workerhandle.py)
    os.environ.setdefault("USER", os.environ.get("METAFLOW_USER", "flowspin"))
    worker = Worker(flow_file, workspace, req_fd, resp_fd)
    worker.flow.preimport()
    worker.flow.warm()
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
