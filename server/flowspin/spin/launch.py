"""Starting a spin's child: the job it is given, and the process that runs it.

A child is a fork of the worker (or the spare forked ahead, when it holds the right state), or,
where forking is unsafe (no `os.fork`, CUDA initialised in the worker), a fresh interpreter
running `oneshot`, which loads the parent state itself. Either way it leads its own process
group and answers on three pipes: stdout, stderr and the result frames.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from flowspin.spin.jobs import Child
from flowspin.spin.options import SpinOptions
from flowspin.spin.processes import child_main, fork_unsafe_reason, freeze_heap, own_group
from flowspin.spin.spares import Spares

ENV_MODE = "FLOWSPIN_SPIN_MODE"


def spin_mode(opts: SpinOptions) -> tuple[str, str | None]:
    """("fork" or "subprocess", why not fork): the setting or the request may force
    subprocess mode; nothing can force a fork where forking is unsafe."""
    forced = opts.mode or os.environ.get(ENV_MODE)
    reason = fork_unsafe_reason()
    if forced == "subprocess":
        return "subprocess", "forced by setting" if not reason else reason
    if reason:
        return "subprocess", reason
    return "fork", None


def spin_job(
    flow_file: str,
    workspace: str,
    step: str,
    run_id: str,
    opts: SpinOptions,
    module_snapshot: dict[str, tuple[str, float]],
) -> dict[str, Any]:
    """What every child of a request is told, whatever its split (`launch` adds the rest)."""
    return {
        "flow_file": flow_file,
        "workspace": workspace,
        "step": step,
        "run_id": run_id,
        "params": opts.params,
        "artifacts_module": str(Path(opts.artifacts_module).resolve())
        if opts.artifacts_module
        else None,
        "persist": opts.persist,
        "module_snapshot": module_snapshot,
        "debug": None
        if opts.debug_port is None
        else {"port": opts.debug_port, "timeout": opts.debug_timeout},
        # Metaflow's own rule (METAFLOW_USER or the profile's, SUDO_USER, USERNAME,
        # USER; never root), so `current.username` and the namespace match the run's.
        "user": __import__("metaflow.util").util.get_username()
        or os.environ.get("USER")
        or "flowspin",
    }


def launch(
    step: str,
    plan: Any,
    job: dict[str, Any],
    parents: list[dict[str, Any]],
    mode: str,
    spares: Spares,
    generation: int,
) -> Child:
    """Start the child of one split; its pipes are non-blocking, for the worker to watch."""
    from flowspin.store.layout import new_spin_id

    spin_id = new_spin_id()
    job = dict(job, spin_id=spin_id, split_index=plan.split_index, task_id=f"spin-{spin_id}")
    keys = [f"{p.source}:{p.ident}" for p in plan.parents]
    spare = spares.take(keys, generation) if mode == "fork" else None
    if spare is not None:
        try:
            spare.send(job, keys)
            fds = (spare.out_r, spare.err_r, spare.res_r)
            return _child(step, plan, spin_id, spare.pid, *fds, mode)
        except OSError:
            spares.discard(spare)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    proc = None
    if mode == "fork":
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
    return _child(step, plan, spin_id, pid, out_r, err_r, res_r, mode, proc)


def _child(
    step: str,
    plan: Any,
    spin_id: str,
    pid: int,
    out_r: int,
    err_r: int,
    res_r: int,
    mode: str,
    proc: Any = None,
) -> Child:
    child = Child(
        pid=pid,
        spin_id=spin_id,
        plan=plan,
        fds={},
        mode=mode,
        started=time.perf_counter(),
        proc=proc,
        step=step,
    )
    for fd, name in ((out_r, "stdout"), (err_r, "stderr"), (res_r, "result")):
        os.set_blocking(fd, False)
        child.fds[fd] = name
    return child
