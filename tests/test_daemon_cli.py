"""`flowspin spin/show/daemon` from real shells, through the real per-workspace daemon."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import metaflow_env, run_metaflow, write_flow

FLOW = """
from metaflow import FlowSpec, step


class CliFlow(FlowSpec):
    @step
    def start(self):
        self.n = 1
        print("hello from start")
        self.next(self.double)

    @step
    def double(self):
        self.n = self.n * 2
        self.next(self.end)

    @step
    def end(self):
        if self.n > 100:
            raise RuntimeError("too big")


if __name__ == "__main__":
    CliFlow()
"""

CONTRACT = {
    "status",
    "flow",
    "step",
    "spin_id",
    "mode",
    "base",
    "artifacts",
    "next",
    "stdout",
    "stderr",
    "duration_ms",
    "cards",
    "error",
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cli")
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    yield workdir, flow
    flowspin(workdir, "daemon", "stop", "--workspace", str(workdir))


def flowspin(workdir, *args, env=None):
    return python(workdir, "-m", "flowspin.cli", *args, env=env)


def python(workdir, *args, env=None):
    e = metaflow_env(workdir)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        cwd=workdir,
        env=e,
        capture_output=True,
        text=True,
        timeout=300,
    )


def spin_json(workdir, *args):
    proc = flowspin(workdir, "spin", "flow.py", *args, "--json")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[0])


def test_json_contract_and_warm_daemon(ws):
    workdir, _ = ws
    code, res = spin_json(workdir, "start")
    assert code == 0 and res["status"] == "ok"
    assert CONTRACT <= set(res)
    assert res["artifacts"]["n"] == {
        "type": "int",
        "repr": "1",
        "size": res["artifacts"]["n"]["size"],
        "changed": True,
    }
    assert res["stdout"] == "hello from start\n" and res["error"] is None
    sock = workdir / ".flowspin" / "daemon.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    status1 = json.loads(
        flowspin(workdir, "daemon", "status", "--workspace", str(workdir), "--json").stdout
    )
    code, _ = spin_json(workdir, "start")
    status2 = json.loads(
        flowspin(workdir, "daemon", "status", "--workspace", str(workdir), "--json").stdout
    )
    assert status1["pid"] == status2["pid"]
    assert (
        list(status1["workers"].values())[0]["pid"] == list(status2["workers"].values())[0]["pid"]
    )


def test_chaining_and_reset(ws):
    workdir, _ = ws
    _, start = spin_json(workdir, "start", "--param", "nothing=1")
    assert start["status"] == "error" and start["error"]["type"] == "UnknownParameter"
    _, start = spin_json(workdir, "start")
    _, double = spin_json(workdir, "double")
    assert double["base"]["chained_from"] == [start["spin_id"]]
    _, end = spin_json(workdir, "end")
    assert end["base"]["chained_from"] == [double["spin_id"]]
    _, reset = spin_json(workdir, "double", "--reset")
    assert reset["base"]["chained_from"] == []
    assert reset["base"]["tasks"][0].startswith("CliFlow/")


def test_error_exit_code_and_human_output(ws):
    workdir, _ = ws
    proc = flowspin(workdir, "spin", "flow.py", "nosuchstep")
    assert proc.returncode == 1
    assert "UnknownStep" in proc.stdout
    human = flowspin(workdir, "spin", "flow.py", "start")
    assert human.returncode == 0
    assert "hello from start" in human.stdout
    last = human.stdout.strip().splitlines()[-1]
    assert last.startswith("✓ start ok") and "state: run " in last


def test_concurrent_cli_processes(ws):
    workdir, _ = ws
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda s: spin_json(workdir, s, "--no-persist"), ["start", "double", "start", "end"]
            )
        )
    assert [r[1]["status"] for r in results] == ["ok"] * 4
    assert [r[1]["step"] for r in results] == ["start", "double", "start", "end"]


def test_show_and_no_daemon(ws):
    workdir, _ = ws
    proc = flowspin(workdir, "spin", "flow.py", "double", "--no-daemon", "--json", "--reset")
    res = json.loads(proc.stdout)
    assert res["status"] == "ok" and res["artifacts"]["n"]["repr"] == "2"
    listing = flowspin(workdir, "show", "flow.py")
    assert "double" in listing.stdout and "start" in listing.stdout
    shown = flowspin(workdir, "show", "flow.py", "double")
    assert res["spin_id"] in shown.stdout
    value = flowspin(workdir, "show", "flow.py", "double", "n")
    assert value.stdout.strip() == "2"
    missing = flowspin(workdir, "show", "flow.py", "double", "nope")
    assert missing.returncode == 1 and "no artifact 'nope'" in missing.stderr


def test_daemon_stop_and_idle_exit(ws, tmp_path):
    workdir, _ = ws
    stop = flowspin(workdir, "daemon", "stop", "--workspace", str(workdir))
    assert stop.returncode == 0
    assert not (workdir / ".flowspin" / "daemon.sock").exists()
    code, res = spin_json(workdir, "start")  # starts a fresh daemon
    assert code == 0
    flowspin(workdir, "daemon", "stop", "--workspace", str(workdir))
    e = {"FLOWSPIN_DAEMON_IDLE_S": "1"}
    proc = flowspin(workdir, "spin", "flow.py", "start", "--json", env=e)
    assert json.loads(proc.stdout)["status"] == "ok"
    sock = workdir / ".flowspin" / "daemon.sock"
    deadline = time.monotonic() + 30
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sock.exists()


def test_cli_and_in_process_server_share_one_service(ws):
    """The language server hosts the socket; CLI calls and its own spins run side by side."""
    from flowspin.daemon.server import host_socket
    from spin_helpers import make_service

    workdir, flow = ws
    flowspin(workdir, "daemon", "stop", "--workspace", str(workdir))
    svc = make_service(workdir)
    server = host_socket(workdir, svc)
    try:
        assert server is not None
        results = []
        t = threading.Thread(
            target=lambda: results.append(spin_json(workdir, "double", "--no-persist"))
        )
        t.start()
        own = [svc.spin(flow, "start", {"persist": False}) for _ in range(3)]
        t.join(120)
        assert all(r.ok for r in own)
        code, res = results[0]
        assert code == 0 and res["status"] == "ok" and res["artifacts"]["n"]["repr"] == "2"
        status = json.loads(
            flowspin(workdir, "daemon", "status", "--workspace", str(workdir), "--json").stdout
        )
        assert status["pid"] == os.getpid()  # answered by this process, not a daemon
    finally:
        if server is not None:
            server.stop()
        svc.shutdown()


def test_ctrl_c_in_the_shell_cancels_the_spin(ws):
    workdir, _ = ws
    arts = workdir / "hang_arts.py"
    arts.write_text(
        "import time\n\n\nclass Hang:\n    def __mul__(self, other):\n"
        "        print('hanging', flush=True)\n        time.sleep(600)\n\n\n"
        "ARTIFACTS = {'n': Hang()}\n"
    )
    e = metaflow_env(workdir)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowspin.cli",
            "spin",
            "flow.py",
            "double",
            "--no-persist",
            "--artifacts-module",
            str(arts),
        ],
        cwd=workdir,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # live log from the step, streamed through the daemon
    assert "hanging" in line
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    started = time.monotonic()
    code, res = spin_json(workdir, "double", "--no-persist", "--reset")
    assert code == 0 and res["artifacts"]["n"]["repr"] == "2"
    assert time.monotonic() - started < 60  # the hung child did not hold the worker


def test_spins_never_touch_metaflows_datastore(ws):
    workdir, _ = ws
    mf = workdir / ".metaflow" / "CliFlow"
    before_latest = (mf / "latest_run").read_text()
    before = sorted(p.name for p in mf.iterdir())
    for step in ("start", "double", "end"):
        code, _ = spin_json(workdir, step)
        assert code == 0
    assert (mf / "latest_run").read_text() == before_latest
    assert sorted(p.name for p in mf.iterdir()) == before
    assert not (workdir / ".metaflow_spin").exists()


# The warm shell spin reads its own arguments; for everything it takes, it must read them as
# argparse does, and leave everything else to argparse.
WARM_ARGV = [
    ["flow.py", "train", "--json"],
    ["--json", "flow.py", "train", "--run", "17", "--split", "2", "--no-persist"],
    ["flow.py", "--reset", "train", "--json", "--task", "F/1/train/3", "--timeout", "2.5"],
    ["flow.py", "train", "--json", "--mode", "subprocess", "--all-splits"],
    ["flow.py", "train", "--json", "--param", "a=1", "--param", "b=x=y"],
    ["flow.py", "train", "--json", "--artifacts-module", "arts.py"],
]
ARGPARSE_ONLY = [
    ["flow.py", "train"],  # human output streams logs
    ["flow.py", "train", "--json", "--no-daemon"],
    ["flow.py", "train", "--json", "-h"],
    ["flow.py", "--json"],
    ["flow.py", "train", "extra", "--json"],
    ["flow.py", "train", "--json", "--run", "1", "--task", "F/1/train/3"],
    ["flow.py", "train", "--json", "--split", "2", "--all-splits"],
    ["flow.py", "train", "--json", "--split", "two"],
    ["flow.py", "train", "--json", "--mode", "thread"],
    ["flow.py", "train", "--json", "--split=2"],
    ["flow.py", "train", "--json", "--no-pers"],
    ["flow.py", "train", "--json", "--run"],
]


@pytest.mark.parametrize("argv", WARM_ARGV, ids=" ".join)
def test_warm_argument_reader_agrees_with_argparse(argv):
    from flowspin.cli import build_parser
    from flowspin.commands.spin import parse_warm

    expected = vars(build_parser("spin").parse_args(["spin", *argv]))
    for key in ("func", "command"):
        expected.pop(key)
    warm = parse_warm(argv)
    assert warm is not None
    assert vars(warm) == expected


@pytest.mark.parametrize("argv", ARGPARSE_ONLY, ids=" ".join)
def test_warm_argument_reader_leaves_the_rest_to_argparse(argv):
    from flowspin.commands.spin import parse_warm

    assert parse_warm(argv) is None


def test_warm_shell_spin_imports_only_what_a_request_needs(ws):
    """The shell budget (DESIGN.md) is mostly interpreter start and imports: argparse, json,
    pathlib, typing and socket's wrapper each cost milliseconds, so the warm path has none."""
    workdir, _ = ws
    assert spin_json(workdir, "start")[0] == 0  # a daemon runs
    probe = (
        "import sys\n"
        "from flowspin.cli import main\n"
        "code = main(['spin', 'flow.py', 'double', '--json'])\n"
        "heavy = {'argparse', 'json', 'pathlib', 'typing', 'socket', 're', 'metaflow', 'logging'}\n"
        "print(sorted(heavy & set(sys.modules)), code, file=sys.stderr)\n"
    )
    proc = python(workdir, "-c", probe)
    assert proc.stderr.strip() == "[] 0", proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "ok" and result["artifacts"]["n"]["repr"] == "2"
