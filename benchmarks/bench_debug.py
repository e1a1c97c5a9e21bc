"""Debug Step: from the request to "paused at the breakpoint", warm vs by hand (goal <= 1 s).

A real Metaflow run of a small flow (`start` holds a list of 200,000 ints, `work` sums it),
then, each repeated (median of --repeats), the time from asking for a debug session of `work`
to a DAP client (as VS Code's debugger UI) receiving `stopped` at a breakpoint in it:

- flowspin, in-process: `SpinService.spin(flow, "work", {"debug_port": 0})` on a warm worker
  (the editor's engine without the language server); the client attaches as soon as the
  child's stderr announces its port;
- flowspin, in-process, debugpy's adapter process (`FLOWSPIN_DEBUG_ADAPTER=process`);
- flowspin via the language server: `flowspin.server.debugStep`, attached on
  `flowspin/debugListening` (what the extension does on Ctrl+Alt+D);
- by hand: `python -m debugpy --listen 127.0.0.1:PORT --wait-for-client flow.py spin TASK`
  (Metaflow's own spin of the same task under debugpy), the same client attaching to the
  port, then to the task's process when debugpy announces it (`debugpyAttach`: Metaflow's
  spin runs the step in a subprocess), as VS Code does.

Each session continues to the end and waits for the spin's result (or the process's exit)
before the next. Benchmarks assert nothing.

Run: `.venv/bin/python benchmarks/bench_debug.py [--repeats 5]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_spin import env_for  # noqa: E402
from dap_client import DapClient  # noqa: E402
from lsp_session import open_session  # noqa: E402

GOAL_MS = 1000.0

FLOW = """
from metaflow import FlowSpec, step


