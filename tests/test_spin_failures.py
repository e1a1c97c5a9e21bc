"""Failure isolation: every way a step can fail, each followed by a correct spin."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from conftest import metaflow_env, run_metaflow, wait_until, write_flow
from spin_helpers import make_service

FLOW = """
from metaflow import FlowSpec, step
import behave


class FailFlow(FlowSpec):
    @step
    def start(self):
        self.data = [1, 2, 3]
        self.next(self.work)

    @step
    def work(self):
        behave.behave(self)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailFlow()
"""

OK = "def behave(flow):\n    flow.value = sum(flow.data)\n"


_BUMP = [0]


def set_behaviour(workdir, body: str) -> None:
    path = workdir / "behave.py"
    path.write_text(body)
    _BUMP[0] += 1
    bump = time.time() + _BUMP[0]
    os.utime(path, (bump, bump))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fail")
    (workdir / "behave.py").write_text(OK)
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    svc = make_service(workdir, FLOWSPIN_CHILD_MEMORY_MB="300", FLOWSPIN_CANCEL_GRACE_S="1")
    yield workdir, flow, svc
    svc.shutdown()


def assert_next_spin_is_correct(workdir, flow, svc):
    set_behaviour(workdir, OK)
    good = svc.spin(flow, "work", {"persist": False})
    assert good.ok, good.error
    assert good.artifacts["value"]["repr"] == "6"
    assert good.artifacts["data"]["repr"] == "[1, 2, 3]"


def test_exception_reports_user_line(env):
    workdir, flow, svc = env
    set_behaviour(
        workdir, "def behave(flow):\n    flow.data.append(99)\n    raise ValueError('boom')\n"
    )
    r = svc.spin(flow, "work", {"persist": False})
    assert r.status == "error"
    assert r.error["type"] == "ValueError" and r.error["message"] == "boom"
    assert r.error["file"].endswith("behave.py") and r.error["line"] == 3
    assert "ValueError: boom" in r.stderr
    assert_next_spin_is_correct(workdir, flow, svc)


def test_sys_exit(env):
    workdir, flow, svc = env
    set_behaviour(workdir, "import sys\ndef behave(flow):\n    sys.exit(3)\n")
    r = svc.spin(flow, "work", {"persist": False})
    assert r.status == "error" and r.error["type"] == "SystemExit"
    assert "sys.exit(3)" in r.error["message"]
    assert_next_spin_is_correct(workdir, flow, svc)


def test_os_exit(env):
    workdir, flow, svc = env
    set_behaviour(
        workdir, "import os\ndef behave(flow):\n    print('bye', flush=True)\n    os._exit(7)\n"
    )
    r = svc.spin(flow, "work", {"persist": False})
    assert r.status == "error" and r.error["type"] == "ProcessExit"
    assert "exit code 7" in r.error["message"]
    assert "bye" in r.stdout
    assert_next_spin_is_correct(workdir, flow, svc)


def test_segfault(env):
    workdir, flow, svc = env
    set_behaviour(workdir, "import ctypes\ndef behave(flow):\n    ctypes.string_at(0)\n")
    r = svc.spin(flow, "work", {"persist": False})
    assert r.status == "error" and r.error["type"] == "Segfault"
    assert r.error["line"] == 0 or r.error["file"]
    assert_next_spin_is_correct(workdir, flow, svc)


def test_hang_cancelled_then_killed(env):
    workdir, flow, svc = env
    # Ignores SIGINT, so the worker must escalate to SIGKILL after the grace period.
    set_behaviour(
        workdir,
        "import signal, time\ndef behave(flow):\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "    print('hanging', flush=True)\n    while True:\n        time.sleep(0.05)\n",
    )
    started = threading.Event()
    results = []

    def on_log(stream, text):
        if "hanging" in text:
            started.set()

    t = threading.Thread(
        target=lambda: results.append(svc.spin(flow, "work", {"persist": False}, on_log=on_log))
    )
    t.start()
    assert started.wait(60)
    svc.cancel(flow)
    t.join(60)
    assert results and results[0].status == "cancelled"
    assert_next_spin_is_correct(workdir, flow, svc)


def test_timeout(env):
    workdir, flow, svc = env
    set_behaviour(workdir, "import time\ndef behave(flow):\n    time.sleep(60)\n")
    r = svc.spin(flow, "work", {"persist": False, "timeout": 1})
    assert r.status == "error" and r.error["type"] == "Timeout"
    assert_next_spin_is_correct(workdir, flow, svc)


def test_child_exhausting_memory(env):
    workdir, flow, svc = env
    set_behaviour(workdir, "def behave(flow):\n    flow.big = bytearray(2 * 1024**3)\n")
    r = svc.spin(flow, "work", {"persist": False})
    assert r.status == "error" and r.error["type"] in ("MemoryError", "Killed")
    assert_next_spin_is_correct(workdir, flow, svc)


def test_unpicklable_artifact_named_and_others_kept(env, monkeypatch):
    workdir, flow, svc = env
    for key, value in metaflow_env(workdir).items():
        monkeypatch.setenv(key, value)
    set_behaviour(
        workdir,
        "import threading\ndef behave(flow):\n"
        "    flow.lock = threading.Lock()\n    flow.kept = 5\n",
    )
    r = svc.spin(flow, "work")
    assert r.status == "error" and r.error["type"] == "UnpicklableArtifact"
    assert "lock" in r.error["message"]
    from flowspin.store import load_spin
    from metaflow import metadata

    metadata(f"local@{workdir}")  # this test process may have imported Metaflow for another folder

    saved = load_spin(flow, "work", r.spin_id)
    assert saved.artifacts["kept"] == 5
    assert saved.artifacts["data"] == [1, 2, 3]
    assert_next_spin_is_correct(workdir, flow, svc)


def test_syntax_error_and_deleted_flow_file(env):
    workdir, flow, svc = env
    source = flow.read_text()
    flow.write_text(source.replace("def work(self):", "def work(self)"))
    r = svc.spin(flow, "work", {"persist": False})
    assert r.status == "error" and r.error["type"] == "SyntaxError"
    assert r.error["line"] == 12
    flow.unlink()
    gone = svc.spin(flow, "work", {"persist": False})
    assert gone.status == "error" and gone.error["type"] == "FlowFileMissing"
    flow.write_text(source)
    assert_next_spin_is_correct(workdir, flow, svc)


def test_missing_base_run(env, tmp_path):
    workdir, flow, svc = env
    other = write_flow(workdir, FLOW.replace("FailFlow", "NeverRunFlow"), name="never.py")
    r = svc.spin(other, "work", {"persist": False})
    assert r.status == "error" and r.error["type"] == "MissingBaseRun"
    assert "python" in r.error["message"] and "run` first" in r.error["message"]
    assert_next_spin_is_correct(workdir, flow, svc)


def test_crashed_worker_restarts_and_reloads(env):
    workdir, flow, svc = env
    assert_next_spin_is_correct(workdir, flow, svc)
    pid = svc.worker_pid(flow)
    os.kill(pid, signal.SIGKILL)
    # It comes back by itself, before anyone asks for a spin.
    deadline = time.monotonic() + 60
    while svc.worker_pid(flow) in (None, pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.worker_pid(flow) not in (None, pid)
    assert_next_spin_is_correct(workdir, flow, svc)


def test_subprocess_mode_isolates_too(env):
    workdir, flow, svc = env
    set_behaviour(
        workdir, "def behave(flow):\n    flow.data.append(4)\n    flow.value = sum(flow.data)\n"
    )
    r = svc.spin(flow, "work", {"persist": False, "mode": "subprocess"})
    assert r.ok, r.error
    assert r.mode == "subprocess" and r.artifacts["value"]["repr"] == "10"
    assert_next_spin_is_correct(workdir, flow, svc)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_background_process_left_by_a_step_is_reported_and_stopped(env):
    """A step that leaves `sleep 600` running used to hang every later spin of the file: the
    worker waited for its output pipes, which the sleep held open."""
    workdir, flow, svc = env
    set_behaviour(
        workdir,
        "import subprocess\ndef behave(flow):\n"
        "    flow.bg = subprocess.Popen(['sleep', '600']).pid\n"
        "    flow.value = sum(flow.data)\n",
    )
    r = svc.spin(flow, "work", {"persist": False, "timeout": 60})
    assert r.ok, r.error
    pid = int(r.artifacts["bg"]["repr"])
    assert any("left 1 process(es) running" in n and "sleep 600" in n for n in r.notices)
    wait_until(lambda: not _alive(pid), 30, f"process {pid} to be stopped")
    assert_next_spin_is_correct(workdir, flow, svc)


def test_cancel_stops_what_the_step_started(env):
    workdir, flow, svc = env
    set_behaviour(
        workdir,
        "import subprocess, time\ndef behave(flow):\n"
        "    p = subprocess.Popen(['sleep', '600'])\n"
        "    print('started', p.pid, flush=True)\n    time.sleep(600)\n",
    )
    pids = []
    results = []

    def on_log(stream, text):
        if "started" in text:
            pids.append(int(text.split()[1]))

    t = threading.Thread(
        target=lambda: results.append(svc.spin(flow, "work", {"persist": False}, on_log=on_log))
    )
    t.start()
    wait_until(lambda: bool(pids), 60, "the step to start its background process")
    svc.cancel(flow)
    t.join(60)
    assert results and results[0].status == "cancelled"
    wait_until(lambda: not _alive(pids[0]), 30, f"process {pids[0]} to be stopped")
    assert_next_spin_is_correct(workdir, flow, svc)


def test_output_over_the_cap_is_cut_with_a_notice(env):
    workdir, flow, svc = env
    set_behaviour(
        workdir,
        "def behave(flow):\n    for _ in range(1200):\n        print('x' * 10_000)\n"
        "    flow.value = 6\n",
    )
    r = svc.spin(flow, "work", {"persist": False})
    assert r.ok, r.error
    assert len(r.stdout) <= 10 * 1024 * 1024 + 70_000
    assert any("more than 10 MB" in n for n in r.notices)
    assert_next_spin_is_correct(workdir, flow, svc)
