"""Realtime cards: a real `python flow.py run` whose step refreshes its card while it runs, and
the language server telling the card viewer about each update as Metaflow writes it.

The folder has no run (and no `.metaflow`) when the viewer first asks, as for a user who opens
the card before the first run. The step then waits for files this test creates, so every
update happens only after the previous one reached the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from cards_support import card_content
from conftest import metaflow_env, write_flow
from lsp_support import TIMEOUT, Doc, start_session, wait_until
from pytest_lsp import ClientServerConfig, LanguageClient

FLOW = """
import time
from pathlib import Path

from metaflow import FlowSpec, step, card, current
from metaflow.cards import Markdown
from metaflow.plugins.cards.card_creator import CardProcessManager

HERE = Path(__file__).resolve().parent


def go(name):
    # The test creates the file once it saw the previous update arrive.
    deadline = time.time() + 120
    while not (HERE / name).exists():
        if time.time() > deadline:
            raise TimeoutError(name)
        time.sleep(0.02)


def settle():
    # Metaflow silently drops a refresh while the card's previous render process still runs
    # (it renders in the background); wait for it so that every update of this test happens.
    for entry in list(CardProcessManager.async_card_processes.values()):
        entry["proc"].wait()


class LiveCardFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train)

    @card(type="blank", id="live", refresh_interval=0)
    @step
    def train(self):
        progress = Markdown("progress 0 of 2")
        current.card.append(progress)
        current.card.refresh()
        settle()
        for epoch in (1, 2):
            go(f"go-{epoch}")
            progress.update(f"progress {epoch} of 2")
            current.card.refresh()
            settle()
        go("go-end")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LiveCardFlow()
"""

# No METAFLOW_DATASTORE_SYSROOT_LOCAL: the server finds the run's `.metaflow` beside the flow.
SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={
        **{k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")},
        "METAFLOW_USER": "tester",
        "USER": os.environ.get("USER", "tester"),
    },
)
CHANGED = "flowspin/cardChanged"
_notes: list[Any] = []
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("livecards")
    (workdir / ".git").mkdir()
    write_flow(workdir, FLOW)
    return workdir


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    @lsp_client.feature(CHANGED)
    def on_changed(ls: Any, params: Any) -> None:
        _notes.append(params)

    await start_session(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def flow(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "flow.py", (root / "flow.py").read_text())
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def card_for(client: LanguageClient, doc: Doc, source: str) -> Any:
    line = doc.line_of("progress.update")
    params = {"uri": doc.uri, "line": line, "source": source}
    return await asyncio.wait_for(
        client.protocol.send_request_async("flowspin/cardFor", params), TIMEOUT
    )


async def next_change(client: LanguageClient, seen: int, wanted: Callable[[Any], bool]) -> Any:
    """The first cardChanged notification after the first `seen` that `wanted` accepts."""
    found: list[Any] = []

    def ready() -> bool:
        found[:] = [n for n in _notes[seen:] if wanted(n)]
        return bool(found)

    await wait_until(client, CHANGED, ready)
    return found[0]


def shows(note: Any, text: str) -> bool:
    """The run card as the viewer shows it: its HTML, or the data update applied to it."""
    if note.kind == "data":
        return text in json.dumps(note.data.data if hasattr(note.data, "data") else note.data)
    return text in card_content(note.path)


async def test_a_running_step_card_reaches_the_viewer_at_each_refresh(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    before = await card_for(client, flow, "run")
    assert before.ok and list(before.cards) == [] and "no run" in before.message

    run = subprocess.Popen(
        [sys.executable, "flow.py", "--no-pylint", "run"],
        cwd=root,
        env=metaflow_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = await next_change(
            client, 0, lambda n: n.source == "run" and n.kind == "html" and shows(n, "progress 0")
        )
        assert (first.flow, first.step, first.live) == ("LiveCardFlow", "train", True)
        assert first.label == f"run {first.run_id}, task {first.task_id}"
        assert first.cards[0].id == "live" and first.cards[0].path == first.path

        # The viewer asked for the run's card now gets the running task's card.
        answer = await card_for(client, flow, "run")
        got = (answer.source, answer.run_id, answer.task_id)
        assert got == ("run", first.run_id, first.task_id)
        assert answer.live is True and answer.cards[0].path == first.path
        token = answer.cards[0].data.reload_token if "data" in answer.cards[0] else None

        for epoch in (1, 2):
            seen = len(_notes)
            (root / f"go-{epoch}").touch()
            update = await next_change(
                client, seen, lambda n, e=epoch: n.kind == "data" and shows(n, f"progress {e}")
            )
            # A data update for the card on screen, which applies it in place: same card file,
            # same reload token as the HTML (the layout did not change).
            assert update.path == first.path and update.live is True
            assert update.data.reload_token.startswith("runtime-")
            assert token in (None, update.data.reload_token)
            token = update.data.reload_token

        seen = len(_notes)
        (root / "go-end").touch()
        final = await next_change(
            client, seen, lambda n: n.kind == "html" and not n.live and shows(n, "progress 2")
        )
        assert final.path == first.path and final.run_id == first.run_id
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0, out
        done = await card_for(client, flow, "auto")
        assert done.source == "run" and done.live is False and done.run_id == first.run_id
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
