"""No runaway restarts, and user code at most once per request (issue 20, item 4): a flow whose
import kills the worker is tried a few times and then refused with the reason; a spin whose
worker died is reported, never re-sent; only regular .py files reach a worker."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from conftest import run_flowspin, run_metaflow, write_flow
from spin_helpers import make_service

IMPORT_CRASH = """
import os
import sys

from metaflow import FlowSpec, step

with open("imports.log", "a") as fh:
    fh.write("imported\\n")
print("crashy: giving up at import", file=sys.stderr, flush=True)
os._exit(3)


class CrashyFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CrashyFlow()
"""

FIXED = IMPORT_CRASH.replace("os._exit(3)", "").replace(
    'print("crashy: giving up at import", file=sys.stderr, flush=True)', ""
)

SIDE_EFFECT = """
import os
import signal

from metaflow import FlowSpec, step


class SideFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.effect)

    @step
    def effect(self):
        with open("effects.log", "a") as fh:
            fh.write("ran\\n")
        if os.path.exists("kill-the-worker"):
            os.kill(os.getppid(), signal.SIGKILL)  # the step's parent: the spin worker
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SideFlow()
"""


def wait_for(condition, timeout: float = 60.0) -> None:
    """Poll observable state (a pid, a thread) until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def join_revivals() -> None:
    """Wait until no restart is pending (they run in threads named flowspin-revive). A thread
    still starting cannot be joined yet, so wait until none is listed at all."""
    wait_for(lambda: not any(t.name == "flowspin-revive" for t in threading.enumerate()))


def test_import_crash_is_reported_then_refused_not_restarted_forever(workdir):
    flow = write_flow(workdir, IMPORT_CRASH, name="crashy.py")
    with make_service(workdir) as svc:
        for _ in range(3):
            r = svc.spin(flow, "start", {"persist": False})
            assert r.error and r.error["type"] == "FlowImportCrashed", r.error
            message = r.error["message"]
            assert "importing crashy.py" in message and "exit code 3" in message, message
            assert "crashy: giving up at import" in message, message  # the worker log's tail
            assert "crashy: giving up at import" in r.error["traceback"]  # all of it, for the CLI
        r = svc.spin(flow, "start", {"persist": False})
        assert r.error and r.error["type"] == "WorkerCrashLoop", r.error
        assert "died 3 times" in r.error["message"]
        assert "importing crashy.py is what crashes it" in r.error["message"]
        assert "exit code 3" in r.error["message"]
        assert not svc.preload(flow, "start")  # the editor's preloads are refused too
        join_revivals()
        assert (workdir / "imports.log").read_text().count("imported") == 3
        assert not any(w["alive"] for w in svc.status().values())

        # Fixed file: a fresh try at once (no run yet, so the next error is about that).
        flow.write_text(FIXED.lstrip())
        r = svc.spin(flow, "start", {"persist": False})
        assert r.error and r.error["type"] == "MissingBaseRun", r.error


def test_a_spin_that_kills_its_worker_runs_once_and_says_so(workdir):
    flow = write_flow(workdir, SIDE_EFFECT, name="side.py")
    run_metaflow(flow, "run")
    effects = workdir / "effects.log"
    effects.unlink()
    with make_service(workdir) as svc:
        assert svc.spin(flow, "start", {"persist": False}).ok
        pid = svc.worker_pid(flow)
        (workdir / "kill-the-worker").touch()
        r = svc.spin(flow, "effect", {"persist": False})
        assert r.error and r.error["type"] == "WorkerCrashed", r.error
        assert "SIGKILL" in r.error["message"] and "not run again" in r.error["message"]
        assert effects.read_text() == "ran\n"  # once: the spin was not re-sent
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

        # The worker comes back; the next spin is a normal one.
        (workdir / "kill-the-worker").unlink()
        r = svc.spin(flow, "effect", {"persist": False})
        assert r.ok, r.error
        assert r.artifacts["y"]["repr"] == "2"
        assert effects.read_text() == "ran\nran\n"


def test_a_worker_killed_while_idle_is_restarted_a_few_times_only(workdir):
    flow = write_flow(workdir, SIDE_EFFECT, name="side.py")
    run_metaflow(flow, "run")
    with make_service(workdir) as svc:
        assert svc.spin(flow, "start", {"persist": False}).ok
        for death in (1, 2, 3):
            pid = svc.worker_pid(flow)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            if death < 3:  # restarted by itself (the 2nd time after a second)
                wait_for(lambda old=pid: svc.worker_pid(flow) not in (None, old))
                assert svc.preload(flow, "start")  # serving: its death counts as a crash
            else:
                wait_for(lambda: svc.worker_pid(flow) is None)
        # The third death within the minute: no restart, and a spin says why.
        join_revivals()
        assert svc.worker_pid(flow) is None
        r = svc.spin(flow, "start", {"persist": False})
        assert r.error and r.error["type"] == "WorkerCrashLoop", r.error
        assert "killed by SIGKILL" in r.error["message"]
        # A person asking for a restart gets one.
        svc.restart_worker(flow, reload=False)
        assert svc.spin(flow, "start", {"persist": False}).ok


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "not-py", "symlink"])
def test_only_regular_py_files_reach_a_worker(workdir, kind):
    path = workdir / "thing.py"
    if kind == "device":
        path = "/dev/zero"
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "not-py":
        path = write_flow(workdir, SIDE_EFFECT, name="flow.txt")
    else:
        path.symlink_to("/dev/zero")
    with make_service(workdir) as svc:
        r = svc.spin(path, "start", {"persist": False})
        assert r.error and r.error["type"] == "InvalidFlowFile", r.error
        assert not svc.preload(path, "start")
        assert svc.status() == {}  # no worker was started
    expected = {
        "device": "character device",
        "fifo": "FIFO",
        "folder": "folder",
        "not-py": "not a .py file",
        "symlink": "character device",
    }[kind]
    assert expected in r.error["message"]


def test_the_cli_refuses_a_device_before_any_daemon_starts(workdir):
    os.mkfifo(workdir / "pipe.py")
    for args in (["--json"], ["--json", "--no-daemon"], []):
        proc = run_flowspin(workdir, "spin", "pipe.py", "start", *args)
        assert proc.returncode == 1, proc.stderr
        if "--json" in args:
            err = json.loads(proc.stdout)["error"]
            assert err["type"] == "InvalidFlowFile" and "FIFO" in err["message"]
        else:
            assert "InvalidFlowFile" in proc.stdout
    assert not (workdir / ".flowspin" / "daemon.sock").exists()
