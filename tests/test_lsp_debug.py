"""Debug Step from the editor, in a real language-server session over a folder with a real
Metaflow run: `flowspin.server.debugStep` starts the spin, `flowspin/debugListening` gives the
address as soon as the child listens, a DAP client (as VS Code's debugger UI) attaches, stops
at a breakpoint and continues; the spin's answer, lens and result are those of any spin, and
the worker (the same process) serves the next plain spin warm."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Union

import pytest
import pytest_lsp
from conftest import metaflow_env, run_metaflow, write_flow
from dap_client import DapClient
from lsp_support import TIMEOUT, Doc, start_session, use_workspace_datastore, wait_until
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

FLOW = """
from metaflow import FlowSpec, step


class DebugEditorFlow(FlowSpec):
    @step
    def start(self):
        self.x = 3
        self.next(self.train)

    @step
    def train(self):
        factor = self.x + 1
        self.y = self.x * factor
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DebugEditorFlow()
"""

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester", "USER": os.environ.get("USER", "tester")},
)
pytestmark = pytest.mark.asyncio(loop_scope="module")
_seen: dict[str, list[Any]] = {"listening": [], "results": [], "logs": []}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("lspdebug")
    (workdir / ".git").mkdir()
    run_metaflow(write_flow(workdir, FLOW), "run")
    return workdir


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    @lsp_client.feature("flowspin/debugListening")
    def on_listening(ls: Any, params: Any) -> None:
        _seen["listening"].append(params)

    @lsp_client.feature("flowspin/spinResult")
    def on_result(ls: Any, params: Any) -> None:
        _seen["results"].append(params)

    @lsp_client.feature("flowspin/log")
    def on_log(ls: Any, params: Any) -> None:
        _seen["logs"].append(params)

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_refresh(ls: Any, params: Any) -> None:
        pass

    await start_session(lsp_client, root)
    use_workspace_datastore(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


def command(client: LanguageClient, name: str, argument: dict[str, Any]) -> Any:
    return client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=f"flowspin.server.{name}", arguments=[argument])
    )


def worker_pid(root: Path, flow: Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "daemon", "status", "--json"],
        cwd=root,
        env=metaflow_env(root),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(proc.stdout)["workers"][str(flow.resolve())]["pid"]


def debug_session(host: str, port: int, path: Path, line: int) -> dict[str, Any]:
    """What VS Code's debugger UI does, as a DAP client: attach, break at `line`, read a local,
    continue. Blocking (run it off the event loop)."""
    dap = DapClient(host, port)
    try:
        dap.request("initialize", adapterID="flowspin", clientID="vscode", pathFormat="path")
        attach = dap.send("attach", justMyCode=False)
        dap.event("initialized")
        bps = dap.request(
            "setBreakpoints", source={"path": str(path)}, breakpoints=[{"line": line}]
        )["breakpoints"]
        assert bps[0]["verified"], bps
        dap.request("configurationDone")
        dap.response(attach)
        stopped = dap.event("stopped")
        paused = time.perf_counter()
        frame = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"][0]
        scopes = dap.request("scopes", frameId=frame["id"])["scopes"]
        local = {
            v["name"]: v["value"]
            for v in dap.request("variables", variablesReference=scopes[0]["variablesReference"])[
                "variables"
            ]
        }
        # The step runs to its end and the child exits: the connection may close before the
        # continue's response arrives (an editor's session just ends then).
        dap.send("continue", threadId=stopped["threadId"])
        return {
            "reason": stopped["reason"],
            "frame": frame,
            "factor": local.get("factor"),
            "paused": paused,
        }
    finally:
        dap.close()


async def test_debug_step_notifies_the_address_then_ends_like_a_spin(
    client: LanguageClient, root: Path
) -> None:
    doc = Doc(client, root / "flow.py", FLOW.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    warm = await command(client, "spin", {"uri": doc.uri, "step": "train"})
    assert warm["ok"] is True, warm["message"]
    worker = worker_pid(root, doc.path)
    line = doc.line_of("self.y = self.x * factor") + 1  # DAP lines are 1-based

    started = time.perf_counter()
    answer = asyncio.ensure_future(command(client, "debugStep", {"uri": doc.uri, "step": "train"}))
    await wait_until(client, "flowspin/debugListening", lambda: bool(_seen["listening"]))
    note = _seen["listening"][-1]
    assert (note.uri, note.step, note.host) == (doc.uri, "train", "127.0.0.1") and note.port > 0
    assert not answer.done()  # the step waits for the debugger

    seen = await asyncio.to_thread(debug_session, note.host, note.port, doc.path, line)
    print(f"debugStep -> paused at the breakpoint: {(seen['paused'] - started) * 1e3:.0f} ms")
    assert seen["reason"] == "breakpoint"
    assert Path(seen["frame"]["source"]["path"]).resolve() == doc.path.resolve()
    assert seen["frame"]["line"] == line and seen["factor"] == "4"

    result = await asyncio.wait_for(answer, TIMEOUT)
    assert result["ok"] is True, result["message"]
    assert result["result"]["artifacts"]["y"]["repr"] == "12"
    assert result["result"]["debug"]["port"] == note.port
    assert _seen["results"][-1].step == "train" and _seen["results"][-1].status == "ok"
    streamed = "".join(p.text for p in _seen["logs"] if p.stream == "stderr")
    assert f"flowspin-debug: listening on 127.0.0.1:{note.port}" in streamed

    plain = await command(client, "spin", {"uri": doc.uri, "step": "train"})
    assert plain["ok"] is True and plain["result"]["debug"] == {}
    assert plain["result"]["artifacts"]["y"]["repr"] == "12"
    assert worker_pid(root, doc.path) == worker  # the same warm worker
    assert len(_seen["listening"]) == 1  # a plain spin announces nothing


async def test_no_debugger_in_time_is_a_debug_timeout(client: LanguageClient, root: Path) -> None:
    doc_uri = (root / "flow.py").as_uri()
    before = len(_seen["listening"])
    answer = await command(
        client, "debugStep", {"uri": doc_uri, "step": "train", "debug_timeout": 1}
    )
    assert answer["ok"] is False and answer["result"]["error"]["type"] == "DebugTimeout"
    assert len(_seen["listening"]) == before + 1
    assert "DebugTimeout" in answer["message"]


async def test_stopping_the_debugger_lets_the_step_finish(
    client: LanguageClient, root: Path
) -> None:
    """VS Code's Stop on an attach session is a `disconnect` (the debuggee is not terminated):
    the step runs on to its end and the spin's answer is the usual one."""
    flow = root / "flow.py"
    text = flow.read_text()
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "self.y = self.x" in ln)
    before = len(_seen["listening"])
    answer = asyncio.ensure_future(
        command(client, "debugStep", {"uri": flow.as_uri(), "step": "train"})
    )
    await wait_until(client, "flowspin/debugListening", lambda: len(_seen["listening"]) > before)
    note = _seen["listening"][-1]

    def stop_while_paused() -> None:
        dap = DapClient(note.host, note.port)
        try:
            dap.request("initialize", adapterID="flowspin", pathFormat="path")
            attach = dap.send("attach", justMyCode=False)
            dap.event("initialized")
            dap.request("setBreakpoints", source={"path": str(flow)}, breakpoints=[{"line": line}])
            dap.request("configurationDone")
            dap.response(attach)
            dap.event("stopped")
            dap.send("disconnect", restart=False)
        finally:
            dap.close()

    await asyncio.to_thread(stop_while_paused)
    result = await asyncio.wait_for(answer, TIMEOUT)
    assert result["ok"] is True, result["message"]
    assert result["result"]["artifacts"]["y"]["repr"] == "12"


