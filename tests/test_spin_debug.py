"""Debug Step: breakpoints inside a warm spin, driven by a real DAP client against debugpy.

The spin forks from the real warm worker; its child listens with debugpy; this test attaches
as an editor would (initialize, attach, setBreakpoints, configurationDone), stops in the flow
file and in a workspace helper module, reads `self` and an artifact, continues, and checks the
spin's normal result and that the worker stays warm for the next plain spin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import metaflow_env, run_flowspin, run_metaflow, wait_until, write_flow
from dap_client import DapClient
from flowspin.spin.debugstep import parse_debug_line
from spin_helpers import make_service

HELPER = """
def scale(values, factor):
    out = [v * factor for v in values]
    return out
"""

FLOW = """
from metaflow import FlowSpec, step, timeout
import helper


class DebugFlow(FlowSpec):
    @step
    def start(self):
        self.values = [1, 2, 3]
        self.label = "base"
        self.blob = "x" * 2_000_000  # stored above 1 MB: lazy on a cold spin
        self.next(self.work)

    @timeout(seconds=5)
    @step
    def work(self):
        factor = len(self.label)
        self.scaled = helper.scale(self.values, factor)
        self.total = sum(self.scaled)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DebugFlow()
"""


def line_of(path: Path, text: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if text in ln)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("debug")
    (workdir / "helper.py").write_text(HELPER.lstrip())
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    svc = make_service(workdir)
    first = svc.spin(flow, "work", {"persist": False})  # the worker is warm from here on
    assert first.ok, first.error
    yield workdir, flow, svc
    svc.shutdown()
    run_flowspin(workdir, "daemon", "stop", "--workspace", str(workdir))  # the CLI tests' one


class Spin:
    """A spin running in a thread, with its streamed stderr (where the port is announced)."""

    def __init__(self, svc, flow, options) -> None:
        self.stderr: list[str] = []
        self.result = None
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, args=(svc, flow, options), daemon=True)
        self.thread.start()

    def _run(self, svc, flow, options) -> None:
        def on_log(stream: str, text: str) -> None:
            if stream == "stderr":
                self.stderr.append(text)

        self.result = svc.spin(flow, "work", options, on_log=on_log)

    def address(self) -> tuple[str, int]:
        wait_until(
            lambda: parse_debug_line("".join(self.stderr)) or self.result is not None,
            60,
            "the child to announce its debug port",
        )
        found = parse_debug_line("".join(self.stderr))
        assert found is not None, (self.result, self.stderr)
        return found

    def finish(self):
        self.thread.join(60)
        assert not self.thread.is_alive(), "the spin did not finish"
        return self.result


def variables(dap: DapClient, ref: int) -> dict[str, dict]:
    return {v["name"]: v for v in dap.request("variables", variablesReference=ref)["variables"]}


def adapters() -> set[int]:
    """debugpy adapter processes (`FLOWSPIN_DEBUG_ADAPTER=process` starts one per session)."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
            if b"debugpy" in cmdline and b"--for-server" in cmdline:
                found.add(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("adapter", ["in-process", "process"])
def test_breakpoints_in_flow_and_helper_then_normal_result(env, adapter):
    workdir, flow, svc = env
    before = adapters()
    if adapter == "process":  # debugpy's own adapter process, in a worker of its own
        svc = make_service(workdir, FLOWSPIN_DEBUG_ADAPTER="process")
        assert svc.spin(flow, "work", {"persist": False}).ok
    worker = svc.worker_pid(flow)
    flow_line = line_of(flow, "self.scaled = helper.scale")
    helper_file = workdir / "helper.py"
    helper_line = line_of(helper_file, "return out")

    spin = Spin(svc, flow, {"debug_port": 0, "persist": False})
    host, port = spin.address()
    assert host == "127.0.0.1" and port > 0

    dap = DapClient(host, port)
    try:
        dap.request(
            "initialize",
            adapterID="debugpy",
            clientID="flowspin-test",
            linesStartAt1=True,
            columnsStartAt1=True,
            pathFormat="path",
        )
        attach = dap.send("attach", justMyCode=True, redirectOutput=False)
        dap.event("initialized")
        for path, line in ((flow, flow_line), (helper_file, helper_line)):
            bps = dap.request(
                "setBreakpoints", source={"path": str(path)}, breakpoints=[{"line": line}]
            )["breakpoints"]
            assert bps[0]["verified"], bps
        dap.request("setExceptionBreakpoints", filters=[])
        dap.request("configurationDone")
        dap.response(attach)

        # Paused in the step, in the flow file, before the helper call.
        stopped = dap.event("stopped")
        paused_ms = (time.perf_counter() - spin.started) * 1e3
        assert stopped["reason"] == "breakpoint"
        thread = stopped["threadId"]
        frame = dap.request("stackTrace", threadId=thread)["stackFrames"][0]
        assert Path(frame["source"]["path"]).resolve() == flow.resolve()
        assert frame["line"] == flow_line
        scopes = dap.request("scopes", frameId=frame["id"])["scopes"]
        local = variables(dap, scopes[0]["variablesReference"])
        assert local["factor"]["value"] == "4"
        self_var = variables(dap, local["self"]["variablesReference"])
        assert self_var["values"]["value"] == "[1, 2, 3]"  # the parent's artifact, via self
        assert self_var["label"]["value"] == "'base'"
        answer = dap.request("evaluate", expression="self.values[1] + 40", frameId=frame["id"])
        assert answer["result"] == "42"

        dap.request("continue", threadId=thread)
        stopped = dap.event("stopped")
        frame = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"][0]
        assert Path(frame["source"]["path"]).resolve() == helper_file.resolve()
        assert frame["line"] == helper_line
        local = variables(
            dap, dap.request("scopes", frameId=frame["id"])["scopes"][0]["variablesReference"]
        )
        assert local["out"]["value"] == "[4, 8, 12]"
        # The step then runs to its end and the child exits: the connection may close before
        # the continue's response arrives (an editor's session just ends then).
        dap.send("continue", threadId=stopped["threadId"])

        result = spin.finish()
    finally:
        dap.close()
    print(f"request -> paused at the first breakpoint: {paused_ms:.0f} ms; {result.debug}")
    assert result.ok, result.error
    assert result.artifacts["total"]["repr"] == "24" and result.artifacts["total"]["changed"]
    assert result.debug["port"] == port and result.debug["attached_ms"] > 0
    assert any("@timeout" in n and "debugging" in n for n in result.notices), result.notices
    assert svc.worker_pid(flow) == worker

    plain = svc.spin(flow, "work", {"persist": False})
    assert plain.ok, plain.error
    assert plain.artifacts["total"]["repr"] == "24"
    assert plain.debug == {}
    assert svc.worker_pid(flow) == worker
    if adapter == "process":
        svc.shutdown()
    # Nothing of the session outlives it (the separate adapter exits once both sides left).
    wait_until(lambda: not adapters() - before, 30, "the debug adapter to exit")


def test_no_client_gives_debug_timeout_and_the_worker_stays_warm(env):
    workdir, flow, svc = env
    worker = svc.worker_pid(flow)
    spin = Spin(svc, flow, {"debug_port": 0, "debug_timeout": 1.5, "persist": False})
    host, port = spin.address()
    result = spin.finish()
    assert result.status == "error"
    assert result.error["type"] == "DebugTimeout", result.error
    assert f"{host}:{port}" in result.error["message"] and "1.5 s" in result.error["message"]
    assert "total" not in result.artifacts or not result.artifacts["total"]["changed"]
    assert svc.worker_pid(flow) == worker
    plain = svc.spin(flow, "work", {"persist": False})
    assert plain.ok and plain.artifacts["total"]["repr"] == "24", plain.error
    assert svc.worker_pid(flow) == worker


@pytest.mark.parametrize(
    "options",
    [
        {"debug_port": -1},
        {"debug_port": 70000},
        {"debug_port": "5678"},
        {"debug_port": True},
        {"debug_port": 0, "debug_timeout": 0},
        {"debug_port": 0, "all_splits": True},
    ],
)
def test_debug_options_are_validated(options):
    from flowspin.spin.options import SpinOptions

    with pytest.raises(ValueError, match="debug_"):
        SpinOptions.from_dict(options)


def test_cli_human_mode_streams_the_port_and_finishes_after_the_debugger(env):
    """`flowspin spin FILE STEP --debug-port 0` through the workspace daemon: the port on
    stderr while it waits, a breakpoint hit, the usual summary once the debugger continues."""
    workdir, flow, _ = env
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "spin", str(flow), "work", "--debug-port", "0"],
        cwd=workdir,
        env=metaflow_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        for line in proc.stderr:  # blocks on the stream itself: the line comes before the step
            seen.append(line)
            address = parse_debug_line(line)
            if address:
                break
        assert address, seen
        dap = DapClient(*address)
        try:
            dap.request("initialize", adapterID="debugpy", pathFormat="path")
            attach = dap.send("attach", justMyCode=False)
            dap.event("initialized")
            line = line_of(flow, "self.total = sum")
            dap.request("setBreakpoints", source={"path": str(flow)}, breakpoints=[{"line": line}])
            dap.request("configurationDone")
            dap.response(attach)
            stopped = dap.event("stopped")
            frame = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"][0]
            assert frame["line"] == line
            dap.send("continue", threadId=stopped["threadId"])  # the last: the child may exit first
            out, err = proc.communicate(timeout=120)
        finally:
            dap.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "✓ work ok" in out and "changed: " in out, out


