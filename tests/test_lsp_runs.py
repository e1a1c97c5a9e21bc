"""Runs from the editor, in a real language-server session driving real Metaflow runs: the
Parameter prompt's data, progress and per-step lens status of a foreach run, a failed task as
a diagnostic at its line with a "Spin this step" quick fix, cancel mid-run then a resume that
completes, and the spin worker taking each new run as its base unless one is pinned."""

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
from conftest import metaflow_env, write_flow
from lsp_support import TIMEOUT, Doc, start_session, use_workspace_datastore, wait_until
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from runs_support import RUNS_FLOW as FLOW

RUN_TIMEOUT = 240.0  # an upper bound for a hung Metaflow run, not a wait

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester", "USER": os.environ.get("USER", "tester")},
)
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.metaflow]
_session: dict[str, Any] = {"logs": [], "status": [], "runs": {}}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("lspruns")
    (workdir / ".git").mkdir()
    write_flow(workdir, FLOW)
    return workdir


def _command_or_action(obj: Any, _: type) -> types.Command | types.CodeAction:
    from lsprotocol.converters import get_converter

    kind = types.Command if isinstance(obj.get("command"), str) else types.CodeAction
    return get_converter().structure(obj, kind)


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    @lsp_client.feature("flowspin/runLog")
    def on_log(ls: Any, params: Any) -> None:
        _session["logs"].append(params.text)

    @lsp_client.feature("flowspin/runStatus")
    def on_status(ls: Any, params: Any) -> None:
        _session["status"].append(params)

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_refresh(ls: Any, params: Any) -> None:
        return None

    # lsprotocol reads any code action that has a command as a bare Command (its hook only
    # checks that the key exists); VS Code does not, so the test client reads them as VS Code.
    lsp_client.protocol._converter.register_structure_hook(
        types.Command | types.CodeAction, _command_or_action
    )
    await start_session(lsp_client, root)
    use_workspace_datastore(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def flow(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "flow.py", FLOW.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def command(client: LanguageClient, name: str, **argument: Any) -> Any:
    return await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=f"flowspin.server.{name}", arguments=[argument])
        ),
        RUN_TIMEOUT,
    )


async def spin_base(client: LanguageClient, doc: Doc, step: str) -> tuple[str, Any]:
    answer = await command(client, "spin", uri=doc.uri, step=step)
    return answer["result"]["base"]["run_id"], answer


async def run_lenses(client: LanguageClient, doc: Doc) -> dict[int, str]:
    """Run-status lens titles by line."""
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc.ident())
    )
    return {
        lens.range.start.line: lens.command.title
        for lens in lenses
        if lens.command and lens.command.command == "flowspin.showRunOutput"
    }


def lens_of(lenses: dict[int, str], doc: Doc, step: str) -> str:
    line = doc.line_of(f"def {step}(") - 1  # the lens sits on the @step line
    return lenses[line]


def run_errors(doc: Doc) -> list[types.Diagnostic]:
    return [d for d in doc.diagnostics() if d.code == "run-error"]


async def test_flow_info_gives_the_run_prompt_its_parameters(
    client: LanguageClient, flow: Doc
) -> None:
    info = await client.protocol.send_request_async(
        "flowspin/flowInfo", {"uri": flow.uri, "line": flow.line_of("self.ratio =")}
    )
    assert info.flow == "RunsFlow" and info.step == "divide"
    assert list(info.steps) == ["start", "square", "join", "divide", "end"]
    width, divisor = info.parameters
    assert (width.name, width.default, width.help, width.type) == (
        "width", "2", "how many splits", "int"
    )
    assert (divisor.name, divisor.default) == ("divisor", "1")

    refused = await command(client, "run", uri=flow.uri, params={"widht": "3"})
    assert refused["ok"] is False and "no Parameter 'widht'" in refused["message"]
    assert "divisor, width" in refused["message"]
    runs = await client.protocol.send_request_async("flowspin/listRuns", {"uri": flow.uri})
    assert runs.ok is True and list(runs.runs) == []  # nothing was started
    assert "No runs of RunsFlow yet" in runs.message


