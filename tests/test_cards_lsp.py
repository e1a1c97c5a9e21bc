"""Cards through the language server: `flowspin/cardFor`, `flowspin/cardChanged` after a spin,
and the showCard command, in a real LSP session on a folder with a real Metaflow run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from conftest import metaflow_env, run_metaflow, write_flow
from lsp_support import TIMEOUT, Doc, start_session
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

FLOW = """
from metaflow import FlowSpec, step, card, current
from metaflow.cards import Markdown


class LspCardFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.show)

    @card(type="blank")
    @step
    def show(self):
        current.card.append(Markdown("card text from the step"))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LspCardFlow()
"""

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester", "USER": os.environ.get("USER", "tester")},
)
_session: dict[str, Any] = {}
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("lspcards")
    (workdir / ".git").mkdir()  # the workspace root, as in a repository
    run_metaflow(write_flow(workdir, FLOW), "run")
    return workdir


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    _session["status"], _session["init"] = await start_session(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def flow(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "flow.py", (root / "flow.py").read_text())
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def card_for(client: LanguageClient, doc: Doc, line: int, source: str | None = None) -> Any:
    params: dict[str, Any] = {"uri": doc.uri, "line": line}
    if source:
        params["source"] = source
    request = client.protocol.send_request_async("flowspin/cardFor", params)
    return await asyncio.wait_for(request, TIMEOUT)


async def test_card_of_the_run_then_of_a_spin_with_a_change_notification(
    client: LanguageClient, flow: Doc, root: Path
) -> None:
    line = flow.line_of("current.card.append")
    first = await card_for(client, flow, line)
    assert first.ok and first.step == "show" and first.source == "run"
    assert "run " in first.label and ".metaflow" in first.cards[0].path
    assert first.label == f"run {first.run_id}, task {first.task_id}" and first.live is False
    no_spin = await card_for(client, flow, line, "spin")
    assert list(no_spin.cards) == [] and "no spin card" in no_spin.message

    changed = client.protocol.wait_for_notification_async("flowspin/cardChanged")
    spin = subprocess.run(
        [sys.executable, "-m", "flowspin", "spin", "flow.py", "show", "--no-daemon"],
        cwd=root,
        env=metaflow_env(root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert spin.returncode == 0, spin.stdout + spin.stderr
    note = await asyncio.wait_for(changed, TIMEOUT)
    assert (note.flow, note.step) == ("LspCardFlow", "show")
    assert note.path == str(root / ".flowspin" / "cards" / "LspCardFlow" / "show" / "latest.html")
    assert note.cards[0].type == "blank" and note.spin_id

    # what the viewer's header says: "spin N s ago, base run <the run it spun on>"
    assert note.source == "spin" and note.base_run == first.run_id and note.created > 0
    after = await card_for(client, flow, line)
    assert after.source == "spin" and after.label == f"spin {note.spin_id}"
    assert Path(after.cards[0].path).parent == Path(note.path).parent
    assert (after.base_run, after.created) == (note.base_run, note.created)

    # the toggle: the run's card stays reachable after a newer spin
    run = await card_for(client, flow, line, "run")
    assert run.source == "run" and run.run_id == first.run_id and run.asked == "run"
    assert run.cards[0].path == first.cards[0].path


async def test_a_step_without_a_card_says_how_to_add_one(client: LanguageClient, flow: Doc):
    answer = await card_for(client, flow, flow.line_of("self.next(self.show)"))
    assert answer.ok and answer.step == "start" and list(answer.cards) == []
    assert answer.has_card_decorator is False and "@card" in answer.how_to
    command = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.showCard", arguments=[{"uri": flow.uri, "step": "start"}]
        )
    )
    assert command["ok"] is False and "@card" in command["message"]
