"""Helpers for end-to-end language-server tests: start `python -m flowspin lsp` over stdio,
open and edit documents, and wait on the notifications a user would see (never sleep)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "flowspin", "lsp"])
TIMEOUT = 20.0  # an upper bound for a hung server, not a wait

STATUS = "flowspin/status"


async def start_session(
    client: LanguageClient,
    root: Path,
    folders: list[Path] | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[Any, types.InitializeResult]:
    """Initialize the session; returns the `flowspin/status` the server sent when ready and
    the server's initialize result. The client answers `workspace/codeLens/refresh` as VS Code
    does (the server asks for it when lens titles change: spins, runs, staleness), unless the
    test registered its own handler to watch for it. `folders`: the workspace folders (default:
    `root` alone); `options`: the `initializationOptions` (the extension's settings)."""
    if types.WORKSPACE_CODE_LENS_REFRESH not in client.protocol.fm.features:
        client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(lambda ls, params: None)
    status = client.protocol.wait_for_notification_async(STATUS)
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri(),
            workspace_folders=[
                types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)
                for folder in (folders or [root])
            ],
            initialization_options=options,
        )
    )
    return await asyncio.wait_for(status, TIMEOUT), result


def use_workspace_datastore(client: LanguageClient, root: Path) -> None:
    """Point the server's spins and runs at `root`'s own Metaflow datastore and metadata
    (through the `flowspin.run.env` setting, as a user would), never the user's."""
    from conftest import metaflow_env

    env = {k: v for k, v in metaflow_env(root).items() if k.startswith("METAFLOW_")}
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flowspin": {"run": {"env": env}}})
    )


def source(text: str) -> str:
    return textwrap.dedent(text).lstrip()


async def wait_until(client: LanguageClient, method: str, ready: Callable[[], bool]) -> None:
    """Wait for notifications of `method` until `ready()` holds (checked before each wait,
    with the future registered first so no notification slips between check and wait)."""
    while True:
        future = client.protocol.wait_for_notification_async(method)
        if ready():
            return
        await asyncio.wait_for(future, TIMEOUT)


class Doc:
    """An open document in the client: the file on disk plus its editor version."""

    def __init__(self, client: LanguageClient, path: Path, text: str) -> None:
        self.client = client
        self.path = path
        self.uri = path.as_uri()
        self.version = 1
        self.text = text
        path.write_text(text)
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri, language_id="python", version=1, text=text
                )
            )
        )

    def replace(self, text: str) -> None:
        """Replace the whole text, as an editor's full-document change."""
        self.version += 1
        self.text = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def close(self) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri)
            )
        )

    def diagnostics(self) -> list[types.Diagnostic]:
        return list(self.client.diagnostics.get(self.uri, []))

    async def wait_diagnostics(
        self, ready: Callable[[list[types.Diagnostic]], bool]
    ) -> list[types.Diagnostic]:
        await wait_until(
            self.client,
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
            lambda: self.uri in self.client.diagnostics and ready(self.diagnostics()),
        )
        return self.diagnostics()

    def position(self, needle: str, occurrence: int = 0, offset: int = 0) -> types.Position:
        """The 0-based position of the `occurrence`-th `needle` in the text (+ offset chars)."""
        index = -1
        for _ in range(occurrence + 1):
            index = self.text.index(needle, index + 1)
        index += offset
        line = self.text.count("\n", 0, index)
        col = index - (self.text.rfind("\n", 0, index) + 1)
        return types.Position(line=line, character=col)

    def line_of(self, needle: str, occurrence: int = 0) -> int:
        return self.position(needle, occurrence).line

    def ident(self) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=self.uri)


TRAIN_FLOW = source(
    '''
    from metaflow import FlowSpec, Parameter, card, step


    class TrainFlow(FlowSpec):
        """Train one model per learning rate and keep the best."""

        n_rows = Parameter("n_rows", default=100, help="rows of data")

        @step
        def start(self):
            self.data = list(range(self.n_rows))
            self.rates = [0.1, 0.2]
            self.next(self.train, foreach="rates")

        @card(type="blank")
        @step
        def train(self):
            """Fit one model."""
            self.rate = self.input
            self.score = sum(self.data) * self.rate
            self.next(self.join)

        @step
        def join(self, inputs):
            self.best = max(i.score for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            print(self.best)


    if __name__ == "__main__":
        TrainFlow()
    '''
)


def big_flow(steps: int) -> str:
    """A linear flow of `steps` steps (`start`, `step_0001`, ..., `end`): step i reads
    `self.value_{i-1}` and writes `self.value_{i}`, every tenth step has a `@card`. The shape
    of `benchmarks/bench_lsp.py`'s flows, for tests that need a big file."""
    names = ["start"] + [f"step_{i:04d}" for i in range(1, steps - 1)] + ["end"]
    out = [
        "from metaflow import FlowSpec, Parameter, card, step",
        "",
        "",
        f"class Big{steps}Flow(FlowSpec):",
        '    alpha = Parameter("alpha", default=0.5, help="a knob")',
        "",
    ]
    for i, name in enumerate(names):
        out += ["    @card(type='blank')"] if i % 10 == 0 else []
        out += ["    @step", f"    def {name}(self):"]
        if i == 0:
            out.append("        self.value_0 = self.alpha")
        else:
            out.append(f"        self.value_{i} = self.value_{i - 1} + 1")
        if i + 1 < len(names):
            out.append(f"        self.next(self.{names[i + 1]})")
        out.append("")
    out += ['if __name__ == "__main__":', f"    Big{steps}Flow()", ""]
    return "\n".join(out)
