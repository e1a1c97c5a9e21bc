"""The language server as a whole, in real `flowspin lsp` sessions over a folder with a real
Metaflow run: its one shutdown path (the spin workers and the card watchers stop with the
`shutdown` request), and the settings of each workspace folder (a multi-root window sends
them per folder; each file is served with its own folder's)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from conftest import metaflow_env, run_metaflow, wait_until, write_flow
from lsp_support import TIMEOUT, Doc, start_session
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

FLOW = """
import os

from metaflow import FlowSpec, card, step


class GreetFlow(FlowSpec):
    @card(type="blank")
    @step
    def start(self):
        self.greeting = os.environ.get("GREETING", "nobody")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GreetFlow()
"""

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester", "USER": os.environ.get("USER", "tester")},
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a run of GreetFlow, and a nested folder `sub` with a copy of the flow
    (a multi-root window may hold a folder and a folder inside it)."""
    workdir = tmp_path_factory.mktemp("lspserver")
    (workdir / ".git").mkdir()  # the workspace root, as in a repository
    run_metaflow(write_flow(workdir, FLOW), "run")
    (workdir / "sub").mkdir()
    write_flow(workdir / "sub", FLOW)
    (workdir / "empty").mkdir()  # a datastore with no run
    return workdir


def flowspin_section(datastore: Path, greeting: str, **more: Any) -> dict[str, Any]:
    """A `flowspin` settings section whose runs and spins use `datastore` (as a user points
    `flowspin.run.env` at it), with GREETING set for the workers."""
    env = {k: v for k, v in metaflow_env(datastore).items() if k.startswith("METAFLOW_")}
    return {"run": {"env": {**env, "GREETING": greeting}}, **more}


def execute(client: LanguageClient, name: str, argument: dict[str, Any]) -> Any:
    return asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=f"flowspin.server.{name}", arguments=[argument])
        ),
        TIMEOUT * 3,  # a first spin starts a worker and loads the run's state
    )


def request(client: LanguageClient, method: str, params: dict[str, Any]) -> Any:
    return asyncio.wait_for(client.protocol.send_request_async(method, params), TIMEOUT * 3)


# --- processes and threads of the server, as the OS sees them --------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = {child for child, p in parents.items() if p == parent}
        todo.extend(children - found)
        found |= children
    return found


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def inotify_handles(pid: int) -> int:
    """The inotify instances the process holds: one per watchdog observer (card watchers)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:
            pass  # closed meanwhile
    return count


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    # The tests end their sessions themselves (the shutdown is what they look at); one that
    # failed before leaves the server up: end it here (pytest-lsp waits for it to exit).
    server = lsp_client._server
    if server is not None and server.returncode is None:
        try:
            await asyncio.wait_for(lsp_client.shutdown_session(), TIMEOUT)
        except Exception:
            server.kill()


@pytest.mark.asyncio
async def test_shutdown_stops_the_spin_workers_and_the_card_watchers(
    client: LanguageClient, root: Path
) -> None:
    await start_session(client, root, options={"settings": flowspin_section(root, "hello")})
    doc = Doc(client, root / "flow.py", (root / "flow.py").read_text())
    await doc.wait_diagnostics(lambda d: True)
    spun = await execute(client, "spin", {"uri": doc.uri, "step": "start"})
    assert spun["ok"] is True, spun["message"]
    assert spun["result"]["artifacts"]["greeting"]["repr"] == "'hello'"
    cards = await request(client, "flowspin/cardFor", {"uri": doc.uri, "step": "start"})
    assert cards.ok is True, cards

    server = client._server
    assert server is not None
    workers = descendants(server.pid)
    assert workers, "the spin started a warm worker process"
    assert inotify_handles(server.pid) >= 1, "cardFor started the card watchers"

    await asyncio.wait_for(client.shutdown_async(None), TIMEOUT)
    # The shutdown request itself stops them: the server process is still up, awaiting exit.
    await asyncio.to_thread(
        wait_until,
        lambda: not any(alive(pid) for pid in workers) and inotify_handles(server.pid) == 0,
        TIMEOUT,
        "the workers' end and the card watchers' (their inotify handles closed)",
    )
    assert alive(server.pid)
    assert any("stopped 2 card watcher(s)" in m.message for m in client.log_messages)
    assert any("language server stopped" in m.message for m in client.log_messages)

    client.exit(None)
    assert await asyncio.wait_for(server.wait(), TIMEOUT) == 0


@pytest.mark.asyncio
async def test_each_file_gets_the_settings_of_its_workspace_folder(
    client: LanguageClient, root: Path
) -> None:
    """Folder `root` reads the datastore with the run; the nested folder `sub` an empty one,
    with another GREETING. Then a configuration change swaps the datastores."""
    sub = root / "sub"
    with_run = flowspin_section(root, "from root", spin={"timeout": 120})
    without = flowspin_section(root / "empty", "from sub")
    options = {
        "settings": {"spin": {"timeout": 0.001}},  # the window's: neither folder uses it
        "folder_settings": [
            {"uri": root.as_uri(), "settings": with_run},
            {"uri": sub.as_uri(), "settings": without},
        ],
        "logLevel": "info",
    }
    await start_session(client, root, folders=[root, sub], options=options)
    top = Doc(client, root / "flow.py", (root / "flow.py").read_text())
    nested = Doc(client, sub / "flow.py", (sub / "flow.py").read_text())
    await top.wait_diagnostics(lambda d: True)
    await nested.wait_diagnostics(lambda d: True)

    top_runs = await request(client, "flowspin/listRuns", {"uri": top.uri})
    nested_runs = await request(client, "flowspin/listRuns", {"uri": nested.uri})
    assert top_runs.ok is True and len(top_runs.runs) == 1, top_runs
    assert nested_runs.ok is True and list(nested_runs.runs) == [], nested_runs

    spun = await execute(client, "spin", {"uri": top.uri, "step": "start"})
    assert spun["ok"] is True, spun["message"]  # not the window's 1 ms timeout
    assert spun["result"]["artifacts"]["greeting"]["repr"] == "'from root'"
    missing = await execute(client, "spin", {"uri": nested.uri, "step": "start"})
    assert missing["ok"] is False and missing["result"]["error"]["type"] == "MissingBaseRun"

    # The configuration as the extension sends it on a change: the window's section and the
    # folders'. Now `sub` reads the run's datastore and `root` the empty one.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={
                "flowspin": {},
                "folder_settings": [
                    {"uri": root.as_uri(), "settings": without},
                    {"uri": sub.as_uri(), "settings": with_run},
                ],
            }
        )
    )
    top_runs = await request(client, "flowspin/listRuns", {"uri": top.uri})
    nested_runs = await request(client, "flowspin/listRuns", {"uri": nested.uri})
    assert list(top_runs.runs) == [] and len(nested_runs.runs) == 1

    # An older client sends the window's section alone: every file uses it.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flowspin": with_run})
    )
    top_runs = await request(client, "flowspin/listRuns", {"uri": top.uri})
    nested_runs = await request(client, "flowspin/listRuns", {"uri": nested.uri})
    assert len(top_runs.runs) == 1 and len(nested_runs.runs) == 1
    await client.shutdown_session()