FAILING = """
from metaflow import FlowSpec, step


class PostMortemFlow(FlowSpec):
    @step
    def start(self):
        self.items = [5, 2, 0]
        self.next(self.train, foreach="items")

    @step
    def train(self):
        scale = 10
        self.out = scale / self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PostMortemFlow()
"""
RUN_TIMEOUT = 240.0  # an upper bound for a hung Metaflow run, not a wait


def post_mortem_session(host: str, port: int) -> dict[str, Any]:
    """What VS Code does for "Debug this step": attach with "uncaught" exception breakpoints
    (the extension sets them for a post-mortem session), stop where the step raised, read
    its locals and `self.input`, continue. Blocking (run it off the event loop)."""
    dap = DapClient(host, port)
    try:
        dap.request("initialize", adapterID="flowspin", clientID="vscode", pathFormat="path")
        attach = dap.send("attach", justMyCode=False)
        dap.event("initialized")
        dap.request("setExceptionBreakpoints", filters=["uncaught"])
        dap.request("configurationDone")
        dap.response(attach)
        stopped = dap.event("stopped")
        frame = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"][0]
        scopes = dap.request("scopes", frameId=frame["id"])["scopes"]
        local = {
            v["name"]: v["value"]
            for v in dap.request("variables", variablesReference=scopes[0]["variablesReference"])[
                "variables"
            ]
        }
        value = dap.request("evaluate", expression="self.input", frameId=frame["id"])
        dap.send("continue", threadId=stopped["threadId"])
        return {"reason": stopped["reason"], "frame": frame, "local": local, "input": value}
    finally:
        dap.close()


