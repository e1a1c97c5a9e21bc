"""The editor's side of a spin with a fake engine (`tests/lsp_fake_server.py`, passed to
`create_server(spin_engine=...)`): the result, the lens status, the spin-error diagnostic at
the failing line and its clearing, in a real LSP session, without Metaflow (well under a
second a test)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_support import Doc, source, start_session
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = ClientServerConfig(
    server_command=[sys.executable, str(Path(__file__).parent / "lsp_fake_server.py")]
)

FLOW = source(
    """
    from metaflow import FlowSpec, step


    class FakeFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.divide)

        @step
        def divide(self):
            self.x = 1 / 0
            self.next(self.end)

        @step
        def end(self):
            pass
    """
)


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path: Path):
    (tmp_path / ".git").mkdir()
    await start_session(lsp_client, tmp_path)
    yield
    await lsp_client.shutdown_session()


def spin(client: LanguageClient, doc: Doc, step: str) -> Any:
    return client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.spin", arguments=[{"uri": doc.uri, "step": step}]
        )
    )


@pytest.mark.asyncio
async def test_a_failed_spin_is_a_diagnostic_until_the_step_spins_cleanly(
    client: LanguageClient, tmp_path: Path
) -> None:
    doc = Doc(client, tmp_path / "flow.py", FLOW)
    await doc.wait_diagnostics(lambda d: True)

    failed = await spin(client, doc, "divide")
    assert failed["ok"] is False
    assert failed["result"]["error"]["type"] == "ZeroDivisionError"
    assert failed["message"].startswith("✗ Spin of 'divide' in FakeFlow failed")
    shown = await doc.wait_diagnostics(lambda d: any(x.code == "spin-error" for x in d))
    error = next(d for d in shown if d.code == "spin-error")
    assert error.range.start.line == doc.line_of("1 / 0")
    assert "ZeroDivisionError" in error.message

    doc.replace(FLOW.replace("1 / 0", "1 / 1"))
    (tmp_path / "flow.py").write_text(doc.text)  # saved: spins run the saved file
    fixed = await spin(client, doc, "divide")
    assert fixed["ok"] is True and fixed["result"]["artifacts"]["x"]["repr"] == "1"
    await doc.wait_diagnostics(lambda d: not any(x.code == "spin-error" for x in d))

    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc.ident())
    )
    titles = [lens.command.title for lens in lenses if lens.command]
    assert any(t.startswith("▶ Spin") and "✓ 1 ms" in t for t in titles), titles
