"""Artifact values on hover and in completion (issue 16), in a real language-server session
over a folder with a real Metaflow run: first from the run's tasks (small values read, big ones
type and size only), then from a spin of the step."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from conftest import run_metaflow, write_flow
from lsp_support import TIMEOUT, Doc, start_session, use_workspace_datastore
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

FLOW = """
from helper import Box
from metaflow import FlowSpec, step


class ValueFlow(FlowSpec):
    @step
    def start(self):
        self.box = Box(3)
        self.x = 3
        self.rows = list(range(100))
        self.blob = b"x" * 2_000_000
        self.next(self.train)

    @step
    def train(self):
        self.y = self.x * 2
        self.next(self.end)

    @step
    def end(self):
        print(self.y, len(self.rows), len(self.blob), self.box)


if __name__ == "__main__":
    ValueFlow()
"""

HELPER = """
import sys
from pathlib import Path

with Path(__file__).with_name("imported_by.log").open("a") as log:
    log.write(" ".join(sys.argv) + "\\n")


class Box:
    def __init__(self, n):
        self.n = n
"""

# helper.py lives on the server's PYTHONPATH, so an unpickler that imported classes freely
# would import it in the server (created here: the server's environment is fixed at import).
HELPERS = Path(tempfile.mkdtemp(prefix="flowspin-helper-"))
SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={
        **os.environ,
        "METAFLOW_USER": "tester",
        "USER": os.environ.get("USER", "tester"),
        "PYTHONPATH": str(HELPERS),
    },
)
pytestmark = pytest.mark.asyncio(loop_scope="module")
_session: dict[str, Any] = {}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    workdir = tmp_path_factory.mktemp("lspvalues")
    (workdir / ".git").mkdir()  # the workspace root, as in a repository
    # A module of the user's that logs every process importing it: the server must not be one.
    (HELPERS / "helper.py").write_text(HELPER)
    proc = run_metaflow(write_flow(workdir, FLOW), "run", env={"PYTHONPATH": str(HELPERS)})
    _session["run_id"] = next(
        line.split("[")[1].split("/")[0]
        for line in proc.stderr.splitlines() + proc.stdout.splitlines()
        if "[" in line and "/start/" in line
    )
    yield workdir
    shutil.rmtree(HELPERS, ignore_errors=True)


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(lambda ls, params: None)
    lsp_client.feature("flowspin/log")(lambda ls, params: None)
    lsp_client.feature("flowspin/spinResult")(lambda ls, params: None)
    await start_session(lsp_client, root)
    use_workspace_datastore(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def flow(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "flow.py", FLOW.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    return doc


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1e3


async def hover_text(client: LanguageClient, doc: Doc, needle: str, occurrence: int = 0) -> str:
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=doc.ident(), position=doc.position(needle, occurrence, offset=6)
        )
    )
    assert hover is not None
    return hover.contents.value


async def hover_value(client: LanguageClient, doc: Doc, needle: str, occurrence: int = 0) -> str:
    """The hover once it has a value: a run lookup waits at most half a second per request
    and goes on in the background (Metaflow's first import on a busy machine can take
    longer), so the editor's next hover has it; this asks again, as a user would."""
    started = time.perf_counter()
    while True:
        text = await hover_text(client, doc, needle, occurrence)
        if "**value**" in text:
            return text
        assert time.perf_counter() - started < TIMEOUT, text


async def details_after_self(client: LanguageClient, doc: Doc, step: str) -> dict[str, str]:
    """Completion right after `self.` on an empty line added at the end of `step`'s body."""
    line = doc.line_of(f"self.next(self.{step})") if step != "end" else doc.line_of("print(")
    position = types.Position(line=line, character=len(doc.text.splitlines()[line]))
    before = doc.text
    lines = before.splitlines(True)
    lines.insert(line + 1, "        self.\n")
    doc.replace("".join(lines))
    try:
        found = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=doc.ident(),
                position=types.Position(line=position.line + 1, character=13),
            )
        )
    finally:
        doc.replace(before)
    return {item.label: item.detail or "" for item in found.items}


async def test_hover_shows_the_value_from_the_latest_run(client: LanguageClient, flow: Doc) -> None:
    run_id = _session["run_id"]
    started = time.perf_counter()
    text = await hover_value(client, flow, "self.x * 2")
    print(f"first hover with a value (imports Metaflow, reads the run): {_ms(started):.0f} ms")
    # train's task holds x (inherited from start): the step where the hover is comes first.
    assert f"**value** from run {run_id[:4]}" in text and "of `train`: `int = 3`" in text
    assert "- type `int`" in text

    text = await hover_value(client, flow, "self.rows")
    assert "`list len 100" in text and "- type `list`, length 100" in text
    assert "```\n[0, 1, 2" in text  # a long repr in a block, capped

    text = await hover_value(client, flow, "self.blob", 1)
    assert "type `bytes`" in text and "MB stored" in text
    assert "not read here (over 1.0 MB): type and size only" in text

    # An instance of a workspace class: its type and size, never an import of its module.
    text = await hover_value(client, flow, "self.box", 1)
    assert "type `helper.Box`" in text
    assert "not read here (its class is not one the editor may import)" in text
    importers = (HELPERS / "imported_by.log").read_text().splitlines()
    assert importers and not [line for line in importers if line.endswith(" lsp")], importers

    # Measured once (not asserted): a hover with a value, the run's task already cached.
    started = time.perf_counter()
    for _ in range(10):
        await hover_text(client, flow, "self.x * 2")
    print(f"hover with a run value: {_ms(started) / 10:.1f} ms")


async def test_completion_details_show_run_values(client: LanguageClient, flow: Doc) -> None:
    details = await details_after_self(client, flow, "end")
    assert details["y"].startswith("int = 6 (run ") and details["y"].endswith("of end)")
    assert details["rows"].startswith("list len 100")


async def test_hover_after_a_spin_shows_the_spins_value(client: LanguageClient, flow: Doc) -> None:
    edited = flow.text.replace("self.y = self.x * 2", "self.y = self.x * 7")
    flow.path.write_text(edited)  # the spin runs the file as saved
    flow.replace(edited)
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.spin", arguments=[{"uri": flow.uri, "step": "train"}]
        )
    )
    assert answer["ok"] is True, answer["message"]

    text = await hover_text(client, flow, "self.y")
    assert "**value** from spin " in text and " s ago of `train`: `int = 21`" in text
    assert f"- changed by this spin (against base run {_session['run_id']})" in text
    text = await hover_text(client, flow, "self.x * 7")
    assert "of `train`: `int = 3`" in text and "this spin did not change it" in text

    started = time.perf_counter()
    for _ in range(10):
        await hover_text(client, flow, "self.y")
    print(f"hover with a spin value: {_ms(started) / 10:.1f} ms")

    # end has no spin: y comes from the spin of train, its upstream writer (what a spin of
    # end would read), not from end's older run task.
    text = await hover_text(client, flow, "self.y", 1)
    assert " s ago of `train`: `int = 21`" in text
    details = await details_after_self(client, flow, "end")
    assert details["y"] == "int = 21 (spin of train)"
    # rows: neither end nor its writer (start) was spun, so end's run task has it.
    assert details["rows"].startswith("list len 100, 216 B = [0, 1, 2")
    assert details["rows"].endswith(f"(run {_session['run_id']} of end)")
