"""The daemon's life with real processes: stopped mid-spin, killed, its folder removed, fed
stalled or bad requests. Found by a fault probe (issue 20.7): `daemon stop` killed a running
step and the client silently ran it again in a new daemon; an rm -rf'd `.flowspin` left an
unseen daemon behind; a connection announcing a 1 GB frame held the daemon forever; a bad
field dropped the connection.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import metaflow_env, run_flowspin, run_metaflow, wait_until, write_flow

FLOW = """
import os
import time

from metaflow import FlowSpec, step

RAN = {ran!r}
FLAG = {flag!r}


class WaitFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.wait)

    @step
    def wait(self):
        with open(RAN, "a") as fh:
            fh.write("ran\\n")
        while not os.path.exists(FLAG):
            time.sleep(0.02)
        self.done = True
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WaitFlow()
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A flow whose `wait` step appends a line to ran.txt, then waits for release.flag."""
    workdir = tmp_path_factory.mktemp("lifecycle")
    ran, flag = workdir / "ran.txt", workdir / "release.flag"
    flow = write_flow(workdir, FLOW.format(ran=str(ran), flag=str(flag)))
    flag.touch()
    run_metaflow(flow, "run")
    yield workdir
    flag.touch()  # let any step still waiting end
    run_flowspin(workdir, "daemon", "stop", "--workspace", str(workdir))


@pytest.fixture
def held(ws):
    """The workspace with no daemon running, the flag down and ran.txt empty."""
    run_flowspin(ws, "daemon", "stop", "--workspace", str(ws))
    (ws / "release.flag").unlink(missing_ok=True)
    (ws / "ran.txt").write_text("")
    yield ws
    (ws / "release.flag").touch()


def ran(workdir: Path) -> int:
    return len((workdir / "ran.txt").read_text().splitlines())


def start_spin(workdir: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowspin", "spin", "flow.py", "wait", "--json", "--no-persist"],
        cwd=workdir,
        env={**metaflow_env(workdir), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def daemon_pid(workdir: Path) -> int:
    status = run_flowspin(workdir, "daemon", "status", "--workspace", str(workdir), "--json")
    return int(json.loads(status.stdout)["pid"])


def gone(pid: int) -> bool:
    """The process ended (a zombie waiting for a reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        return False


def test_stop_lets_a_running_spin_finish_and_never_runs_it_again(held):
    workdir = held
    spin = start_spin(workdir)
    wait_until(lambda: ran(workdir) == 1, what="the step to start")
    pid = daemon_pid(workdir)
    stop = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "daemon", "stop", "--workspace", str(workdir)],
        cwd=workdir,
        env=metaflow_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sock = workdir / ".flowspin" / "daemon.sock"
    wait_until(lambda: not sock.exists(), what="the daemon to close to new spins")
    assert stop.poll() is None and not gone(pid)  # draining: the step still runs
    # A spin asked for now waits for the drain and runs in a fresh daemon.
    later = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "spin", "flow.py", "start", "--json", "--no-persist"],
        cwd=workdir,
        env=metaflow_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    (workdir / "release.flag").touch()
    out, err = spin.communicate(timeout=120)
    result = json.loads(out)
    assert result["status"] == "ok", (out, err)
    assert result["artifacts"]["done"]["repr"] == "True"
    stop_out, stop_err = stop.communicate(timeout=120)
    assert stop.returncode == 0 and "waiting for 1 running spin" in stop_err
    wait_until(lambda: gone(pid), what="the stopped daemon to exit")
    assert ran(workdir) == 1  # ran once, finished, never re-sent
    later_out, later_err = later.communicate(timeout=120)
    assert json.loads(later_out)["status"] == "ok", later_out + later_err
    assert daemon_pid(workdir) != pid


def test_a_spin_still_running_after_the_drain_ends_cancelled(held):
    workdir = held
    spin = start_spin(workdir, env={"FLOWSPIN_DAEMON_DRAIN_S": "1"})  # the daemon's setting
    wait_until(lambda: ran(workdir) == 1, what="the step to start")
    stop = run_flowspin(workdir, "daemon", "stop", "--workspace", str(workdir), timeout=120)
    assert stop.returncode == 0, stop.stderr
    out, err = spin.communicate(timeout=120)
    result = json.loads(out)
    assert result["status"] == "cancelled", (out, err)
    assert any("daemon was stopped" in n for n in result["notices"]), result["notices"]
    assert ran(workdir) == 1


