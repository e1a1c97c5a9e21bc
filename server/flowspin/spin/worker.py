"""The worker (zygote): one process per flow file holding parent state; forks a child per spin.

Started as `python -m flowspin.spin.worker FLOW_FILE WORKSPACE REQ_FD RESP_FD` with the flow's
interpreter, in the flow's folder. Requests arrive as frames on REQ_FD; `log` and `result`
frames go out on RESP_FD. The worker never runs user step code itself: its memory is only
ever read by children, so no spin can corrupt it.
"""

from __future__ import annotations

import faulthandler
import os
import re
import resource
import selectors
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowspin.spin.options import SpinOptions
from flowspin.spin.protocol import FrameBuffer, read_fd, write_fd

GRACE_S = float(os.environ.get("FLOWSPIN_CANCEL_GRACE_S", "2"))
MAX_LOG = 10 * 1024 * 1024
SHUTDOWN_WRITE_S = 60.0  # how long a stopping worker waits for spins still writing bytes
# Output still arriving after the step ended (from processes it started) is read this long.
DRAIN_S = float(os.environ.get("FLOWSPIN_DRAIN_S", "0.5"))
ENV_MODE = "FLOWSPIN_SPIN_MODE"
ENV_BUDGET = "FLOWSPIN_STATE_BUDGET_MB"
ENV_CHILD_MEM = "FLOWSPIN_CHILD_MEMORY_MB"
ENV_KEEP = "FLOWSPIN_KEEP_SPINS"


def fork_unsafe_reason() -> str | None:
    if not hasattr(os, "fork"):
        return "this platform has no os.fork"
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_initialized():
                return "CUDA is initialised in the worker (forking would break it)"
        except Exception:
            pass
    return None


@dataclass
class Child:
    pid: int
    spin_id: str
    plan: Any
    fds: dict[int, str]
    mode: str
    started: float
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    logsize: int = 0
    frames: FrameBuffer = field(default_factory=FrameBuffer)
    report: dict[str, Any] | None = None
    status: int | None = None
    proc: Any = None
    report_at: float = 0.0
    step: str = ""
    done: bool = False  # its result is in (it may still be writing its changed artifacts)
    persist_refs: dict[str, Any] | None = None  # the "persisted" frame, once it came
    record: dict[str, Any] | None = None  # the spin's record, while its bytes are written
    # Set once the step is over (it reported, or its process died) but something it started
    # still holds its output open: output is read until then, not forever.
    drain_until: float | None = None
    notices: list[str] = field(default_factory=list)