async def test_a_run_streams_logs_progress_and_step_status(
    client: LanguageClient, flow: Doc
) -> None:
    logs_before, status_before = len(_session["logs"]), len(_session["status"])
    answer = await command(client, "run", uri=flow.uri, params={"width": "3", "divisor": ""})
    assert answer["ok"] is True, answer["message"]
    run_id = answer["run_id"]
    _session["runs"]["good"] = run_id
    assert answer["message"].startswith(f"Run RunsFlow/{run_id} succeeded in ")
    assert answer["steps"]["square"]["tasks"] == 3 and answer["steps"]["end"]["status"] == "done"

    logs = _session["logs"][logs_before:]
    assert any(line.startswith("[square/") and "squaring 2" in line for line in logs)
    assert any("square/" in line and "done in" in line for line in logs)
    assert any(line.startswith(f"Run RunsFlow/{run_id} succeeded") for line in logs)
    states = [s.state for s in _session["status"][status_before:]]
    assert states[0] == "running" and states[-1] == "ok"
    assert any("steps done" in s.text for s in _session["status"][status_before:])

    lenses = await run_lenses(client, flow)
    assert lens_of(lenses, flow, "start").startswith(f"✓ run {run_id}: done in ")
    assert lens_of(lenses, flow, "square").endswith("(3 tasks)")
    progress = [
        r for r in client.progress_reports.values() if r and r[0].title == "Running RunsFlow"
    ]
    assert progress and progress[-1][0].cancellable is True
    assert any(getattr(r, "message", "") and "steps done" in r.message for r in progress[-1])
    assert progress[-1][-1].kind == "end"

    listed = await client.protocol.send_request_async("flowspin/listRuns", {"uri": flow.uri})
    assert [r.run_id for r in listed.runs] == [run_id]
    assert listed.runs[0].status == "ok" and listed.runs[0].parameters.width == "3"


async def test_a_failed_task_shows_at_its_line_with_a_spin_fix(
    client: LanguageClient, flow: Doc
) -> None:
    answer = await command(client, "run", uri=flow.uri, params={"divisor": "0"})
    assert answer["ok"] is False and answer["status"] == "failed"
    run_id = answer["run_id"]
    _session["runs"]["failed"] = run_id
    assert "Fix it, then:" in answer["message"] and "'divide'" in answer["message"]

    line = flow.line_of("self.ratio = self.total / self.divisor")
    found = await flow.wait_diagnostics(lambda d: any(x.code == "run-error" for x in d))
    diag = next(d for d in found if d.code == "run-error")
    assert diag.range.start.line == line and diag.severity == types.DiagnosticSeverity.Error
    assert diag.message.startswith("ZeroDivisionError: division by zero")
    assert f"run {run_id}, task divide/" in diag.message

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=flow.ident(),
            range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag]),
        )
    )
    fix = next(a for a in actions or [] if isinstance(a, types.CodeAction))
    assert fix.title == "Spin this step ('divide')" and fix.command is not None
    assert fix.command.command == "flowspin.spin"
    assert fix.command.arguments[0]["step"] == "divide"

    lenses = await run_lenses(client, flow)
    assert lens_of(lenses, flow, "divide") == f"✗ run {run_id}: failed"
    assert lens_of(lenses, flow, "end") == f"○ run {run_id}: not run"
    assert lens_of(lenses, flow, "square").startswith(f"✓ run {run_id}: done in ")


async def test_spins_take_each_new_run_as_base_unless_one_is_pinned(
    client: LanguageClient, flow: Doc
) -> None:
    good, failed = _session["runs"]["good"], _session["runs"]["failed"]
    # The failed run finished the parents of `divide`: it is the newest base, so the spin
    # reproduces the failure at once, and the run error stays until the step spins cleanly.
    base, answer = await spin_base(client, flow, "divide")
    assert base == failed and answer["result"]["error"]["type"] == "ZeroDivisionError"
    assert run_errors(flow)

    pinned = await command(client, "selectBaseRun", uri=flow.uri, run_id=good)
    assert pinned["ok"] is True and f"run {good}" in pinned["message"]
    listed = await client.protocol.send_request_async("flowspin/listRuns", {"uri": flow.uri})
    assert [r.run_id for r in listed.runs] == [failed, good] and listed.pinned == good
    base, answer = await spin_base(client, flow, "divide")
    assert base == good and answer["result"]["artifacts"]["ratio"]["repr"] == "5.0"
    # A clean spin of the step clears the failed run's diagnostic.
    await flow.wait_diagnostics(lambda d: not any(x.code == "run-error" for x in d))

    unpinned = await command(client, "selectBaseRun", uri=flow.uri, run_id=None)
    assert unpinned["ok"] is True and "latest run again" in unpinned["message"]
    base, _ = await spin_base(client, flow, "divide")
    assert base == failed


