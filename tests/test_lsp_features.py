"""Editor features over a real `flowspin lsp` session: code lenses, hover, go to definition,
references, completion, outline, `flowspin/stepAt`, commands and the status notification."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from lsp_support import SERVER, TRAIN_FLOW, Doc, source, start_session
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SWITCH_FLOW = source(
    """
    from metaflow import FlowSpec, step


    class SwitchFlow(FlowSpec):
        @step
        def start(self):
            self.mode = "fast"
            self.next({"fast": self.fast, "slow": self.slow}, condition="mode")

        @step
        def fast(self):
            self.next(self.end)

        @step
        def slow(self):
            self.next(self.end)

        @step
        def end(self):
            pass
    """
)

_session: dict[str, Any] = {}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    # Spins refresh the lenses (their titles carry the last status).
    lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(lambda ls, params: None)
    _session["status"], _session["init"] = await start_session(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def train(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "train_flow.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    return doc


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def switch(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "switch_flow.py", SWITCH_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def test_server_says_it_is_ready(client: LanguageClient) -> None:
    status = _session["status"]
    assert status.state == "ready"
    assert "flowspin" in status.message


async def test_server_tells_its_version_for_the_extensions_handshake(
    client: LanguageClient,
) -> None:
    """The extension compares this with its own version and says so on a mismatch."""
    from flowspin import __version__

    info = _session["init"].server_info
    assert info.name == "flowspin" and info.version == __version__


async def test_code_lenses_above_each_step(client: LanguageClient, train: Doc) -> None:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=train.ident())
    )
    seen = [
        (
            lens.range.start.line,
            lens.command.title,
            lens.command.command,
            list(lens.command.arguments),
        )
        for lens in lenses
    ]
    spin = {"uri": train.uri}
    assert seen == [
        (train.line_of("class "), "◇ Show Flow", "flowspin.showFlow", [spin]),
        (train.line_of("@step"), "▶ Spin", "flowspin.spin", [spin | {"step": "start"}]),
        (train.line_of("@step"), "▷ Debug", "flowspin.debugStep", [spin | {"step": "start"}]),
        (
            train.line_of("@step"),
            "▶ Run",
            "flowspin.run",
            [spin | {"line": train.line_of("def start")}],
        ),
        (train.line_of("@card"), "▶ Spin", "flowspin.spin", [spin | {"step": "train"}]),
        (train.line_of("@card"), "▷ Debug", "flowspin.debugStep", [spin | {"step": "train"}]),
        (train.line_of("@card"), "Card", "flowspin.showCard", [spin | {"step": "train"}]),
        (train.line_of("@step", 2), "▶ Spin", "flowspin.spin", [spin | {"step": "join"}]),
        (train.line_of("@step", 2), "▷ Debug", "flowspin.debugStep", [spin | {"step": "join"}]),
        (train.line_of("@step", 3), "▶ Spin", "flowspin.spin", [spin | {"step": "end"}]),
        (train.line_of("@step", 3), "▷ Debug", "flowspin.debugStep", [spin | {"step": "end"}]),
    ]


async def test_definition_from_next_target(client: LanguageClient, train: Doc) -> None:
    found = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=train.ident(), position=train.position("self.train", offset=6)
        )
    )
    assert [(loc.uri, loc.range.start) for loc in found] == [
        (train.uri, train.position("train(self)"))
    ]


async def test_definition_from_switch_value(client: LanguageClient, switch: Doc) -> None:
    found = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=switch.ident(), position=switch.position("self.slow", offset=7)
        )
    )
    assert [loc.range.start for loc in found] == [switch.position("slow(self)")]


async def test_references_of_a_step(client: LanguageClient, switch: Doc) -> None:
    found = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=switch.ident(),
            position=switch.position("end(self)"),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert sorted(loc.range.start.line for loc in found) == [
        switch.line_of("self.next(self.end)"),
        switch.line_of("self.next(self.end)", 1),
        switch.line_of("def end"),
    ]


async def test_hover_on_a_step_name(client: LanguageClient, train: Doc) -> None:
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=train.ident(), position=train.position("self.train", offset=7)
        )
    )
    text = hover.contents.value
    assert "step `train`" in text
    assert "parents: `start`" in text
    assert "children: `join`" in text
    assert "@card(type='blank')" in text
    assert "Fit one model." in text


async def test_hover_on_an_artifact(client: LanguageClient, train: Doc) -> None:
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=train.ident(), position=train.position("self.data", 1, offset=6)
        )
    )
    assert f"written upstream by `start` (line {train.line_of('self.data =') + 1})" in (
        hover.contents.value
    )


async def test_hover_on_a_foreach_input(client: LanguageClient, train: Doc) -> None:
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=train.ident(), position=train.position("self.input", offset=6)
        )
    )
    assert "the item of `self.rates` (set in `start`) that this foreach task handles" in (
        hover.contents.value
    )


async def test_hover_on_a_parameter(client: LanguageClient, train: Doc) -> None:
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=train.ident(), position=train.position("self.n_rows", offset=6)
        )
    )
    assert "Parameter `n_rows`, default `100`: rows of data" in hover.contents.value


async def test_document_symbols_outline_the_dag(client: LanguageClient, train: Doc) -> None:
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=train.ident())
    )
    assert [(s.name, s.kind) for s in symbols] == [("TrainFlow", types.SymbolKind.Class)]
    assert [(c.name, c.kind, c.detail) for c in symbols[0].children] == [
        ("start", types.SymbolKind.Method, "foreach"),
        ("train", types.SymbolKind.Method, "linear"),
        ("join", types.SymbolKind.Method, "join"),
        ("end", types.SymbolKind.Method, "end"),
    ]


async def _complete(client: LanguageClient, doc: Doc, line: str) -> list[str]:
    """Type `line` in place of `self.next(self.join)` and complete at its end."""
    edited = TRAIN_FLOW.replace("self.next(self.join)", line)
    doc.replace(edited)
    doc.text = edited
    in_train = edited.index(line, edited.index("def train"))
    occurrence = edited.count(line, 0, in_train)
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=doc.ident(),
            position=doc.position(line, occurrence, offset=len(line)),
        )
    )
    return [item.label for item in result.items]


async def test_completion_of_next_targets(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "complete_next.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    assert await _complete(client, doc, "self.next(") == ["self.join", "self.end"]
    assert await _complete(client, doc, "self.next(self.") == ["join", "end"]
    # foreach="..." names an artifact, not a step.
    assert await _complete(client, doc, 'self.next(self.join, foreach="') == [
        "data",
        "rate",
        "rates",
        "score",
    ]


async def test_completion_of_artifacts(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "complete_self.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    # Upstream artifacts, the Parameter, and what this step assigns; never downstream `best`.
    # In a foreach body, `input` and `index` too.
    assert sorted(await _complete(client, doc, "print(self.")) == [
        "data",
        "index",
        "input",
        "n_rows",
        "rate",
        "rates",
        "score",
    ]


async def test_completion_on_new_lines_of_a_half_typed_file(
    client: LanguageClient, root: Path
) -> None:
    doc = Doc(client, root / "complete_new_lines.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    # New lines above shift every step; then `self.` is typed on a new last line of `join`.
    edited = TRAIN_FLOW.replace(
        "self.rates = [0.1, 0.2]", "self.rates = [0.1, 0.2]\n        self.seed = 1\n"
    ).replace("self.next(self.end)", "self.next(self.end)\n        print(self.")
    doc.replace(edited)
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=doc.ident(),
            position=doc.position("print(self.", offset=len("print(self.")),
        )
    )
    labels = {item.label for item in result.items}
    assert {"seed", "score", "best", "n_rows"} <= labels


async def test_step_at_a_line(client: LanguageClient, train: Doc) -> None:
    async def step_at(line: int) -> Any:
        return await client.protocol.send_request_async(
            "flowspin/stepAt", {"uri": train.uri, "line": line}
        )

    inside = await step_at(train.line_of("self.rate = self.input"))
    expected = {
        "flow": "TrainFlow",
        "step": "train",
        "node_type": "linear",
        "line": train.line_of("def train"),
    }
    assert inside._asdict() == expected
    assert (await step_at(train.line_of("@card")))._asdict() == expected
    assert await step_at(train.line_of("n_rows = Parameter")) is None
    on_decorator = await step_at(train.line_of("@step"))
    assert (on_decorator.step, on_decorator.line) == ("start", train.line_of("def start"))


async def _execute(client: LanguageClient, command: str, argument: dict) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[argument])
    )


async def test_spin_without_a_run_says_how_to_make_one(client: LanguageClient, train: Doc) -> None:
    result = await _execute(client, "flowspin.server.spin", {"uri": train.uri, "step": "train"})
    assert result["ok"] is False and result["result"]["status"] == "error"
    assert result["message"].startswith(
        "✗ Spin of 'train' in TrainFlow failed: MissingBaseRun: no run of TrainFlow"
    )
    assert "train_flow.py run` first" in result["message"]
    by_line = await _execute(
        client, "flowspin.server.spin", {"uri": train.uri, "line": train.line_of("self.best")}
    )
    assert "Spin of 'join' in TrainFlow failed" in by_line["message"]


async def test_spin_outside_a_step_explains(client: LanguageClient, train: Doc) -> None:
    line = train.line_of("n_rows = Parameter")
    result = await _execute(client, "flowspin.server.spin", {"uri": train.uri, "line": line})
    assert result["ok"] is False
    assert f"No step at line {line + 1}" in result["message"]
    assert "put the cursor inside a @step method" in result["message"]


async def test_server_lists_its_commands(client: LanguageClient) -> None:
    provider = _session["init"].capabilities.execute_command_provider
    assert set(provider.commands) >= {
        "flowspin.server.spin",
        "flowspin.server.run",
        "flowspin.server.resume",
        "flowspin.server.showCard",
        "flowspin.server.selectBaseRun",
        "flowspin.server.restartWorker",
        "flowspin.server.cancel",
    }


async def test_commands_explain_bad_targets(client: LanguageClient, train: Doc, root: Path) -> None:
    unknown = await _execute(client, "flowspin.server.spin", {"uri": train.uri, "step": "nope"})
    assert unknown == {"ok": False, "message": f"No step named 'nope' in {train.uri}."}
    missing = (root / "missing.py").as_uri()
    gone = await _execute(client, "flowspin.server.run", {"uri": missing})
    assert gone["ok"] is False
    assert gone["message"].startswith("Cannot read the flow file:")
    assert "missing.py" in gone["message"]


async def test_cancel_with_nothing_running(client: LanguageClient, train: Doc) -> None:
    result = await _execute(client, "flowspin.server.cancel", {"uri": train.uri})
    assert result == {"ok": True, "message": "Nothing to cancel: no spin or run is in progress."}


async def test_hover_on_a_switch_step(client: LanguageClient, switch: Doc) -> None:
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=switch.ident(), position=switch.position("start(self)"))
    )
    text = hover.contents.value
    assert "switch (conditional branch)" in text
    assert "children: `fast`, `slow`" in text
    assert "switch on `self.mode`" in text
    on_value = await client.text_document_hover_async(
        types.HoverParams(
            text_document=switch.ident(), position=switch.position("self.fast", offset=6)
        )
    )
    assert "step `fast`" in on_value.contents.value
    assert "parents: `start`" in on_value.contents.value


async def test_two_flows_in_one_file(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "two_flows.py", SWITCH_FLOW + "\n\n" + TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc.ident())
    )
    runs = [lens.command.arguments[0] for lens in lenses if lens.command.title == "▶ Run"]
    assert [r["line"] for r in runs] == [doc.line_of("def start"), doc.line_of("def start", 1)]
    # Metaflow runs the flow the file's __main__ block starts; the other one's lens says so.
    result = await _execute(client, "flowspin.server.run", dict(runs[0]))
    assert result["ok"] is False and result["message"].startswith(
        "two_flows.py runs TrainFlow (the flow its __main__ block starts), not SwitchFlow"
    )
    # A Spin lens names the step; the line (the extension adds the cursor's) picks the flow.
    in_train = {"uri": doc.uri, "step": "start", "line": doc.line_of("self.best =")}
    result = await _execute(client, "flowspin.server.spin", in_train)
    assert "Spin of 'start' in TrainFlow failed: MissingBaseRun" in result["message"]