class DebugBenchFlow(FlowSpec):
    @step
    def start(self):
        self.values = list(range(200_000))
        self.next(self.work)

    @step
    def work(self):
        total = sum(self.values)
        self.total = total
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DebugBenchFlow()
"""
BREAK_AT = "self.total = total"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def break_line(flow: Path) -> int:
    return next(i for i, ln in enumerate(flow.read_text().splitlines(), 1) if BREAK_AT in ln)


def until_paused(dap: DapClient, flow: Path, attach: dict[str, Any] | None = None) -> int:
    """Configure one DAP session as VS Code does (initialize, attach, the breakpoint,
    configurationDone); the thread that stopped, once it has. `attach`: the arguments of
    the attach request (a subprocess's session gets debugpy's own)."""
    dap.request("initialize", adapterID="debugpy", clientID="vscode", pathFormat="path")
    pending = dap.send("attach", **(attach or {"justMyCode": False}))
    dap.event("initialized")
    dap.request(
        "setBreakpoints", source={"path": str(flow)}, breakpoints=[{"line": break_line(flow)}]
    )
    dap.request("setExceptionBreakpoints", filters=[])
    dap.request("configurationDone")
    dap.response(pending)
    return int(dap.event("stopped")["threadId"])


def connect(host: str, port: int, deadline: float) -> DapClient:
    """A client for a port that may not listen yet (debugpy's adapter is starting)."""
    while True:
        try:
            return DapClient(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- flowspin through the spin service (in process) ---------------------------------------


def service_session(svc: Any, flow: Path, parts: dict[str, list[float]] | None = None) -> float:
    """ms from the request to `stopped`; the spin is then continued and finished. `parts`
    gets the child's own figures: debugpy imported and listening, the client configured."""
    from flowspin.spin.debugstep import parse_debug_line

    seen: list[str] = []
    announced = threading.Event()
    box: dict[str, Any] = {}

    def on_log(stream: str, text: str) -> None:
        if stream == "stderr":
            seen.append(text)
            if parse_debug_line("".join(seen)):
                announced.set()

    def spin() -> None:
        box["result"] = svc.spin(flow, "work", {"debug_port": 0, "persist": False}, on_log=on_log)
        announced.set()

    started = time.perf_counter()
    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    announced.wait(120)
    address = parse_debug_line("".join(seen))
    if address is None:
        raise RuntimeError(f"the debug spin did not listen: {box.get('result')}")
    dap = DapClient(*address)
    try:
        thread_id = until_paused(dap, flow)
        paused = (time.perf_counter() - started) * 1e3
        dap.send("continue", threadId=thread_id)
        thread.join(120)
    finally:
        dap.close()
    result = box.get("result")
    if result is None or not result.ok:
        raise RuntimeError(f"the debug spin failed: {result and result.error}")
    if parts is not None:
        for name in ("listen_ms", "attached_ms"):
            parts.setdefault(name, []).append(float(result.debug.get(name, 0.0)))
    return paused


def bench_service(
    work: Path, flow: Path, repeats: int, parts: dict[str, list[float]] | None = None, **env: str
) -> list[float]:
    from flowspin.spin.service import SpinService

    svc = SpinService(work, env={**env_for(work), **env})
    try:
        first = svc.spin(flow, "work", {"persist": False})  # the worker is warm from here
        if not first.ok:
            raise RuntimeError(f"plain spin failed: {first.error}")
        service_session(svc, flow)  # warm-up: debugpy's modules in the page cache
        return [service_session(svc, flow, parts) for _ in range(repeats)]
    finally:
        svc.shutdown()


# --- flowspin through the language server -------------------------------------------------


async def bench_lsp(work: Path, flow: Path, repeats: int) -> list[float]:
    from lsprotocol import types
    from pytest_lsp import make_test_lsp_client

    client = make_test_lsp_client()
    notes: list[Any] = []
    arrived = asyncio.Event()

    @client.feature("flowspin/debugListening")
    def on_listening(*args: Any) -> None:  # (params) or (client, params)
        notes.append(args[-1])
        arrived.set()

    client, uri = await open_session(
        work, flow, env_for(work), watch=("flowspin/debugListening",), client=client
    )

    def execute(name: str) -> Any:
        return client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=f"flowspin.server.{name}", arguments=[{"uri": uri, "step": "work"}]
            )
        )

    async def one() -> float:
        arrived.clear()
        started = time.perf_counter()
        answer = asyncio.ensure_future(execute("debugStep"))
        await asyncio.wait_for(arrived.wait(), 120)
        note = notes[-1]

        def attach() -> tuple[float, DapClient, int]:
            dap = DapClient(note.host, note.port)
            thread_id = until_paused(dap, flow)
            return (time.perf_counter() - started) * 1e3, dap, thread_id

        paused, dap, thread_id = await asyncio.to_thread(attach)
        try:
            dap.send("continue", threadId=thread_id)
            result = await asyncio.wait_for(answer, 120)
        finally:
            dap.close()
        if not result["ok"]:
            raise RuntimeError(result["message"])
        return paused

    try:
        warm = await execute("spin")
        if not warm["ok"]:
            raise RuntimeError(warm["message"])
        await one()  # warm-up
        return [await one() for _ in range(repeats)]
    finally:
        await client.shutdown_session()


# --- by hand: Metaflow's spin under `python -m debugpy --wait-for-client` -----------------