def test_sigterm_is_a_stop_the_running_spin_finishes(held):
    workdir = held
    spin = start_spin(workdir)
    wait_until(lambda: ran(workdir) == 1, what="the step to start")
    pid = daemon_pid(workdir)
    os.kill(pid, signal.SIGTERM)
    sock = workdir / ".flowspin" / "daemon.sock"
    wait_until(lambda: not sock.exists(), what="the daemon to close to new spins")
    assert not gone(pid)
    (workdir / "release.flag").touch()
    out, err = spin.communicate(timeout=120)
    assert json.loads(out)["status"] == "ok", (out, err)
    wait_until(lambda: gone(pid), what="the daemon to exit")
    assert ran(workdir) == 1


def test_a_daemon_killed_mid_spin_reports_the_spin_cancelled_without_rerunning_it(held):
    workdir = held
    spin = start_spin(workdir)
    wait_until(lambda: ran(workdir) == 1, what="the step to start")
    pid = daemon_pid(workdir)
    os.kill(pid, signal.SIGKILL)
    out, err = spin.communicate(timeout=120)
    assert spin.returncode == 1
    result = json.loads(out)
    assert result["status"] == "cancelled" and result["error"]["type"] == "DaemonGone", out
    assert "not run again" in result["error"]["message"]
    (workdir / "release.flag").touch()
    assert ran(workdir) == 1  # the client did not start a daemon and send it again


STARTED: list[int] = []


@pytest.fixture(autouse=True)
def no_daemon_left_behind():
    """A failing test must not leave the daemons it started running (they would hold their
    folders for half an hour)."""
    yield
    while STARTED:
        pid = STARTED.pop()
        if not gone(pid):
            os.kill(pid, signal.SIGTERM)


def start_daemon(workdir: Path, **env: str) -> int:
    proc = run_flowspin(workdir, "daemon", "start", "--workspace", str(workdir), env=env)
    assert proc.returncode == 0, proc.stderr
    pid = daemon_pid(workdir)
    STARTED.append(pid)
    return pid


def test_a_daemon_exits_when_its_folder_is_removed(tmp_path):
    old = start_daemon(tmp_path)
    shutil.rmtree(tmp_path / ".flowspin")
    new = start_daemon(tmp_path)  # a new store, a new socket: the old daemon's path is taken
    assert new != old
    wait_until(lambda: gone(old), timeout=30, what="the daemon without its folder to exit")
    # It left the new daemon's socket and pid file alone.
    assert daemon_pid(tmp_path) == new
    assert (tmp_path / ".flowspin" / "daemon.pid").read_text() == str(new)
    run_flowspin(tmp_path, "daemon", "stop", "--workspace", str(tmp_path))
    wait_until(lambda: gone(new), what="the new daemon to stop")


def test_a_daemon_exits_when_its_socket_is_removed(tmp_path):
    pid = start_daemon(tmp_path)
    (tmp_path / ".flowspin" / "daemon.sock").unlink()
    wait_until(lambda: gone(pid), timeout=30, what="the daemon without its socket to exit")
    status = run_flowspin(tmp_path, "daemon", "status", "--workspace", str(tmp_path))
    assert status.returncode == 1 and "no flowspin daemon runs" in status.stdout


def raw(workdir: Path):
    from flowspin.daemon import client

    sock = client.connect(workdir, timeout=60)
    assert sock is not None
    return sock


def test_stalled_connections_are_dropped_and_do_not_keep_a_daemon_alive(tmp_path):
    from flowspin.spin.protocol import HEADER, recv_sock

    pid = start_daemon(tmp_path, FLOWSPIN_DAEMON_READ_S="1", FLOWSPIN_DAEMON_IDLE_S="5")
    huge = raw(tmp_path)
    huge.sendall(HEADER.pack(2**30))  # claims 1 GB, sends nothing more
    answer = recv_sock(huge)
    assert answer["type"] == "error" and "1073741824 bytes" in answer["message"]
    assert recv_sock(huge) is None  # and it hung up
    stalled = raw(tmp_path)
    stalled.sendall(HEADER.pack(100) + b"\x81")  # a frame begun, never finished
    silent = raw(tmp_path)  # connects and says nothing
    answer = recv_sock(stalled)
    assert answer["type"] == "error" and "no complete request within 1 s" in answer["message"]
    assert recv_sock(stalled) is None
    assert recv_sock(silent)["type"] == "error" and recv_sock(silent) is None
    # Our ends are still open; the daemon is idle all the same, and exits.
    wait_until(lambda: gone(pid), timeout=30, what="the idle daemon to exit")
    for sock in (huge, stalled, silent):
        sock.close()


