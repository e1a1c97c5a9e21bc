"""Diagnostics over a real `flowspin lsp` session: they appear on open, follow edits, clear
when fixed or closed, and a half-typed file never takes the server down."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytest_lsp
from lsp_support import SERVER, TRAIN_FLOW, Doc, start_session
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    await start_session(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


def _broken_def(text: str, step: str) -> str:
    """The flow with the colon of `def <step>(self...)` missing: a syntax error there."""
    return re.sub(rf"(def {step}\(self[^)]*\)):", r"\1", text, count=1)


async def test_open_edit_fix_follows_the_text(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "edits.py", _broken_def(TRAIN_FLOW, "train"))
    found = await doc.wait_diagnostics(lambda d: len(d) > 0)
    assert [(d.code, d.source, d.severity) for d in found] == [
        ("syntax-error", "flowspin", types.DiagnosticSeverity.Error)
    ]
    assert found[0].range.start.line == doc.line_of("def train(self)")

    # Move the mistake: the diagnostic moves with it.
    doc.replace(_broken_def(TRAIN_FLOW, "end"))
    moved = await doc.wait_diagnostics(
        lambda d: len(d) == 1 and d[0].range.start.line == doc.line_of("def end(self)")
    )
    assert moved[0].code == "syntax-error"

    # Fix it: cleared.
    doc.replace(TRAIN_FLOW)
    assert await doc.wait_diagnostics(lambda d: d == []) == []


async def test_dag_rules_follow_edits(client: LanguageClient, root: Path) -> None:
    typo = TRAIN_FLOW.replace("self.next(self.join)", "self.next(self.joinn)")
    doc = Doc(client, root / "dag.py", typo)
    found = await doc.wait_diagnostics(lambda d: len(d) > 0)
    by_rule = {d.code: d for d in found}
    unknown = by_rule["unknown-transition"]
    assert unknown.severity == types.DiagnosticSeverity.Error
    assert unknown.range.start == doc.position("self.joinn")
    assert "Did you mean 'join'?" in unknown.message
    # The steps the typo strands are not reported as orphans of their own: they are named
    # on the typo (its related information), the one thing to fix.
    assert "orphan-step" not in by_rule
    stranded = {r.message for r in unknown.related_information or []}
    assert {"step 'join'", "step 'end'"} <= stranded

    # Fix the transition but misspell an artifact: only a warning on the line that reads it.
    doc.replace(TRAIN_FLOW.replace("print(self.best)", "print(self.bestt)"))
    found = await doc.wait_diagnostics(lambda d: [x.code for x in d] == ["undefined-artifact"])
    assert found[0].severity == types.DiagnosticSeverity.Warning
    assert found[0].range.start == doc.position("self.bestt")

    doc.replace(TRAIN_FLOW)
    assert await doc.wait_diagnostics(lambda d: d == []) == []


async def test_ranges_count_utf16_units_like_the_editor(client: LanguageClient, root: Path) -> None:
    # An emoji is one character in Python but two UTF-16 units in the editor.
    doc = Doc(
        client, root / "emoji.py", TRAIN_FLOW.replace("print(self.best)", 'print("🚀", self.bestt)')
    )
    found = await doc.wait_diagnostics(lambda d: len(d) == 1)
    line = doc.text.splitlines()[doc.line_of("self.bestt")]
    col = line.index("self.bestt")
    assert found[0].range.start.character == col + 1
    assert found[0].range.end.character == col + 1 + len("self.bestt")


async def test_closing_clears_diagnostics(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "closing.py", _broken_def(TRAIN_FLOW, "join"))
    await doc.wait_diagnostics(lambda d: len(d) == 1)
    doc.close()
    assert await doc.wait_diagnostics(lambda d: d == []) == []


async def test_valid_flow_has_no_diagnostics(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "valid.py", TRAIN_FLOW)
    assert await doc.wait_diagnostics(lambda d: True) == []


async def test_burst_of_edits_ends_with_the_latest_text(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "burst.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    for step in ["start", "train", "join", "end"] * 5:
        doc.replace(_broken_def(TRAIN_FLOW, step))
    last = doc.line_of("def end(self)")
    found = await doc.wait_diagnostics(lambda d: len(d) == 1 and d[0].range.start.line == last)
    assert found[0].code == "syntax-error"


async def test_typing_a_transition_never_kills_the_server(
    client: LanguageClient, root: Path
) -> None:
    doc = Doc(client, root / "typing.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    complete = "self.next(self.end)"
    for n in range(len("self.next("), len(complete)):
        # Every prefix of the line as it is typed; most are syntax errors.
        doc.replace(TRAIN_FLOW.replace(complete, complete[:n]))
        symbols = await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc.ident())
        )
        assert symbols and symbols[0].name == "TrainFlow"
    doc.replace(TRAIN_FLOW)
    assert await doc.wait_diagnostics(lambda d: d == []) == []


async def test_python_file_without_a_flow_gets_no_diagnostics(
    client: LanguageClient, root: Path
) -> None:
    plain = Doc(client, root / "plain.py", "def broken(:\n    pass\n")
    flow = Doc(client, root / "after_plain.py", _broken_def(TRAIN_FLOW, "start"))
    await flow.wait_diagnostics(lambda d: len(d) == 1)
    # The server handles documents in order: the plain file was checked (and skipped) first.
    assert client.diagnostics.get(plain.uri, []) == []
