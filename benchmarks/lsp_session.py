"""One real language-server session for the benchmarks that drive the editor's path
(bench_editor_spin, bench_artifacts, bench_flow_update): started over stdio as the extension
starts it, initialized with VS Code's capabilities, the flow file opened."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

# Notifications and server requests a benchmark does not look at (answered, never recorded).
QUIET = (
    "flowspin/status",
    "flowspin/log",
    "flowspin/spinResult",
    "flowspin/flowGraphChanged",
    types.WORKSPACE_CODE_LENS_REFRESH,
)


async def open_session(
    work: Path,
    flow: Path,
    env: dict[str, str] | None = None,
    watch: tuple[str, ...] = (),
    client: Any = None,
) -> tuple[Any, str]:
    """(client, uri of `flow`), the flow opened in a fresh server rooted at `work`. A method
    in `watch` is the caller's: it registered its handler on `client` before this call."""
    client = client if client is not None else make_test_lsp_client()
    for method in QUIET:
        if method not in watch:
            client.feature(method)(lambda *_: None)
    await client.start_io(sys.executable, "-m", "flowspin", "lsp", env=env, cwd=str(work))
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), root_uri=work.as_uri()
        )
    )
    uri = flow.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=flow.read_text()
            )
        )
    )
    return client, uri