def test_every_request_field_is_checked_and_answered(tmp_path):
    from flowspin.spin.protocol import HEADER, recv_sock, send_sock

    pid = start_daemon(tmp_path)
    spin = {"type": "spin", "flow_file": str(tmp_path / "flow.py"), "step": "start"}
    bad_spins = [
        ({**spin, "flow_file": 3}, "flow_file"),
        ({**spin, "flow_file": "a\0b.py"}, "flow_file"),
        ({**spin, "step": "../start"}, "step"),
        ({**spin, "step": ["start"]}, "step"),
        ({**spin, "options": "fast"}, "mapping"),
        ({**spin, "options": {"timeout": -1}}, "timeout"),
        ({**spin, "options": {"split": "two"}}, "split"),
        ({**spin, "env": ["METAFLOW_USER=x"]}, "env"),
        ({**spin, "reply": "xml"}, "reply"),
    ]
    for msg, field in bad_spins:
        sock = raw(tmp_path)
        send_sock(sock, msg)
        frames = [recv_sock(sock), recv_sock(sock)]
        sock.close()
        assert frames[1] is None and frames[0]["type"] == "result", (msg, frames)
        error = frames[0]["result"]["error"]
        assert error["type"] == "InvalidRequest" and field in error["message"], (msg, error)
    sock = raw(tmp_path)
    send_sock(sock, {**spin, "options": [1], "reply": "json"})
    answer = recv_sock(sock)
    sock.close()
    assert answer["status"] == "error"
    assert json.loads(answer["json"])["error"]["type"] == "InvalidRequest"
    bad_others = [
        ({"type": "preload", "flow_file": None, "step": "start"}, "flow_file"),
        ({"type": "preload", "flow_file": "flow.py", "step": 1}, "step"),
        ({"type": "cancel", "flow_file": 5}, "flow_file"),
        ({"type": "launch"}, "unknown request"),
        ({"type": ["spin"]}, "unknown request"),
        (HEADER.pack(3) + b"\xc1\xc1\xc1", "not a flowspin request"),  # not msgpack
        (HEADER.pack(3) + b"\x92\x01\x02", "not a flowspin request"),  # a list
    ]
    for msg, words in bad_others:
        sock = raw(tmp_path)
        if isinstance(msg, bytes):
            sock.sendall(msg)
        else:
            send_sock(sock, msg)
        answer = recv_sock(sock)
        sock.close()
        assert answer["type"] == "error" and words in answer["message"], (msg, answer)
    # `accepted` goes only to clients that ask for it (an older one took it for the reply).
    for ack, kinds in ((False, ["result"]), (True, ["accepted", "result"])):
        sock = raw(tmp_path)
        send_sock(sock, {**spin, "flow_file": str(tmp_path / "missing.py"), "ack": ack})
        frames = []
        while (frame := recv_sock(sock)) is not None:
            frames.append(frame)
        sock.close()
        assert [f["type"] for f in frames] == kinds, frames
        assert frames[-1]["result"]["error"]["type"] == "FlowFileMissing"
    assert daemon_pid(tmp_path) == pid  # none of it hurt the daemon
    # The CLI's own bad option comes back as the one result `spin --json` promises.
    write_flow(tmp_path, "from metaflow import FlowSpec\n")
    proc = run_flowspin(tmp_path, "spin", "flow.py", "start", "--json", "--timeout", "-1")
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and result["error"]["type"] == "InvalidRequest", proc.stdout
    assert "timeout" in result["error"]["message"]
    run_flowspin(tmp_path, "daemon", "stop", "--workspace", str(tmp_path))
    wait_until(lambda: gone(pid), timeout=30, what="the daemon to stop")