def test_cli_json_reports_the_port_and_the_debug_timeout(env):
    workdir, flow, _ = env
    proc = run_flowspin(
        workdir,
        *("spin", str(flow), "work", "--json", "--no-persist"),
        *("--debug-port", "0", "--debug-timeout", "1"),
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    address = parse_debug_line(proc.stderr)
    assert address is not None, proc.stderr
    result = json.loads(proc.stdout)  # stdout is exactly the one JSON object
    assert result["error"]["type"] == "DebugTimeout"
    assert result["debug"]["port"] == address[1]


def test_warm_reader_leaves_debug_options_to_argparse():
    from flowspin.commands.spin import parse_warm

    assert parse_warm(["flow.py", "work", "--json", "--debug-port", "0"]) is None
    assert parse_warm(["flow.py", "work", "--json", "--debug-timeout", "5"]) is None


def test_cold_spin_lazy_artifacts_load_when_self_is_inspected(env):
    """On a worker's first (cold) spin, an artifact above 1 MB the step never reads is not
    loaded; expanding `self` in the debugger lists it and loads it then."""
    workdir, flow, _ = env
    plain_cold = make_service(workdir)
    try:
        plain = plain_cold.spin(flow, "work", {"persist": False})
    finally:
        plain_cold.shutdown()
    assert plain.artifacts["blob"]["repr"].startswith("<not loaded"), plain.artifacts["blob"]
    cold = make_service(workdir)  # a worker of its own: nothing loaded yet
    try:
        spin = Spin(cold, flow, {"debug_port": 0, "persist": False})
        dap = DapClient(*spin.address())
        try:
            dap.request("initialize", adapterID="debugpy", pathFormat="path")
            attach = dap.send("attach", justMyCode=True)
            dap.event("initialized")
            line = line_of(flow, "factor = len(self.label)")
            dap.request("setBreakpoints", source={"path": str(flow)}, breakpoints=[{"line": line}])
            dap.request("configurationDone")
            dap.response(attach)
            stopped = dap.event("stopped")
            frame = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"][0]
            scopes = dap.request("scopes", frameId=frame["id"])["scopes"]
            self_ref = variables(dap, scopes[0]["variablesReference"])["self"]
            attrs = variables(dap, self_ref["variablesReference"])
            assert attrs["blob"]["type"] == "str" and attrs["blob"]["value"].startswith("'xxxx")
            assert attrs["values"]["value"] == "[1, 2, 3]"
            dap.send("continue", threadId=stopped["threadId"])  # the last: the child may exit first
            result = spin.finish()
        finally:
            dap.close()
        assert result.ok, result.error
        blob = result.artifacts["blob"]
        assert blob["repr"].startswith("'xxxx") and not blob["changed"]  # loaded, not changed
        assert result.artifacts["total"]["repr"] == "24"
    finally:
        cold.shutdown()


def test_cancel_while_waiting_for_the_debugger(env):
    """Cancelling a spin that waits for its debugger ends it as `cancelled`; worker warm."""
    workdir, flow, svc = env
    worker = svc.worker_pid(flow)
    spin = Spin(svc, flow, {"debug_port": 0, "persist": False})
    spin.address()  # it waits for a client now
    svc.cancel(flow)
    result = spin.finish()
    assert result.status == "cancelled", result.error
    assert svc.worker_pid(flow) == worker
    plain = svc.spin(flow, "work", {"persist": False})
    assert plain.ok and plain.artifacts["total"]["repr"] == "24", plain.error


def test_a_taken_port_is_a_clear_error_not_a_hang(env):
    workdir, flow, svc = env
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        result = svc.spin(flow, "work", {"debug_port": port, "persist": False})
    finally:
        taken.close()
    assert result.error["type"] == "DebugUnavailable", result.error
    assert f"127.0.0.1:{port}" in result.error["message"] and "in use" in result.error["message"]
    assert svc.spin(flow, "work", {"persist": False}).ok


def test_cancel_while_paused_at_a_breakpoint(env):
    """Paused is not hung, but a cancel still stops it (SIGINT, then SIGKILL): the spin ends
    `cancelled`, the worker stays warm and the next plain spin is correct."""
    workdir, flow, svc = env
    worker = svc.worker_pid(flow)
    spin = Spin(svc, flow, {"debug_port": 0, "persist": False})
    dap = DapClient(*spin.address())
    try:
        dap.request("initialize", adapterID="debugpy", pathFormat="path")
        attach = dap.send("attach", justMyCode=True)
        dap.event("initialized")
        line = line_of(flow, "self.total = sum")
        dap.request("setBreakpoints", source={"path": str(flow)}, breakpoints=[{"line": line}])
        dap.request("configurationDone")
        dap.response(attach)
        dap.event("stopped")
        svc.cancel(flow)
        result = spin.finish()
    finally:
        dap.close()
    assert result.status == "cancelled", result.error
    assert svc.worker_pid(flow) == worker
    plain = svc.spin(flow, "work", {"persist": False})
    assert plain.ok and plain.artifacts["total"]["repr"] == "24", plain.error


def test_subprocess_mode_debugs_too(env):
    """Where forking is unsafe the spin's fresh process listens the same way."""
    workdir, flow, svc = env
    spin = Spin(svc, flow, {"debug_port": 0, "debug_timeout": 1, "mode": "subprocess"})
    host, port = spin.address()
    result = spin.finish()
    assert result.mode == "subprocess"
    assert result.error["type"] == "DebugTimeout" and result.debug["port"] == port, result.error


@pytest.mark.parametrize("filters", [["uncaught"], []])
def test_post_mortem_stops_at_the_raising_line_with_its_locals(env, tmp_path, filters):
    """The child catches the step's exception to report it; under a debugger it is shown to
    the client as uncaught, so with "uncaught" exception breakpoints on (what the editor's
    "Debug this step" quick fix sets) the session stops at the raising line, its locals and
    `self` there; continuing, the spin reports the error as a plain spin does. Without the
    filter the step just fails."""
    workdir, flow, svc = env
    worker = svc.worker_pid(flow)
    bad = tmp_path / "bad_values.py"
    bad.write_text('ARTIFACTS = {"values": [1, "a", 3]}\n')  # sum() of int and str fails
    options = {"persist": False, "artifacts_module": str(bad)}
    raising = line_of(flow, "self.total = sum(self.scaled)")
    plain = svc.spin(flow, "work", options)
    assert plain.error["type"] == "TypeError" and plain.error["line"] == raising, plain.error

    spin = Spin(svc, flow, {**options, "debug_port": 0})
    dap = DapClient(*spin.address())
    try:
        dap.request("initialize", adapterID="flowspin", pathFormat="path")
        attach = dap.send("attach", justMyCode=False)
        dap.event("initialized")
        dap.request("setExceptionBreakpoints", filters=filters)
        dap.request("configurationDone")
        dap.response(attach)
        if filters:
            stopped = dap.event("stopped")
            assert stopped["reason"] == "exception", stopped
            thread = stopped["threadId"]
            info = dap.request("exceptionInfo", threadId=thread)
            assert "TypeError" in info["exceptionId"] and info["breakMode"] == "unhandled", info
            frame = dap.request("stackTrace", threadId=thread)["stackFrames"][0]
            assert Path(frame["source"]["path"]).resolve() == flow.resolve()
            assert frame["line"] == raising and frame["name"] == "work"
            scopes = dap.request("scopes", frameId=frame["id"])["scopes"]
            local = variables(dap, scopes[0]["variablesReference"])
            assert local["factor"]["value"] == "4"
            attrs = variables(dap, local["self"]["variablesReference"])
            assert attrs["scaled"]["value"] == "[4, 'aaaa', 12]"
            answer = dap.request("evaluate", expression="self.scaled[1]", frameId=frame["id"])
            assert answer["result"] == "'aaaa'"
            dap.send("continue", threadId=thread)
        result = spin.finish()
        seen = [m.get("event") for m in dap.messages]
    finally:
        dap.close()
    assert "stopped" not in seen  # one stop at most: no other for the same exception
    assert result.status == "error" and result.error["type"] == "TypeError", result.error
    assert result.error["line"] == raising and result.error["file"] == plain.error["file"]
    assert result.debug["port"] > 0
    assert svc.worker_pid(flow) == worker
    after = svc.spin(flow, "work", {"persist": False})
    assert after.ok and after.artifacts["total"]["repr"] == "24", after.error


@pytest.mark.parametrize(
    "crash",
    ["__import__('os')._exit(7)", "__import__('ctypes').string_at(0)"],
    ids=["os._exit", "segfault"],
)
def test_a_crash_while_paused_ends_the_session_like_a_crashed_spin(env, tmp_path, crash):
    """The step's process dies while paused at a breakpoint (here: the debug console runs
    `os._exit` or reads address 0): the debugger's connection closes, which ends an editor's
    session, and the spin reports the crash as a plain spin whose process dies the same way
    (a module of overrides that crashes as the child loads it); the worker stays warm."""
    workdir, flow, svc = env
    worker = svc.worker_pid(flow)
    crasher = tmp_path / "crasher.py"
    crasher.write_text(f"{crash}\nARTIFACTS = {{}}\n")
    plain = svc.spin(flow, "work", {"persist": False, "artifacts_module": str(crasher)})
    assert plain.status == "error" and plain.error["type"] in ("ProcessExit", "Segfault")

    spin = Spin(svc, flow, {"debug_port": 0, "persist": False})
    dap = DapClient(*spin.address())
    try:
        dap.request("initialize", adapterID="flowspin", pathFormat="path")
        attach = dap.send("attach", justMyCode=False)
        dap.event("initialized")
        line = line_of(flow, "self.total = sum")
        dap.request("setBreakpoints", source={"path": str(flow)}, breakpoints=[{"line": line}])
        dap.request("configurationDone")
        dap.response(attach)
        stopped = dap.event("stopped")
        frame = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"][0]
        dap.send("evaluate", expression=crash, frameId=frame["id"], context="repl")
        wait_until(lambda: dap.closed, 60, "the debugger's connection to close")
        result = spin.finish()
    finally:
        dap.close()
    assert result.status == plain.status
    assert result.error["type"] == plain.error["type"], result.error
    assert result.error["message"] == plain.error["message"]
    assert svc.worker_pid(flow) == worker
    after = svc.spin(flow, "work", {"persist": False})
    assert after.ok and after.artifacts["total"]["repr"] == "24", after.error
