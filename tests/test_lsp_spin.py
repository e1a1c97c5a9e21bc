"""Spins from the editor, in a real language-server session over a folder with a real
Metaflow run: results, live logs, lens status, spin-error diagnostics, cancellation,
preloading, and a shell `flowspin spin` sharing the editor's warm workers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from conftest import metaflow_env, run_metaflow, write_flow
from flowspin import protocol, protocol_check
from lsp_support import TIMEOUT, Doc, start_session, use_workspace_datastore, wait_until
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

FLOW = """
import os
import time

from metaflow import FlowSpec, step


class EditorFlow(FlowSpec):
    @step
    def start(self):
        self.x = 3
        self.zero = 0
        self.next(self.train)

    @step
    def train(self):
        print("training on", self.x)
        self.y = self.x * 2
        self.next(self.wait)

    @step
    def wait(self):
        if os.path.exists("hang.flag"):
            print("hanging", flush=True)
            deadline = time.time() + 600
            while os.path.exists("hang.flag") and time.time() < deadline:
                time.sleep(0.05)  # a test that fails before cancelling still lets it end
        self.waited = True
        self.next(self.end)

    @step
    def end(self):
        print("the end", self.y)


if __name__ == "__main__":
    EditorFlow()
"""

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester", "USER": os.environ.get("USER", "tester")},
)
pytestmark = pytest.mark.asyncio(loop_scope="module")
_session: dict[str, Any] = {"events": [], "results": []}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("lspspin")
    (workdir / ".git").mkdir()  # the workspace root, as in a repository
    run_metaflow(write_flow(workdir, FLOW), "run")
    return workdir


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    events: list[tuple[str, Any]] = _session["events"]

    @lsp_client.feature("flowspin/log")
    def on_log(ls: Any, params: Any) -> None:
        events.append(("log", params))

    @lsp_client.feature("flowspin/spinResult")
    def on_result(ls: Any, params: Any) -> None:
        _session["results"].append(params)

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_refresh(ls: Any, params: Any) -> None:
        events.append(("refresh", None))

    await start_session(lsp_client, root)
    use_workspace_datastore(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def flow(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "flow.py", FLOW.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def spin(client: LanguageClient, doc: Doc, step: str) -> Any:
    _session["events"].append(("request", step))
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.spin", arguments=[{"uri": doc.uri, "step": step}]
        )
    )
    _session["events"].append(("answer", step))
    return answer


async def lens_title(client: LanguageClient, doc: Doc, step: str) -> str:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc.ident())
    )

    def names(lens: types.CodeLens) -> str | None:
        arg = (lens.command.arguments or [None])[0] if lens.command else None
        return arg.get("step") if isinstance(arg, dict) else getattr(arg, "step", None)

    return next(
        lens.command.title
        for lens in lenses
        if lens.command and lens.command.command == "flowspin.spin" and names(lens) == step
    )


def spin_errors(doc: Doc) -> list[types.Diagnostic]:
    return [d for d in doc.diagnostics() if d.code == "spin-error"]


async def test_spin_streams_logs_then_answers_with_artifacts(
    client: LanguageClient, flow: Doc
) -> None:
    events = _session["events"]
    start = len(events)
    answer = await spin(client, flow, "train")
    assert answer["ok"] is True, answer["message"]
    result = answer["result"]
    assert result["status"] == "ok" and result["step"] == "train"
    assert result["artifacts"]["y"]["repr"] == "6" and result["artifacts"]["y"]["changed"]
    assert answer["message"].startswith("✓ Spun 'train' in EditorFlow in ")
    assert "base run " in answer["message"] and "changed: y" in answer["message"]

    mine = events[start:]
    logs = [i for i, (kind, p) in enumerate(mine) if kind == "log" and p.step == "train"]
    assert logs and "training on 3" in "".join(mine[i][1].text for i in logs)
    assert logs[-1] < mine.index(("answer", "train")), "logs arrive before the result"
    assert mine[logs[0]][1].uri == flow.uri and mine[logs[0]][1].stream == "stdout"

    note = _session["results"][-1]
    assert (note.step, note.status, note.spin_id) == ("train", "ok", result["spin_id"])
    # Both are what the wire protocol says (the extension checks them against it too).
    assert protocol_check.check(answer, protocol.CommandResult) == []
    assert protocol_check.check(note._asdict(), protocol.SpinResultNote) == []
    assert await lens_title(client, flow, "train") == f"▶ Spin  ✓ {result['duration_ms']:.0f} ms"

    progress = [r for r in client.progress_reports.values() if r and r[0].title == "Spinning train"]
    assert progress and progress[-1][0].cancellable is True
    assert progress[-1][-1].kind == "end"


async def test_a_failing_spin_is_a_diagnostic_until_fixed(
    client: LanguageClient, flow: Doc
) -> None:
    good = flow.text
    broken = good.replace("self.y = self.x * 2", "self.y = self.x / self.zero")
    flow.path.write_text(broken)  # the spin uses the file as saved
    flow.replace(broken)
    line = flow.line_of("self.y = self.x / self.zero")

    answer = await spin(client, flow, "train")
    assert answer["ok"] is False and answer["result"]["status"] == "error"
    assert "ZeroDivisionError: division by zero" in answer["message"]
    assert f"flow.py:{line + 1}" in answer["message"]
    found = await flow.wait_diagnostics(lambda d: any(x.code == "spin-error" for x in d))
    diag = next(d for d in found if d.code == "spin-error")
    assert diag.range.start.line == line and diag.source == "flowspin"
    assert diag.message == "ZeroDivisionError: division by zero (spin of 'train')"
    assert await lens_title(client, flow, "train") == "▶ Spin  ✗ ZeroDivisionError"
    note = _session["results"][-1]
    assert note.status == "error" and note.error.type == "ZeroDivisionError"

    # An edit re-checks the file: the spin error stays, merged with the lint findings.
    flow.replace(broken + "\n")
    await flow.wait_diagnostics(lambda d: True)
    assert len(spin_errors(flow)) == 1

    flow.path.write_text(good)
    flow.replace(good)
    answer = await spin(client, flow, "train")
    assert answer["ok"] is True
    await flow.wait_diagnostics(lambda d: not any(x.code == "spin-error" for x in d))
    assert (await lens_title(client, flow, "train")).startswith("▶ Spin  ✓ ")


async def _cancel_hanging_spin(client: LanguageClient, flow: Doc, root: Path, how: str) -> None:
    flag = root / "hang.flag"
    flag.write_text("hang")
    try:
        events = _session["events"]
        start = len(events)
        running = asyncio.ensure_future(spin(client, flow, "wait"))
        await wait_until(
            client,
            "flowspin/log",
            lambda: any(k == "log" and "hanging" in p.text for k, p in events[start:]),
        )
        if how == "command":
            cancelled = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="flowspin.server.cancel", arguments=[{"uri": flow.uri}]
                )
            )
            assert cancelled["ok"] is True and "Cancelling the spin" in cancelled["message"]
        else:
            # The spin does not wait for the client to create its progress, so the step's
            # first output can arrive before the progress begins.
            def open_progress() -> Any:
                return next(
                    (
                        t
                        for t, r in client.progress_reports.items()
                        if r and r[0].title == "Spinning wait" and r[-1].kind != "end"
                    ),
                    None,
                )

            await wait_until(client, types.PROGRESS, lambda: open_progress() is not None)
            token = open_progress()
            client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        answer = await asyncio.wait_for(running, TIMEOUT)
    finally:
        flag.unlink()
    assert answer["ok"] is False and answer["result"]["status"] == "cancelled"
    assert "cancelled" in answer["message"]
    assert await lens_title(client, flow, "wait") == "▶ Spin  ■ cancelled"
    again = await spin(client, flow, "wait")
    assert again["ok"] is True and again["result"]["artifacts"]["waited"]["repr"] == "True"


async def test_cancel_command_stops_a_hanging_spin(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    await _cancel_hanging_spin(client, flow, root, "command")


async def test_cancelling_the_progress_stops_a_hanging_spin(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    await _cancel_hanging_spin(client, flow, root, "progress")


async def test_shell_spin_uses_the_editors_warm_worker(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    await wait_until(
        client,
        types.WINDOW_LOG_MESSAGE,
        lambda: any("serving warm spins" in m.message for m in client.log_messages),
    )

    def shell(*args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "flowspin", *args],
            cwd=root,
            env=metaflow_env(root),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return json.loads(proc.stdout)

    before = shell("daemon", "status", "--json")
    assert before["pid"] == client._server.pid  # the language server answers the socket
    worker = before["workers"][str(flow.path.resolve())]["pid"]
    result = shell("spin", "flow.py", "end", "--json")
    assert result["status"] == "ok" and "the end 6" in result["stdout"]
    after = shell("daemon", "status", "--json")
    assert after["workers"][str(flow.path.resolve())]["pid"] == worker
    assert not (root / ".flowspin" / "daemon.pid").exists()  # no detached daemon started


async def test_cursor_preloads_the_step_then_the_spin_is_warm(
    client: LanguageClient, flow: Doc
) -> None:
    restart = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.restartWorker", arguments=[{"uri": flow.uri}]
        )
    )
    assert restart["ok"] is True and "Restarted the spin worker" in restart["message"]
    client.protocol.notify("flowspin/cursor", {"uri": flow.uri, "line": flow.line_of("the end")})
    await wait_until(
        client,
        types.WINDOW_LOG_MESSAGE,
        lambda: any("preloaded 'end'" in m.message for m in client.log_messages),
    )
    answer = await spin(client, flow, "end")
    assert answer["ok"] is True
    assert "the end 6" in answer["result"]["stdout"]


async def test_compare_with_base_run_shows_what_the_spin_changed(
    client: LanguageClient, flow: Doc
) -> None:
    """`flowspin.server.diff` (the editor's "Compare with Base Run"): the spin's `y` against the
    run's (the edit doubles it), in the JSON contract and as the lines the editor opens."""
    good = flow.text
    edited = good.replace("self.y = self.x * 2", "self.y = self.x * 4")
    flow.replace(edited)
    flow.path.write_text(edited)
    try:
        assert (await spin(client, flow, "train"))["ok"] is True
        answer = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="flowspin.server.diff", arguments=[{"uri": flow.uri, "step": "train"}]
            )
        )
    finally:
        flow.replace(good)
        flow.path.write_text(good)
    assert answer["ok"] is True, answer["message"]
    y = answer["diff"]["artifacts"]["y"]
    assert y["change"] == "changed", y
    assert "~ y" in answer["text"] and "+6" in answer["text"]
