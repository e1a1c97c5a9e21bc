"""The flow panel's data in a real language-server session over a real Metaflow flow:
`flowspin/flowGraph` (steps, kinds, edges, statuses after a run from the editor and a spin),
`flowspin/flowGraphChanged`, staleness (an edit makes the step and everything downstream
stale, in the graph and the lenses; a spin clears it) and Spin Downstream."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from conftest import write_flow
from lsp_support import Doc, start_session, use_workspace_datastore, wait_until
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

RUN_TIMEOUT = 240.0  # an upper bound for a hung Metaflow run, not a wait

FLOW = """
import os
import time

from metaflow import FlowSpec, step

from helpers import label


class PanelFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.clean)

    @step
    def clean(self):
        if os.path.exists("hold.flag"):
            print("holding", flush=True)
            deadline = time.time() + 600
            while os.path.exists("hold.flag") and time.time() < deadline:
                time.sleep(0.05)  # a test that fails before cancelling still lets it end
        self.cleaned = self.total + 1
        self.next(self.report)

    @step
    def report(self):
        self.text = label(self.cleaned)
        self.next(self.end)

    @step
    def end(self):
        print(self.text)


if __name__ == "__main__":
    PanelFlow()
"""

HELPERS = 'def label(n):\n    return f"total {n}"\n'

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester", "USER": os.environ.get("USER", "tester")},
)
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.metaflow]
_session: dict[str, Any] = {"changed": [], "results": [], "logs": []}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("lspgraph")
    (workdir / ".git").mkdir()
    write_flow(workdir, FLOW)
    (workdir / "helpers.py").write_text(HELPERS)
    return workdir


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    @lsp_client.feature("flowspin/flowGraphChanged")
    def on_changed(ls: Any, params: Any) -> None:
        _session["changed"].append(params.uri)

    @lsp_client.feature("flowspin/spinResult")
    def on_result(ls: Any, params: Any) -> None:
        _session["results"].append(params)

    for method in ("flowspin/runLog", "flowspin/runStatus"):
        lsp_client.feature(method)(lambda ls, params: None)

    @lsp_client.feature("flowspin/log")
    def on_log(ls: Any, params: Any) -> None:
        _session["logs"].append(params.text)

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_refresh(ls: Any, params: Any) -> None:
        return None

    await start_session(lsp_client, root)
    use_workspace_datastore(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def flow(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "flow.py", FLOW.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def graph(client: LanguageClient, doc: Doc) -> dict[str, Any]:
    answer = await client.protocol.send_request_async("flowspin/flowGraph", {"uri": doc.uri})
    return _plain(answer)


def _plain(value: Any) -> Any:
    """pygls hands back JSON objects as namedtuples (a keyword key such as an edge's "from"
    renamed `_0`, its position): plain dicts and lists for the asserts."""
    if hasattr(value, "_asdict"):
        fields = value._asdict()
        if "_0" in fields and "to" in fields:
            fields = {("from" if k == "_0" else k): v for k, v in fields.items()}
        return {k: _plain(v) for k, v in fields.items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def statuses(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s["status"] for s in answer["flows"][0]["steps"]}


async def command(client: LanguageClient, name: str, **argument: Any) -> Any:
    return _plain(
        await asyncio.wait_for(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=f"flowspin.server.{name}", arguments=[argument])
            ),
            RUN_TIMEOUT,
        )
    )


async def test_the_graph_has_every_step_with_its_kind_and_edges(
    client: LanguageClient, flow: Doc
) -> None:
    answer = await graph(client, flow)
    assert answer["uri"] == flow.uri and answer["error"] is None
    (panel,) = answer["flows"]
    assert panel["name"] == "PanelFlow"
    kinds = {s["name"]: s["kind"] for s in panel["steps"]}
    assert kinds == {
        "start": "foreach",
        "square": "linear",
        "join": "join",
        "clean": "linear",
        "report": "linear",
        "end": "end",
    }
    lines = {s["name"]: s["line"] for s in panel["steps"]}
    assert lines["join"] == flow.line_of("def join(") + 1
    assert {(e["from"], e["to"]) for e in panel["edges"]} == {
        ("start", "square"),
        ("square", "join"),
        ("join", "clean"),
        ("clean", "report"),
        ("report", "end"),
    }
    assert all(e["label"] is None and e["back"] is False for e in panel["edges"])
    never = statuses(answer)["clean"]
    assert never == {
        "state": "never",
        "source": None,
        "duration_ms": None,
        "error_line": None,
        "tasks_done": None,
        "tasks_total": None,
        "num_splits": None,
        "reason": None,
    }


async def test_a_run_from_the_editor_gives_every_step_its_status(
    client: LanguageClient, flow: Doc
) -> None:
    answer = await command(client, "run", uri=flow.uri)
    assert answer["ok"], answer
    await wait_until(client, "flowspin/flowGraphChanged", lambda: flow.uri in _session["changed"])
    now = statuses(await graph(client, flow))
    assert {s["state"] for s in now.values()} == {"ok"}
    assert {s["source"] for s in now.values()} == {"run"}
    assert now["start"]["num_splits"] == 3
    assert now["square"]["tasks_done"] == now["square"]["tasks_total"] == 3
    assert now["join"]["duration_ms"] >= 0


async def test_a_spin_is_the_newer_status(client: LanguageClient, flow: Doc) -> None:
    _session["changed"].clear()
    answer = await command(client, "spin", uri=flow.uri, step="clean")
    assert answer["ok"], answer
    assert flow.uri in _session["changed"]  # sent before the command's answer
    now = statuses(await graph(client, flow))
    assert now["clean"]["state"] == "ok" and now["clean"]["source"] == "spin"
    assert now["clean"]["duration_ms"] == answer["result"]["duration_ms"]
    assert now["report"]["source"] == "run"


async def lens_titles(client: LanguageClient, doc: Doc) -> dict[str, str]:
    """The Spin lens title of each step."""
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc.ident())
    )
    titles = {}
    for lens in lenses:
        if lens.command and lens.command.command == "flowspin.spin":
            arg = lens.command.arguments[0]
            titles[arg["step"] if isinstance(arg, dict) else arg.step] = lens.command.title
    return titles


async def lens_steps(client: LanguageClient, doc: Doc, command: str) -> list[str]:
    """The steps that have a lens running `command`, in file order."""
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc.ident())
    )
    steps = []
    for lens in lenses:
        if lens.command and lens.command.command == command:
            arg = lens.command.arguments[0]
            steps.append(arg["step"] if isinstance(arg, dict) else arg.step)
    return steps


def save(doc: Doc, text: str) -> None:
    """Edit the document and save it, as a user does before a spin (spins run the file)."""
    doc.replace(text)
    doc.path.write_text(text)


async def test_an_edit_makes_the_step_and_everything_below_it_stale(
    client: LanguageClient, flow: Doc
) -> None:
    _session["changed"].clear()
    save(flow, flow.text.replace("self.total + 1", "self.total + 2"))
    await wait_until(client, "flowspin/flowGraphChanged", lambda: flow.uri in _session["changed"])
    now = statuses(await graph(client, flow))
    stale = {name: s["reason"] for name, s in now.items() if s["state"] == "stale"}
    assert stale == {
        "clean": "edited",
        "report": "upstream 'clean' changed",
        "end": "upstream 'clean' changed",
    }
    assert now["clean"]["source"] == "spin"  # what it was before it went stale
    titles = await lens_titles(client, flow)
    assert titles["clean"].endswith("stale: edited")
    assert titles["report"] == "▶ Spin  stale: upstream 'clean' changed"
    assert "stale" not in titles["join"]
    # A stale step offers to re-spin the stale chain from it.
    assert await lens_steps(client, flow, "flowspin.spinDownstream") == ["clean", "report", "end"]


async def test_a_spin_on_a_stale_parent_says_so_and_stays_stale(
    client: LanguageClient, flow: Doc
) -> None:
    answer = await command(client, "spin", uri=flow.uri, step="report")
    assert answer["ok"], answer
    notices = answer["result"]["notices"]
    assert any("of 'clean', which is stale (edited)" in n for n in notices), notices
    now = statuses(await graph(client, flow))
    assert now["report"]["state"] == "stale"
    assert now["report"]["reason"] == "upstream 'clean' changed"


async def test_a_spin_clears_the_step_and_spin_downstream_clears_the_rest(
    client: LanguageClient, flow: Doc
) -> None:
    answer = await command(client, "spin", uri=flow.uri, step="clean")
    assert answer["ok"], answer
    now = statuses(await graph(client, flow))
    assert now["clean"]["state"] == "ok"
    assert now["report"]["reason"] == "upstream 'clean' changed"  # spun on the old clean

    answer = await command(client, "spinDownstream", uri=flow.uri, step="clean")
    assert answer["ok"], answer
    assert [r["step"] for r in answer["results"]] == ["clean", "report", "end"]
    report = answer["results"][1]
    assert report["base"]["chained_from"] == [answer["results"][0]["spin_id"]]
    assert report["artifacts"]["text"]["repr"] == repr("total 16")  # 1+4+9, + 2
    now = statuses(await graph(client, flow))
    assert {s["state"] for s in now.values()} == {"ok"}
    assert {now[s]["source"] for s in ("clean", "report", "end")} == {"spin"}
    assert "stale" not in "".join((await lens_titles(client, flow)).values())


async def test_editing_a_helper_module_makes_the_steps_using_it_stale(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    _session["changed"].clear()
    helpers = Doc(client, root / "helpers.py", HELPERS)
    helpers.replace(HELPERS.replace("total", "sum"))  # unsaved: the editor's text counts
    await wait_until(client, "flowspin/flowGraphChanged", lambda: flow.uri in _session["changed"])
    stale = {n: s["reason"] for n, s in statuses(await graph(client, flow)).items() if s["reason"]}
    assert stale == {"report": "edited", "end": "upstream 'report' changed"}
    _session["changed"].clear()
    helpers.replace(HELPERS)
    await wait_until(client, "flowspin/flowGraphChanged", lambda: flow.uri in _session["changed"])
    assert {s["state"] for s in statuses(await graph(client, flow)).values()} == {"ok"}
    helpers.close()


async def test_spin_downstream_stops_at_the_first_failure(
    client: LanguageClient, flow: Doc
) -> None:
    good = flow.text
    save(flow, good.replace("self.cleaned = self.total + 2", "self.cleaned = self.total / 0"))
    answer = await command(client, "spinDownstream", uri=flow.uri, step="join")
    save(flow, good)
    assert not answer["ok"]
    assert [r["step"] for r in answer["results"]] == ["join", "clean"]
    assert answer["results"][-1]["error"]["type"] == "ZeroDivisionError"
    assert "stopped at 'clean'" in answer["message"]
    errors = [d for d in flow.diagnostics() if d.code == "spin-error"]
    assert errors and errors[0].range.start.line == flow.line_of("self.cleaned = self.total")


async def test_cancelling_spin_downstreams_progress_stops_the_chain(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    flag = root / "hold.flag"
    flag.write_text("hold")
    try:
        logs = _session["logs"]
        start = len(logs)
        chain = command(client, "spinDownstream", uri=flow.uri, step="clean")
        running = asyncio.ensure_future(chain)
        await wait_until(client, "flowspin/log", lambda: any("holding" in t for t in logs[start:]))

        def open_progress() -> Any:
            return next(
                (
                    token
                    for token, reports in client.progress_reports.items()
                    if reports
                    and reports[0].title == "Spinning downstream from clean"
                    and reports[-1].kind != "end"
                ),
                None,
            )

        await wait_until(client, types.PROGRESS, lambda: open_progress() is not None)
        client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=open_progress())
        )
        answer = await asyncio.wait_for(running, RUN_TIMEOUT)
    finally:
        flag.unlink()
    assert not answer["ok"]
    assert [r["step"] for r in answer["results"]] == ["clean"]  # report and end never started
    assert answer["results"][0]["status"] == "cancelled"
    assert "cancelled" in answer["message"]


async def test_a_syntax_error_is_the_answers_error(client: LanguageClient, flow: Doc) -> None:
    good = flow.text
    flow.replace(good.replace("def report(self):", "def report(self)"))
    answer = await graph(client, flow)
    assert answer["flows"] == []
    assert "syntax error at line" in answer["error"]
    assert str(flow.line_of("def report(") + 1) in answer["error"]
    flow.replace(good)
    assert (await graph(client, flow))["error"] is None