async def test_cancel_mid_run_then_a_resume_completes(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    # After a run, the step under the cursor is preloaded against the new base.
    client.protocol.notify(
        "flowspin/cursor", {"uri": flow.uri, "line": flow.line_of('print("ratio"')}
    )
    hold = root / "hold.flag"
    hold.write_text("hold")
    logs_before = len(_session["logs"])
    try:
        running = asyncio.ensure_future(command(client, "run", uri=flow.uri))
        await wait_until(
            client,
            "flowspin/runLog",
            lambda: any("holding" in line for line in _session["logs"][logs_before:]),
        )
        second = await command(client, "run", uri=flow.uri)
        assert second["ok"] is False and "already in progress" in second["message"]
        lenses = await run_lenses(client, flow)
        assert lens_of(lenses, flow, "divide").startswith("● run ")
        assert lens_of(lenses, flow, "divide").endswith(": running")
        assert lens_of(lenses, flow, "end").endswith(": pending")

        cancel = await command(client, "cancel", uri=flow.uri)
        assert cancel["ok"] is True and "Cancelling the run" in cancel["message"]
        answer = await asyncio.wait_for(running, RUN_TIMEOUT)
    finally:
        hold.unlink(missing_ok=True)
    assert answer["status"] == "cancelled" and answer["ok"] is False
    cancelled_run = answer["run_id"]
    assert "Continue it with" in answer["message"]
    assert not run_errors(flow)  # the interrupted task is not a bug to show at a line
    lenses = await run_lenses(client, flow)
    assert lens_of(lenses, flow, "divide").startswith(f"■ run {cancelled_run}")

    nothing = await command(client, "cancel", uri=flow.uri)
    assert nothing["message"].startswith("Nothing to cancel")
    # The cancelled run finished the parents of `divide`: spins use it, though its own
    # `divide` task was cut short before it saved anything.
    base, spun = await spin_base(client, flow, "divide")
    assert base == cancelled_run and spun["result"]["status"] == "ok", spun["message"]

    resumed = await command(
        client, "resume", uri=flow.uri, step="divide", origin_run_id=cancelled_run
    )
    assert resumed["ok"] is True, resumed["message"]
    assert resumed["steps"]["end"]["status"] == "done"
    lenses = await run_lenses(client, flow)
    assert lens_of(lenses, flow, "start").startswith(f"✓ run {resumed['run_id']}: done in ")
    assert lens_of(lenses, flow, "end").startswith(f"✓ run {resumed['run_id']}: done in ")

    # The worker moved to the resumed run and warmed the cursor's step against it.
    warmed = f"preloaded 'end' of flow.py (base run {resumed['run_id']})"
    await wait_until(
        client,
        types.WINDOW_LOG_MESSAGE,
        lambda: any(warmed in m.message for m in client.log_messages),
    )
    base, answer = await spin_base(client, flow, "end")
    assert base == resumed["run_id"] and "ratio 1.0" in answer["result"]["stdout"]


def _launch_held_run(root: Path) -> tuple[subprocess.Popen[str], str]:
    """`flowspin run flow.py --json` in a terminal, until `divide` holds; its run id."""
    launcher = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "run", "flow.py", "--json"],
        cwd=root, env=metaflow_env(root), stdout=subprocess.PIPE, text=True,
    )
    assert launcher.stdout is not None
    run_id = ""
    for line in launcher.stdout:
        event = json.loads(line)
        run_id = event.get("run_id") or run_id
        if event["event"] == "log" and event["line"] == "holding":
            return launcher, run_id
        assert event["event"] != "run_finished", event
    raise AssertionError("the run ended before `divide` held")


async def test_cancel_run_stops_a_run_whose_launcher_is_gone(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    """A run started in a terminal whose `flowspin run` was then killed: the editor's run
    list says it is running, and Cancel Run… stops it (issue 20.8)."""
    hold = root / "hold.flag"
    hold.write_text("hold")
    try:
        launcher, run_id = await asyncio.to_thread(_launch_held_run, root)
        launcher.kill()
        await asyncio.to_thread(launcher.wait)
        assert launcher.stdout is not None
        launcher.stdout.close()

        listed = await client.protocol.send_request_async("flowspin/listRuns", {"uri": flow.uri})
        run = next(r for r in listed.runs if r.run_id == run_id)
        assert run.status == "running" and run.launch.launcher_alive is False

        cancel = await command(client, "cancelRun", uri=flow.uri, run_id=run_id)
        assert cancel["ok"] is True, cancel["message"]
        assert cancel["message"].startswith(f"Cancelled run {run_id} of RunsFlow (SIGINT)")
    finally:
        hold.unlink(missing_ok=True)
    listed = await client.protocol.send_request_async("flowspin/listRuns", {"uri": flow.uri})
    assert next(r for r in listed.runs if r.run_id == run_id).status == "cancelled"
    again = await command(client, "cancelRun", uri=flow.uri, run_id=run_id)
    assert again["ok"] is False
    assert again["message"] == f"Run {run_id} of RunsFlow is not running: it ended (cancelled)."


async def test_a_run_of_an_unsaved_document_says_to_save_it(client: LanguageClient) -> None:
    uri = "untitled:Untitled-1"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=FLOW.lstrip()
            )
        )
    )
    answer = await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="flowspin.server.run", arguments=[{"uri": uri}])
        ),
        TIMEOUT,
    )
    assert answer["ok"] is False and answer["message"].startswith("Save the flow to a file")
