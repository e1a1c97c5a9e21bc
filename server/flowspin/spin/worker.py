"""The worker (zygote): one process per flow file holding parent state; forks a child per spin.

Started as `python -m flowspin.spin.worker FLOW_FILE WORKSPACE REQ_FD RESP_FD` with the flow's
interpreter, in the flow's folder. Requests arrive as frames on REQ_FD; `log` and `result`
frames go out on RESP_FD. The worker never runs user step code itself: its memory is only
ever read by children, so no spin can corrupt it.
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
from flowspin.spin.jobs import Active, Child
from flowspin.spin.options import SpinOptions
from flowspin.spin.processes import (
    child_main,
    fork_unsafe_reason,
    freeze_heap,
    group_members,
    kill_group,
    own_group,
)
from flowspin.spin.protocol import FrameBuffer, write_fd
from flowspin.spin.records import SpinRecords
from flowspin.spin.spares import Spares

log = logging.getLogger(__name__)

GRACE_S = float(os.environ.get("FLOWSPIN_CANCEL_GRACE_S", "2"))
MAX_LOG = 10 * 1024 * 1024
# Spins whose changed artifacts are still being written, at most (a further spin waits).
MAX_WRITING = 2
SHUTDOWN_WRITE_S = 60.0  # how long a stopping worker waits for spins still writing bytes
# Output still arriving after the step ended (from processes it started) is read this long.
DRAIN_S = float(os.environ.get("FLOWSPIN_DRAIN_S", "0.5"))
ENV_MODE = "FLOWSPIN_SPIN_MODE"
ENV_BUDGET = "FLOWSPIN_STATE_BUDGET_MB"
ENV_CHILD_MEM = "FLOWSPIN_CHILD_MEMORY_MB"
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
        self.flow_cls: Any = None
        self.flow_mtime: float | None = None
        self.load_error: str | None = None
        self.module_snapshot: dict[str, tuple[str, float]] = {}
        self.sel = selectors.DefaultSelector()
        self.active: Active | None = None
        self.queue: list[dict[str, Any]] = []
        self.plans: dict[tuple, Any] = {}
        self.generation = 0  # bumps when the flow module is re-imported
        self.zombies: list[int] = []
        self.spares = Spares(self.flow_file, self.zombies)  # a child forked ahead of a spin
        self.records = SpinRecords(self.store, self.flow_file, GRACE_S)
        # (when, process group): background processes a step left, to SIGKILL if still there.
        self.stragglers: list[tuple[float, int]] = []
        self._latest_checked: dict[str, tuple[float, bool]] = {}

    def _progress_line(self, text: str) -> None:
        line = text if text.endswith("\n") else text + "\n"
        req = self.active.req_id if self.active else None
        write_fd(self.resp_fd, {"type": "log", "id": req, "stream": "stderr", "data": line})

    @property
    def flow_name(self) -> str:
        return self.flow_cls.__name__ if self.flow_cls is not None else ""

    # --- flow module -------------------------------------------------------------------
    @staticmethod
    def preimport() -> None:
        """Modules every spin child needs, imported once here instead of in every child."""
        import cloudpickle  # noqa: F401
        import metaflow.cli  # noqa: F401
        import metaflow.datastore.inputs  # noqa: F401
        import metaflow.parameters  # noqa: F401

        # `current.card` for every spin, @card or not: Metaflow's collector and its card
        # registry cost a child about 3.5 ms (a third of a warm spin) when imported there.
        import metaflow.plugins.cards.component_serializer  # noqa: F401
        import metaflow.task  # noqa: F401

        import flowspin.cards.spincards  # noqa: F401
        import flowspin.spin.child  # noqa: F401
        import flowspin.store.store  # noqa: F401

    def warm(self) -> None:
        """(Re)import the flow file when it changed, for its imports and its graph."""
        from flowspin.spin.flowload import (
            FlowLoadError,
            drop_changed_modules,
            exec_flow_file,
            find_flow_class,
            snapshot_modules,
        )

        try:
            mtime = os.stat(self.flow_file).st_mtime
        except OSError:
            mtime = None
        if self.flow_cls is not None and mtime == self.flow_mtime:
            return
        self.flow_mtime = mtime
        drop_changed_modules(self.module_snapshot)  # re-import edited helpers, not stale ones
        try:
            module = exec_flow_file(self.flow_file)
            self.flow_cls = find_flow_class(module)
            self.load_error = None
            self.plans.clear()
            self.generation += 1
        except FlowLoadError as exc:
            self.load_error = exc.message
        except BaseException as exc:  # the flow's own import failed; the child will report it
            self.load_error = f"{type(exc).__name__}: {exc}"
        self.module_snapshot = snapshot_modules(self.workspace)

    def step_timeout(self, step: str) -> float | None:
        try:
            func = getattr(self.flow_cls, step)
        except AttributeError:
            return None
        for deco in getattr(func, "decorators", []):
            if deco.name == "timeout":
                a = deco.attributes or {}
                total = (
                    float(a.get("seconds") or 0)
                    + 60 * float(a.get("minutes") or 0)
                    + 3600 * float(a.get("hours") or 0)
                )
                return total or None
        return None

    # --- planning and loading ------------------------------------------------------------
    def plan(self, step: str, opts: SpinOptions) -> Any:
        from flowspin.spin.plan import SpinSetupError, plan_spin, unknown_step

        if self.flow_cls is None:
            raise SpinSetupError(
                "FlowLoadError", f"cannot import {self.flow_file}: {self.load_error}"
            )
        graph = self.flow_cls._graph
        if step not in {n.name for n in graph}:
            raise unknown_step(self.flow_cls.__name__, graph, step)
        if opts.reset:
            self.store.mark_reset(self.flow_file)
            self.plans.clear()
        key = (step, opts.run, opts.task, opts.split)
        plan = self.plans.get(key)
        if plan is None or not self._plan_current(plan, opts):
            plan = plan_spin(self.flow_cls.__name__, graph, step, opts, self.store, self.flow_file)
            if not (opts.run or opts.task):
                plan.newest_seen = self._newest_run_id(plan.flow_name)
            self.plans[key] = plan
        else:
            from flowspin.spin.plan import rechain

            rechain(plan, self.store, self.flow_file)
        return plan

    def _plan_current(self, plan: Any, opts: SpinOptions) -> bool:
        if opts.run or opts.task:
            return True
        # A newer run of the flow makes the cached base run stale (checked at most once a second:
        # a Metaflow run takes longer than that to produce parents anyway).
        seen = self._latest_checked.get(plan.run_id)
        if seen is not None and time.monotonic() - seen[0] < 1.0:
            return seen[1]
        fresh = self._latest_is(plan)
        self._latest_checked[plan.run_id] = (time.monotonic(), fresh)
        return fresh

    def _latest_is(self, plan: Any) -> bool:
        """Whether the plan's base run is still the one a fresh choice would make: a newer run
        that finished always wins; a newer unfinished one (in flight, failed or cancelled) is
        considered once, since it may hold the parents of the step already."""
        try:
            from metaflow import Flow

            latest = Flow(plan.flow_name).latest_run
            if latest is None or latest.id == plan.run_id:
                return True
            return not latest.finished and latest.id == plan.newest_seen
        except Exception:
            log.debug("no latest run of %s", plan.flow_name, exc_info=True)
            return False

    @staticmethod
    def _newest_run_id(flow_name: str) -> str | None:
        try:
            from metaflow import Flow

            latest = Flow(flow_name).latest_run
            return latest.id if latest is not None else None
        except Exception:
            log.debug("no latest run of %s", flow_name, exc_info=True)
            return None

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
                    self._read_child(key.fd, child)
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
                and self._mode(SpinOptions())[0] == "fork"
            ):
                try:
                    self.spares.make(self.cache, self.generation)
                except OSError:
                    pass

    def _next_wakeup(self) -> float | None:
        a = self.active
        now = time.monotonic()
        waits = [max(0.0, when - now) for when, _ in self.stragglers]
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
            self.plans.clear()
            self._latest_checked.clear()
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
        if not self.records.persisting or self.flow_cls is None:
            return False
        if len(self.records.persisting) >= MAX_WRITING:
            return True  # each writer holds its changed copy in memory: keep them bounded
        try:
            node = self.flow_cls._graph[msg["step"]]
        except (KeyError, TypeError):
            return False
        writing = self.records.writing_steps()
        return any(p in writing for p in node.in_funcs)

    def _preload(self, msg: dict[str, Any]) -> None:
        reply = {"type": "preloaded", "id": msg.get("id"), "ok": True}
        try:
            self.warm()
            # Loading ahead never changes what later spins see: a preload made with the
            # options of an earlier `--reset` spin must not mark a new reset.
            opts = SpinOptions.from_dict({**(msg.get("options") or {}), "reset": False})
            plan = self.plan(msg["step"], opts)
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
        for when, pgid in [x for x in self.stragglers if x[0] <= now]:
            self.stragglers.remove((when, pgid))
            kill_group(pgid, signal.SIGKILL)
        a = self.active
        if a is None:
            return
        if a.deadline is not None and now >= a.deadline and a.sigint_at is None:
            a.timed_out = True
            self._interrupt(a)
        if a.sigint_at is not None and now >= a.sigint_at + GRACE_S:
            for c in a.children:
                kill_group(c.pid, signal.SIGKILL)
        for c in list(a.children):
            if c.drain_until is not None and now >= c.drain_until:
                self._stop_leftovers(c)

    def _stop_leftovers(self, child: Child) -> None:
        """The step is over but processes it started live on, holding its output open: say
        so, stop reading, and stop them (SIGTERM now, SIGKILL after the grace period)."""
        for fd, name in list(child.fds.items()):
            if name in ("stdout", "stderr"):
                self.sel.unregister(fd)
                os.close(fd)
                del child.fds[fd]
        left = group_members(child.pid, exclude=child.pid)
        if left:
            shown = ", ".join(f"{pid} ({cmd})" for pid, cmd in left[:5])
            child.notices.append(
                f"the step left {len(left)} process(es) running: {shown}; flowspin stopped "
                f"them (SIGTERM, then SIGKILL after {GRACE_S:g} s) — wait for what a step "
                "starts before it returns"
            )
            kill_group(child.pid, signal.SIGTERM)
            self.stragglers.append((time.monotonic() + GRACE_S, child.pid))
        self._maybe_done(child)

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
            self.warm()
            deco_timeout = self.step_timeout(step)
            if deco_timeout and opts.debug_port is not None:
                # Paused at a breakpoint is not hung: only --debug-timeout (for the attach)
                # and an explicit --timeout apply while a debugger drives the step.
                a.notices.append(f"@timeout ({deco_timeout:g} s) not applied while debugging")
            elif deco_timeout and (timeout is None or deco_timeout < timeout):
                timeout = deco_timeout
                a.notices.append(f"@timeout applied: {deco_timeout:g} s")
            a.mode, reason = self._mode(opts)
            if reason:
                a.notices.append(f"spin mode {a.mode}: {reason}")
            if self.flow_cls is not None and step in {n.name for n in self.flow_cls._graph}:
                from flowspin.spin.dagcheck import blocking_problem

                problem = blocking_problem(self.flow_file, self.flow_cls.__name__, step)
                if problem is not None:
                    self._finish_early(a, error=problem)
                    return
            plan = self.plan(step, opts)
            parents = self.load(plan, lazy=True)
            a.job = {
                "flow_file": self.flow_file,
                "workspace": self.workspace,
                "step": step,
                "run_id": plan.run_id,
                "params": opts.params,
                "artifacts_module": str(Path(opts.artifacts_module).resolve())
                if opts.artifacts_module
                else None,
                "persist": opts.persist,
                "module_snapshot": self.module_snapshot,
                "debug": None
                if opts.debug_port is None
                else {"port": opts.debug_port, "timeout": opts.debug_timeout},
                # Metaflow's own rule (METAFLOW_USER or the profile's, SUDO_USER, USERNAME,
                # USER; never root), so `current.username` and the namespace match the run's.
                "user": __import__("metaflow.util").util.get_username()
                or os.environ.get("USER")
                or "flowspin",
            }
            if opts.all_splits:
                n = split_count(
                    self.flow_cls.__name__, self.flow_cls._graph, step, plan, parents[0]["values"]
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

    def _mode(self, opts: SpinOptions) -> tuple[str, str | None]:
        forced = opts.mode or os.environ.get(ENV_MODE)
        reason = fork_unsafe_reason()
        if forced == "subprocess":
            return "subprocess", "forced by setting" if not reason else reason
        if reason:
            return "subprocess", reason
        return "fork", None

    def _launch_more(self, a: Active) -> None:
        limit = max(1, os.cpu_count() or 1)
        while a.pending and len(a.children) < limit:
            plan, split = a.pending.pop(0)
            if plan is None:
                opts = SpinOptions.from_dict(
                    {**a.opts.to_dict(), "split": split, "all_splits": False}
                )
                try:
                    plan = self.plan(a.step, opts)
                    a.parents[id(plan)] = self.load(plan, lazy=True)
                except Exception as exc:
                    a.notices.append(f"split {split}: {type(exc).__name__}: {exc}")
                    continue
            self._launch(a, plan)
        if not a.children and not a.pending:
            self._complete(a)

    def _launch(self, a: Active, plan: Any) -> None:
        from flowspin.store.layout import new_spin_id

        spin_id = new_spin_id()
        job = dict(a.job, spin_id=spin_id, split_index=plan.split_index, task_id=f"spin-{spin_id}")
        parents = a.parents.pop(id(plan))
        keys = [f"{p.source}:{p.ident}" for p in plan.parents]
        spare = self.spares.take(keys, self.generation) if a.mode == "fork" else None
        if spare is not None:
            try:
                spare.send(job, keys)
                self._register(
                    a, plan, spin_id, spare.pid, spare.out_r, spare.err_r, spare.res_r, a.mode, None
                )
                return
            except OSError:
                self.spares.discard(spare)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        proc = None
        if a.mode == "fork":
            freeze_heap()
            pid = os.fork()
            if pid == 0:  # child
                child_main(job, parents, out_w, err_w, res_w, keep={out_w, err_w, res_w})
            own_group(pid)
            for fd in (out_w, err_w, res_w):
                os.close(fd)
        else:
            import subprocess

            specs = [vars(s) for s in plan.parents]
            proc = subprocess.Popen(
                [sys.executable, "-m", "flowspin.spin.oneshot", str(res_w)],
                stdin=subprocess.PIPE,
                stdout=out_w,
                stderr=err_w,
                pass_fds=(res_w,),
                cwd=os.getcwd(),
                close_fds=True,
                start_new_session=True,  # its own process group, like a forked child's
            )
            for fd in (out_w, err_w, res_w):
                os.close(fd)
            from flowspin.spin.protocol import encode

            assert proc.stdin is not None  # stdin=PIPE
            proc.stdin.write(encode({"type": "job", "job": job, "parents": specs}))
            proc.stdin.close()
            pid = proc.pid
        self._register(a, plan, spin_id, pid, out_r, err_r, res_r, a.mode, proc)

    def _register(self, a, plan, spin_id, pid, out_r, err_r, res_r, mode, proc) -> None:
        child = Child(
            pid=pid,
            spin_id=spin_id,
            plan=plan,
            fds={},
            mode=mode,
            started=time.perf_counter(),
            proc=proc,
            step=a.step,
        )
        for fd, name in ((out_r, "stdout"), (err_r, "stderr"), (res_r, "result")):
            os.set_blocking(fd, False)
            child.fds[fd] = name
            self.sel.register(fd, selectors.EVENT_READ, ("child", child))
        a.children.append(child)

    def _reap_zombies(self) -> None:
        for pid in list(self.zombies):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.zombies.remove(pid)

    def _read_child(self, fd: int, child: Child) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        name = child.fds[fd]
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del child.fds[fd]
            if name == "result" and child.done:
                self.records.written(child, child.persist_refs)  # None: it died while writing
            elif name == "result" and child.drain_until is None:
                child.drain_until = time.monotonic() + DRAIN_S  # its process is gone
            self._maybe_done(child)
            return
        if name == "result":
            for frame in child.frames.feed(data):
                kind = frame.get("type")
                if kind == "report":
                    child.report = frame["report"]
                    child.report_at = time.perf_counter()
                elif kind == "persisted":
                    child.persist_refs = frame.get("refs") or {}
            self._maybe_done(child)
            return
        text = data.decode("utf-8", errors="replace")
        if child.logsize < MAX_LOG:
            (child.stdout if name == "stdout" else child.stderr).append(text)
            child.logsize += len(text)
            if child.logsize >= MAX_LOG:
                child.notices.append(
                    f"the step printed more than {MAX_LOG >> 20} MB: the result keeps the first "
                    f"{MAX_LOG >> 20} MB of stdout/stderr (the live output had all of it)"
                )
        write_fd(
            self.resp_fd,
            {
                "type": "log",
                "id": self.active.req_id if self.active else None,
                "stream": name,
                "data": text,
                "spin_id": child.spin_id,
            },
        )

    def _maybe_done(self, child: Child) -> None:
        """A child's result is in once its output is closed and it either hung up or reported
        that it is now writing its changed artifacts (results first, bytes after)."""
        if child.done:
            if not child.fds:  # finished writing: let the kernel tear it down
                self.zombies.append(child.pid)
                if child.proc is not None:
                    child.proc.returncode = 0
            return
        open_names = set(child.fds.values())
        writing = "result" in open_names
        if open_names & {"stdout", "stderr"}:
            if child.report is not None and child.drain_until is None:
                child.drain_until = time.monotonic() + DRAIN_S  # the step is over
            return
        if writing and not (child.report and child.report.get("persist")):
            return
        child.done = True
        if child.report is not None and (writing or child.proc is None):
            # It reported, then hung up (or is writing bytes): answer while it finishes.
            child.status = 0
            if not writing:
                self.zombies.append(child.pid)
                if child.proc is not None:
                    child.proc.returncode = 0
        else:
            _, status = os.waitpid(child.pid, 0)
            child.status = status
            if child.proc is not None:
                child.proc.returncode = os.waitstatus_to_exitcode(status)
        if writing:
            self.records.persisting.append(child)
        a = self.active
        assert a is not None
        a.children.remove(child)
        a.done.append(child)
        self._launch_more(a)

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
        from flowspin.store.layout import new_spin_id

        result = {
            "status": "error",
            "flow": self.flow_name,
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
            "error": error
            or {
                "type": err_type,
                "message": message,
                "traceback": tb,
                "file": self.flow_file,
                "line": line,
            },
            "notices": a.notices,
            "timings": {},
            "flow_file": self.flow_file,
        }
        self.active = None
        write_fd(self.resp_fd, {"type": "result", "id": a.req_id, "result": result})

    def _complete(self, a: Active) -> None:
        done = sorted(a.done, key=lambda c: c.plan.split_index or 0)
        results = [self.records.result(a, c, self.flow_name) for c in done]
        if not results:
            self._finish_early(a, "NoSplits", "; ".join(a.notices) or "nothing to spin")
            return
        if len(results) == 1:
            final = results[0]
            if a.opts.debug_port is not None:  # where the debugger listened, how long it took
                final["debug"] = (done[0].report or {}).get("debug") or {}
        else:
            final = dict(results[0])
            bad = [r for r in results if r["status"] != "ok"]
            if bad:
                final = dict(bad[0])
            final["splits"] = [
                {
                    k: r[k]
                    for k in ("spin_id", "status", "split_index", "duration_ms", "error", "next")
                }
                for r in results
            ]
            final["duration_ms"] = (time.perf_counter() - a.started) * 1e3
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
                    self._read_child(key.fd, child)






def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    flow_file, workspace, req_fd, resp_fd = args[0], args[1], int(args[2]), int(args[3])
    log_to_stderr("worker")  # stderr is .flowspin/logs/worker-<flow>.log (spin/service.py)
    os.environ.setdefault("USER", os.environ.get("METAFLOW_USER", "flowspin"))
    worker = Worker(flow_file, workspace, req_fd, resp_fd)
    worker.preimport()
    worker.warm()
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