def by_hand_session(work: Path, flow: Path, pathspec: str) -> float:
    port = free_port()
    cmd = [
        sys.executable,
        *("-m", "debugpy", "--listen", f"127.0.0.1:{port}", "--wait-for-client"),
        *(flow.name, "--no-pylint", "spin", pathspec),
    ]
    errors = tempfile.TemporaryFile(mode="w+")
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=work, env=env_for(work), stdout=subprocess.DEVNULL, stderr=errors, text=True
    )
    sessions: list[DapClient] = []
    try:
        parent = connect("127.0.0.1", port, time.monotonic() + 60)
        sessions.append(parent)
        parent.request("initialize", adapterID="debugpy", clientID="vscode", pathFormat="path")
        pending = parent.send("attach", justMyCode=False, subProcess=True)
        parent.event("initialized")
        line = break_line(flow)
        parent.request("setBreakpoints", source={"path": str(flow)}, breakpoints=[{"line": line}])
        parent.request("setExceptionBreakpoints", filters=[])
        parent.request("configurationDone")
        parent.response(pending)
        # Metaflow runs the task in a subprocess: debugpy announces it, and the editor
        # attaches to it with the configuration it names.
        config = parent.event("debugpyAttach")
        connection = config.get("connect") or {}
        child = DapClient(connection.get("host", "127.0.0.1"), int(connection.get("port", port)))
        sessions.append(child)
        thread_id = until_paused(child, flow, attach=config)
        paused = (time.perf_counter() - started) * 1e3
        child.send("continue", threadId=thread_id)
        code = proc.wait(120)
        if code != 0:
            errors.seek(0)
            raise RuntimeError(f"metaflow spin under debugpy exited {code}: {errors.read()}")
        return paused
    finally:
        for dap in sessions:
            dap.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errors.close()


def task_pathspec(work: Path) -> str:
    code = (
        "from metaflow import Flow, namespace; namespace(None); "
        "print(Flow('DebugBenchFlow').latest_successful_run['work'].task.pathspec)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        env=env_for(work),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def bench_by_hand(work: Path, flow: Path, repeats: int) -> list[float]:
    pathspec = task_pathspec(work)
    by_hand_session(work, flow, pathspec)  # warm-up
    return [by_hand_session(work, flow, pathspec) for _ in range(repeats)]


def row(label: str, values: list[float]) -> str:
    return (
        f"{label:58} {statistics.median(values):8.0f} {min(values):8.0f} {max(values):8.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temp workspace")
    parser.add_argument("--json-out", help="write the figures (ms) here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flowspin-bench-debug-"))
    (work / ".git").mkdir()
    flow = work / "flow.py"
    flow.write_text(FLOW.lstrip())
    figures: dict[str, list[float]] = {}
    parts: dict[str, list[float]] = {}
    try:
        log(f"running the flow once in {work} ...")
        subprocess.run(
            [sys.executable, "flow.py", "--no-pylint", "run"],
            cwd=work,
            env=env_for(work),
            check=True,
            capture_output=True,
        )
        measures: list[tuple[str, str, Callable[[], list[float]]]] = [
            (
                "service",
                "flowspin, warm worker, in-process adapter",
                lambda: bench_service(work, flow, args.repeats, parts),
            ),
            (
                "service_adapter_process",
                "flowspin, warm worker, debugpy's adapter process",
                lambda: bench_service(
                    work, flow, args.repeats, FLOWSPIN_DEBUG_ADAPTER="process"
                ),
            ),
            (
                "lsp",
                "flowspin via the language server (debugStep)",
                lambda: asyncio.run(bench_lsp(work, flow, args.repeats)),
            ),
            (
                "by_hand",
                "by hand: python -m debugpy ... flow.py spin TASK",
                lambda: bench_by_hand(work, flow, args.repeats),
            ),
        ]
        for key, label, measure in measures:
            log(f"{label} ...")
            figures[key] = measure()
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nrequest -> paused at the breakpoint (ms, {args.repeats} repeats)")
    print(f"{'':58} {'median':>8} {'min':>8} {'max':>8}")
    labels = {key: label for key, label, _ in measures}
    for key, values in figures.items():
        print(row(labels[key], values))
    if parts:
        print(
            "  of which, in the spin's child: debugpy imported and listening "
            f"{statistics.median(parts['listen_ms']):.0f} ms, the client attached and "
            f"configured {statistics.median(parts['attached_ms']):.0f} ms after the child began"
        )
    warm = statistics.median(figures["lsp"])
    hand = statistics.median(figures["by_hand"])
    verdict = "within" if warm <= GOAL_MS else "OVER"
    print(
        f"via the language server {warm:.0f} ms: {verdict} the {GOAL_MS:.0f} ms goal; "
        f"{hand / warm:.1f}x faster than by hand ({hand:.0f} ms)"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({**figures, **parts}, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    sys.exit(main())