def read_code_actions_by_the_spec(client: LanguageClient) -> None:
    """lsprotocol 2025.0's client reads any code action that carries a command as a bare
    Command (its hook looks for the key, not its type); the spec's rule instead: a Command's
    `command` is a string, a CodeAction's an object."""
    conv = client.protocol._converter
    conv.register_structure_hook(
        Union[types.Command, types.CodeAction],  # noqa: UP007 (the key lsprotocol registers)
        lambda obj, _: conv.structure(
            obj, types.Command if isinstance(obj.get("command"), str) else types.CodeAction
        ),
    )


async def test_debug_this_step_on_a_failed_run_task_and_a_failed_spin(
    client: LanguageClient, root: Path
) -> None:
    """A foreach whose third split divides by zero: the run's failed task and a failed spin
    of that split each offer "Debug this step" after their spin fix; the run task's fix names
    the very task (Flow/run/step/task), the spin's its split, both with `post_mortem`. Run as
    the extension runs it, the task's fix stops at the raising line with its locals."""
    doc = Doc(client, root / "failing.py", FAILING.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    ran = await asyncio.wait_for(command(client, "run", {"uri": doc.uri}), RUN_TIMEOUT)
    assert ran["ok"] is False and ran["status"] == "failed", ran["message"]
    line = doc.line_of("self.out = scale / self.input")
    found = await doc.wait_diagnostics(lambda d: any(x.code == "run-error" for x in d))
    run_diag = next(d for d in found if d.code == "run-error")
    assert run_diag.range.start.line == line
    task_id = run_diag.message.rsplit("task train/", 1)[1].rstrip(")")

    spun = await command(client, "spin", {"uri": doc.uri, "step": "train", "split": 2})
    assert spun["result"]["error"]["type"] == "ZeroDivisionError", spun["message"]
    found = await doc.wait_diagnostics(lambda d: any(x.code == "spin-error" for x in d))
    spin_diag = next(d for d in found if d.code == "spin-error")

    read_code_actions_by_the_spec(client)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc.ident(),
            range=run_diag.range,
            context=types.CodeActionContext(diagnostics=[run_diag, spin_diag]),
        )
    )
    fixes = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.command]
    assert [(a.title, a.command.command) for a in fixes] == [  # type: ignore[union-attr]
        ("Spin this step ('train')", "flowspin.spin"),
        ("Debug this step ('train')", "flowspin.debugStep"),
        ("Spin 'train' again", "flowspin.spin"),
        ("Debug this step ('train')", "flowspin.debugStep"),
    ]
    run_fix = fixes[1].command.arguments[0]  # type: ignore[union-attr,index]
    spin_fix = fixes[3].command.arguments[0]  # type: ignore[union-attr,index]
    task = f"PostMortemFlow/{ran['run_id']}/train/{task_id}"
    assert run_fix == {"uri": doc.uri, "step": "train", "post_mortem": True, "task": task}
    assert spin_fix == {"uri": doc.uri, "step": "train", "post_mortem": True, "split": 2}

    before = len(_seen["listening"])
    answer = asyncio.ensure_future(command(client, "debugStep", run_fix))
    await wait_until(client, "flowspin/debugListening", lambda: len(_seen["listening"]) > before)
    note = _seen["listening"][-1]
    assert (note.uri, note.step) == (doc.uri, "train")
    seen = await asyncio.to_thread(post_mortem_session, note.host, note.port)
    assert seen["reason"] == "exception"
    assert Path(seen["frame"]["source"]["path"]).resolve() == doc.path.resolve()
    assert seen["frame"]["line"] == line + 1  # DAP lines are 1-based
    assert seen["local"]["scale"] == "10" and seen["input"]["result"] == "0"  # that task's split

    result = await asyncio.wait_for(answer, TIMEOUT)
    assert result["ok"] is False and result["result"]["error"]["type"] == "ZeroDivisionError"
    assert result["result"]["split_index"] == 2