@dataclass
class Active:
    req_id: Any
    step: str
    opts: SpinOptions
    started: float
    deadline: float | None
    children: list[Child] = field(default_factory=list)
    pending: list[tuple[Any, int | None]] = field(
        default_factory=list
    )  # (plan, split) not yet forked
    done: list[Child] = field(default_factory=list)
    cancelled: bool = False
    timed_out: bool = False
    sigint_at: float | None = None
    notices: list[str] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)
    parents: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    mode: str = "fork"
    setup_ms: float = 0.0


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
        self.flow_cls: Any = None
        self.flow_mtime: float | None = None
        self.load_error: str | None = None
        self.module_snapshot: dict[str, tuple[str, float]] = {}
        self.sel = selectors.DefaultSelector()
        self.active: Active | None = None
        self.queue: list[dict[str, Any]] = []
        self.plans: dict[tuple, Any] = {}
        self.generation = 0  # bumps when the flow module is re-imported
        self.spare: dict[str, Any] | None = None  # a child forked ahead, waiting for a job
        self.zombies: list[int] = []
        self.pending_gc: set[str] = set()
        # Children that reported and are still writing their changed artifacts.
        self.persisting: list[Child] = []
        # (when, process group): background processes a step left, to SIGKILL if still there.
        self.stragglers: list[tuple[float, int]] = []
        self._latest_checked: dict[str, tuple[float, bool]] = {}

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
        from flowspin.spin.state import SpinSetupError, plan_spin, unknown_step

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
            # The base run is sticky; chaining is re-checked every time (cheap: the local store).
            from flowspin.spin.state import ParentSpec, _apply_chaining, require_complete

            plan.parents = [
                ParentSpec("metaflow" if t else "missing", t, p.step, p.index)
                for t, p in zip(plan.tasks, plan.parents, strict=False)
            ]
            plan.chained_from = []
            _apply_chaining(plan, self.store, self.flow_file)
            require_complete(plan, self.flow_file)
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
            return False

    @staticmethod
    def _newest_run_id(flow_name: str) -> str | None:
        try:
            from metaflow import Flow

            latest = Flow(flow_name).latest_run
            return latest.id if latest is not None else None
        except Exception:
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
            if self.active is None and self.pending_gc and not self.persisting:
                keep = int(os.environ.get(ENV_KEEP, "5"))
                for step in self.pending_gc:
                    try:
                        self.store.gc(self.flow_file, step, keep=keep)
                    except Exception as exc:  # a damaged store must not take the worker down
                        print(f"flowspin worker: store GC failed: {exc!r}", file=sys.stderr)
                self.pending_gc.clear()
            if self.active is None and self.queue:
                ready = [m for m in self.queue if not self._waits_for_bytes(m)]
                if ready:
                    self.queue.remove(ready[0])
                    self._start(ready[0])
            if self.active is None and not self.queue and self.cache.has_lazy():
                try:
                    self.cache.promote()  # the next spin of these parents is warm
                except Exception as exc:
                    print(f"flowspin worker: loading parent state failed: {exc}", file=sys.stderr)
                if self.spare is not None:  # forked before the state was complete
                    self._discard_spare(self.spare)
                    self.spare = None
            if self.active is None and not self.queue and self.spare is None and self.cache._items:
                try:
                    self._make_spare()
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
        if not self.persisting or self.flow_cls is None:
            return False
        try:
            node = self.flow_cls._graph[msg["step"]]
        except (KeyError, TypeError):
            return False
        writing = {c.step for c in self.persisting}
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
                _kill_group(c.pid, signal.SIGINT)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for when, pgid in [x for x in self.stragglers if x[0] <= now]:
            self.stragglers.remove((when, pgid))
            _kill_group(pgid, signal.SIGKILL)
        a = self.active
        if a is None:
            return
        if a.deadline is not None and now >= a.deadline and a.sigint_at is None:
            a.timed_out = True
            self._interrupt(a)
        if a.sigint_at is not None and now >= a.sigint_at + GRACE_S:
            for c in a.children:
                _kill_group(c.pid, signal.SIGKILL)
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
        left = _group_members(child.pid, exclude=child.pid)
        if left:
            shown = ", ".join(f"{pid} ({cmd})" for pid, cmd in left[:5])
            child.notices.append(
                f"the step left {len(left)} process(es) running: {shown}; flowspin stopped "
                f"them (SIGTERM, then SIGKILL after {GRACE_S:g} s) — wait for what a step "
                "starts before it returns"
            )
            _kill_group(child.pid, signal.SIGTERM)
            self.stragglers.append((time.monotonic() + GRACE_S, child.pid))
        self._maybe_done(child)

    # --- starting a spin -------------------------------------------------------------------
    def _start(self, msg: dict[str, Any]) -> None:
        from flowspin.spin.state import SpinSetupError, split_count

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
            if deco_timeout and (timeout is None or deco_timeout < timeout):
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
            a.base_plan = plan  # type: ignore[attr-defined]
        except SpinSetupError as exc:
            self._finish_early(a, exc.err_type, exc.message, line=exc.line)
            return
        except Exception as exc:
            self._finish_early(a, type(exc).__name__, str(exc), traceback.format_exc())
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
        spare = self._take_spare(keys) if a.mode == "fork" else None
        if spare is not None:
            try:
                write_fd(spare["job_w"], {"type": "job", "job": job, "keys": keys})
                os.close(spare["job_w"])
                self._register(
                    a,
                    plan,
                    spin_id,
                    spare["pid"],
                    spare["out_r"],
                    spare["err_r"],
                    spare["res_r"],
                    a.mode,
                    None,
                )
                return
            except OSError:
                self._discard_spare(spare)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        proc = None
        if a.mode == "fork":
            _freeze_heap()
            pid = os.fork()
            if pid == 0:  # child
                _child_main(job, parents, out_w, err_w, res_w, keep={out_w, err_w, res_w})
            _own_group(pid)
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

    def _make_spare(self) -> None:
        """Fork the next spin's child now, so a warm spin does not wait for fork()."""
        if self.spare is not None or self._mode(SpinOptions())[0] != "fork":
            return
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        _freeze_heap()
        pid = os.fork()
        if pid == 0:
            _spare_main(self.cache, job_r, out_w, err_w, res_w, self.flow_file)
        _own_group(pid)
        for fd in (job_r, out_w, err_w, res_w):
            os.close(fd)
        with self.cache._lock:
            keys = set(self.cache._items)
        self.spare = {
            "pid": pid,
            "job_w": job_w,
            "out_r": out_r,
            "err_r": err_r,
            "res_r": res_r,
            "keys": keys,
            "generation": self.generation,
        }

    def _take_spare(self, keys: list[str]) -> dict[str, Any] | None:
        spare, self.spare = self.spare, None
        if spare is None:
            return None
        alive = os.waitpid(spare["pid"], os.WNOHANG) == (0, 0)
        if alive and spare["generation"] == self.generation and set(keys) <= spare["keys"]:
            return spare
        self._discard_spare(spare, reaped=not alive)
        return None

    def _discard_spare(self, spare: dict[str, Any], reaped: bool = False) -> None:
        for key in ("job_w", "out_r", "err_r", "res_r"):
            try:
                os.close(spare[key])
            except OSError:
                pass
        if not reaped:
            _kill(spare["pid"], signal.SIGKILL)
            self.zombies.append(spare["pid"])

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
                self._written(child, child.persist_refs)  # None: it died while writing
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
            self.persisting.append(child)
        a = self.active
        assert a is not None
        a.children.remove(child)
        a.done.append(child)
        self._launch_more(a)

    def _written(self, child: Child, refs: dict[str, Any] | None) -> dict[str, Any]:
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
            print(
                f"flowspin worker: could not finish spin {record['spin_id']}: {exc}",
                file=sys.stderr,
            )
        finally:
            self.store.release_writing(self.flow_file, record["step"], record["spin_id"])
        self.pending_gc.add(record["step"])
        return persist

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
            "flow": self.flow_cls.__name__ if self.flow_cls else "",
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
        results = [
            self._child_result(a, c) for c in sorted(a.done, key=lambda c: c.plan.split_index or 0)
        ]
        if not results:
            self._finish_early(a, "NoSplits", "; ".join(a.notices) or "nothing to spin")
            return
        if len(results) == 1:
            final = results[0]
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

    def _child_result(self, a: Active, c: Child) -> dict[str, Any]:
        plan = c.plan
        rep = c.report or {}
        stderr = "".join(c.stderr)
        error = rep.get("error")
        status = rep.get("status", "error")
        if c.report is None:
            status = "error"
            error = _crash_error(c.status or 0, stderr, self.flow_file, a)
        if a.cancelled and status != "ok":
            status = "cancelled"
            if error and error.get("type") in ("Cancelled", "Killed", "KeyboardInterrupt"):
                error["type"] = "Cancelled"
        if a.timed_out and status != "ok":
            status = "error"
            limit = a.deadline and (a.deadline - a.started) if False else None
            error = dict(
                error or {},
                type="Timeout",
                message="the spin exceeded its time limit and was stopped "
                f"(SIGINT, then SIGKILL after {GRACE_S:g} s)",
            )
            del limit
        arts = rep.get("artifacts") or {}
        result = {
            "status": status,
            "flow": rep.get("flow") or (self.flow_cls.__name__ if self.flow_cls else ""),
            "step": a.step,
            "spin_id": c.spin_id,
            "mode": c.mode,
            "base": {
                "run_id": plan.run_id,
                "tasks": list(plan.tasks),
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
            "notices": a.notices + list(rep.get("notices") or []) + c.notices,
            "timings": dict(
                rep.get("timings") or {},
                setup_ms=a.setup_ms,
                launched_ms=(c.started - a.started) * 1e3,
                reported_ms=((c.report_at or time.perf_counter()) - a.started) * 1e3,
            ),
            "split_index": plan.split_index,
            "flow_file": self.flow_file,
        }
        if rep.get("memory"):
            result["timings"].update({f"child_{k}_mb": v for k, v in rep["memory"].items()})
        if not a.opts.persist:
            result["persist"] = {"state": "off"}
        elif c.report is not None:
            self._save(c, result, arts)
        return result

    def _save(self, c: Child, result: dict[str, Any], arts: dict[str, Any]) -> None:
        """Write the spin's record; while the child still writes changed artifacts, the record
        says so and readers of it wait (`Store.wait_written`) until `_written` makes it final."""
        pending = (c.report or {}).get("persist")
        writing = bool(pending) and "result" in c.fds.values()
        result["persist"] = (
            {"state": "writing", **pending} if writing else {"state": "done", **(pending or {})}
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
                result["persist"] = self._written(c, c.persist_refs)
                return
            self.store.write_record(self.flow_file, record)
            self.pending_gc.add(c.step)  # after the answer: GC is not on the spin's path
        except Exception as exc:
            if writing:
                self.store.release_writing(self.flow_file, c.step, c.spin_id)
                c.record = None
            result["notices"].append(f"could not save the spin to {self.store.root}: {exc}")

    def _shutdown(self) -> None:
        if self.spare is not None:
            self._discard_spare(self.spare)
            self.spare = None
        a = self.active
        if a is not None:
            for c in a.children:
                _kill_group(c.pid, signal.SIGKILL)
        # Spins that reported are kept: their bytes are written before the worker goes.
        deadline = time.monotonic() + SHUTDOWN_WRITE_S
        while self.persisting and time.monotonic() < deadline:
            for key, _ in self.sel.select(max(0.0, deadline - time.monotonic())):
                kind, child = key.data
                if kind == "child" and child in self.persisting:
                    self._read_child(key.fd, child)


def _freeze_heap() -> None:
    """Move the worker's objects out of the collector's reach before forking.

    A child's garbage collection would otherwise write to the header of every object it scans,
    copying each page of the shared state (copy-on-write) and costing milliseconds per spin.
    """
    import gc

    gc.freeze()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _kill_group(pgid: int, sig: int) -> None:
    """Signal a spin's process group (the child and whatever its step started)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        _kill(pgid, sig)


def _own_group(pid: int) -> None:
    """Make a forked child the leader of its own process group (it does the same itself;
    whichever runs first wins, so a signal to the group can never miss it)."""
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass


def _group_members(pgid: int, exclude: int) -> list[tuple[int, str]]:
    """Live processes of a process group, with their command lines (from /proc)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        found.append((int(entry), cmd[:80]))
    return found


_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+)')


def _crash_error(status: int, stderr: str, flow_file: str, a: Active) -> dict[str, Any]:
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
    return {"type": etype, "message": msg, "traceback": stderr[-4000:], "file": file, "line": line}


def _child_setup(out_w: int, err_w: int, keep: set[int]) -> None:
    """In a forked child: its own process group (so whatever the step starts can be found and
    stopped with it), output to the pipes, the worker's other descriptors closed."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    # Only fds 1 and 2 may keep the output pipes open: closing them must mean EOF.
    keep = keep - {out_w, err_w}
    for fd in _open_fds():
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.enable(file=sys.stderr)


def _child_run(
    job: dict[str, Any], parents: list[dict[str, Any]], res_w: int, prepared: Any = None
) -> None:
    """Run the step, report, then write the changed artifacts' bytes, and exit.

    The report goes out first and the output pipes close, so the worker answers at once; the
    bytes follow (their addresses in a `persisted` frame), and closing the result pipe last
    tells the worker this process is done.
    """
    try:
        _limit_memory()
        from flowspin.spin.child import execute
        from flowspin.spin.persist import PendingBlobs

        pending = PendingBlobs(job)
        report = execute(job, parents, prepared, pending)
        report_and_write(report, pending, res_w)
    except BaseException:
        try:
            traceback.print_exc()
        except Exception:
            pass
    finally:
        os._exit(0)


def report_and_write(report: dict[str, Any], pending: Any, res_w: int) -> None:
    """Send the report, hang up the output, then write what the report left pending."""
    if pending:
        report["persist"] = {"artifacts": pending.names, "bytes": pending.nbytes}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        write_fd(res_w, {"type": "report", "report": report})
    except Exception as exc:  # e.g. a repr that msgpack cannot carry
        err = {
            "type": "ReportError",
            "message": str(exc),
            "traceback": "",
            "file": "",
            "line": 0,
        }
        write_fd(res_w, {"type": "report", "report": {"status": "error", "error": err}})
        pending = None
    for fd in (1, 2):
        os.close(fd)
    if pending:
        write_fd(res_w, {"type": "persisted", "refs": pending.write()})
    os.close(res_w)


def _child_main(
    job: dict[str, Any],
    parents: list[dict[str, Any]],
    out_w: int,
    err_w: int,
    res_w: int,
    keep: set[int],
) -> None:
    try:
        _child_setup(out_w, err_w, keep)
    except BaseException:
        os._exit(70)
    _child_run(job, parents, res_w)


def _spare_main(
    cache: Any, job_r: int, out_w: int, err_w: int, res_w: int, flow_file: str | None = None
) -> None:
    """A child forked ahead of time: waits for a job, then runs it on its copy of the state."""
    try:
        _child_setup(out_w, err_w, {job_r, out_w, err_w, res_w})
    except BaseException:
        os._exit(70)
    prepared = None
    if flow_file is not None:
        from flowspin.spin.child import prepare

        prepared = prepare(flow_file)
    try:
        msg = read_fd(job_r)
    except BaseException:
        os._exit(70)
    if msg is None:
        os._exit(0)
    parents = [cache._items[key].as_child_input() for key in msg["keys"]]
    _child_run(msg["job"], parents, res_w, prepared)


def _open_fds() -> list[int]:
    try:
        return [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


def _limit_memory() -> None:
    mb = os.environ.get(ENV_CHILD_MEMORY_MB_ALIAS) or os.environ.get(ENV_CHILD_MEM)
    if not mb:
        return
    try:
        with open("/proc/self/statm") as fh:
            vsize = int(fh.read().split()[0]) * resource.getpagesize()
    except OSError:
        vsize = 0
    limit = vsize + int(float(mb) * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


ENV_CHILD_MEMORY_MB_ALIAS = "FLOWSPIN_CHILD_MEMORY_LIMIT_MB"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    flow_file, workspace, req_fd, resp_fd = args[0], args[1], int(args[2]), int(args[3])
    os.environ.setdefault("USER", os.environ.get("METAFLOW_USER", "flowspin"))
    worker = Worker(flow_file, workspace, req_fd, resp_fd)
    worker.preimport()
    worker.warm()
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
