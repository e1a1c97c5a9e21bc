"""The Artifacts view's requests (issue 16) in a real language-server session over a folder
with a real Metaflow run and a spin: the listing with its badges, expanding a dict and a
DataFrame, and a page of a DataFrame sorted by a column; values read without importing user
code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from conftest import run_metaflow, write_flow
from lsp_support import Doc, start_session, use_workspace_datastore
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.metaflow, pytest.mark.lsp]

FLOW = """
import numpy as np
import pandas as pd
from metaflow import FlowSpec, step


class Box:
    def __init__(self, n):
        self.n = n


class TableFlow(FlowSpec):
    @step
    def start(self):
        self.d = {"alpha": 1, "beta": [1, 2, 3], "gamma": {"x": "y"}}
        self.kept = "same"
        self.df = pd.DataFrame({"n": [3, 1, 2, 5, 4], "name": list("abcde")})
        self.next(self.train)

    @step
    def train(self):
        self.df = pd.DataFrame({"n": [3, 1, 2, 5, 4], "name": list("abcde")})
        self.arr = np.arange(12).reshape(3, 4)
        self.box = Box(3)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TableFlow()
"""

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester"},
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("lspartifacts")
    (workdir / ".git").mkdir()
    run_metaflow(write_flow(workdir, FLOW), "run")
    return workdir


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
    # The spin sets one artifact the base run's task of train does not have.
    edited = FLOW.lstrip().replace(
        "        self.next(self.end)",
        "        self.fresh = [{'k': 1}]\n        self.next(self.end)",
    )
    doc = Doc(client, root / "flow.py", edited)
    await doc.wait_diagnostics(lambda d: True)
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.spin", arguments=[{"uri": doc.uri, "step": "train"}]
        )
    )
    assert answer["ok"] is True, answer["message"]
    return doc


def _plain(value: Any) -> Any:
    """pygls hands back JSON objects as namedtuples: plain dicts and lists for the asserts."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


async def request(client: LanguageClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return _plain(await client.protocol.send_request_async(method, params))


async def test_listing_has_badges_types_and_shapes(client: LanguageClient, flow: Doc) -> None:
    answer = await request(client, "flowspin/artifacts", {"uri": flow.uri, "step": "train"})
    assert answer["ok"] is True, answer
    assert answer["source"]["kind"] == "spin"
    rows = {a["name"]: a for a in answer["artifacts"]}
    assert rows["fresh"]["badge"] == "new" and rows["fresh"]["len"] == 1
    assert rows["arr"]["badge"] == "changed" and rows["arr"]["shape"] == [3, 4]
    assert rows["df"]["badge"] == "changed" and rows["df"]["shape"] == [5, 2]
    assert rows["df"]["table"] is True and rows["df"]["expandable"] is True
    assert rows["d"]["badge"] == "inherited" and rows["d"]["len"] == 3
    assert rows["kept"]["badge"] == "inherited" and rows["kept"]["expandable"] is False
    assert rows["kept"]["summary"] == "str = 'same'" and "name" not in rows

    # The cursor's step, from a line; and the base run's task as the source.
    line = flow.text.splitlines().index("        self.arr = np.arange(12).reshape(3, 4)")
    by_line = await request(client, "flowspin/artifacts", {"uri": flow.uri, "line": line})
    assert by_line["step"] == "train"
    run = await request(
        client, "flowspin/artifacts", {"uri": flow.uri, "step": "train", "source": "run"}
    )
    assert run["ok"] is True and run["source"]["kind"] == "run", run
    assert {a["name"] for a in run["artifacts"]} == {"d", "kept", "df", "arr", "box"}
    assert all(a["badge"] is None for a in run["artifacts"])

    # A step never spun: the latest run's task, saying so; its rows read from the run.
    end = await request(client, "flowspin/artifacts", {"uri": flow.uri, "step": "end"})
    assert end["ok"] is True and end["source"]["kind"] == "run", end
    assert end["source_key"] == "run" and end["note"] == "not spun yet: the latest run's task"
    assert {a["name"] for a in end["artifacts"]} >= {"d", "df", "arr"}


async def test_expanding_a_dict_and_a_dataframe(client: LanguageClient, flow: Doc) -> None:
    base = {"uri": flow.uri, "step": "train"}
    d = await request(client, "flowspin/artifactChildren", {**base, "path": ["d"]})
    assert d["ok"] is True, d
    kids = {c["key"]: c for c in d["children"]}
    assert kids["alpha"]["summary"] == "int = 1" and not kids["alpha"]["expandable"]
    assert kids["beta"]["expandable"] and kids["beta"]["summary"].startswith("list len 3")
    deeper = await request(client, "flowspin/artifactChildren", {**base, "path": ["d", "gamma"]})
    assert [c["key"] for c in deeper["children"]] == ["x"]

    df = await request(client, "flowspin/artifactChildren", {**base, "path": ["df"]})
    assert [(c["key"], c["type"]) for c in df["children"]][0] == ("n", "int64")
    assert df["children"][1]["key"] == "name" and df["total"] == 2
    assert df["children"][0]["summary"] == "int64, 5 rows"

    arr = await request(client, "flowspin/artifactChildren", {**base, "path": ["arr"]})
    assert arr["children"][0]["summary"] == "3 x 4 of int64"

    # An instance of a class of the user's: never unpickled in the server (no user import).
    box = await request(client, "flowspin/artifactChildren", {**base, "path": ["box"]})
    assert box["ok"] is False and "not one the editor may import" in box["message"], box

    missing = await request(client, "flowspin/artifactChildren", {**base, "path": ["d", "zz"]})
    assert missing["ok"] is False and "no key" in missing["message"]


async def test_a_page_of_a_dataframe_sorted_by_a_column(client: LanguageClient, flow: Doc) -> None:
    base = {"uri": flow.uri, "step": "train", "path": ["df"]}
    first = await request(client, "flowspin/artifactPage", {**base, "offset": 0, "limit": 2})
    assert first["ok"] is True and first["kind"] == "table", first
    assert first["total"] == 5 and first["rows"] == [[3, "a"], [1, "b"]]
    assert [c["numeric"] for c in first["columns"]] == [True, False]

    by_n = await request(
        client,
        "flowspin/artifactPage",
        {**base, "offset": 1, "limit": 3, "sort": {"column": "n", "descending": True}},
    )
    assert by_n["rows"] == [[4, "e"], [3, "a"], [2, "c"]]
    assert by_n["index"] == [4, 0, 2] and by_n["sort"] == {"column": "n", "descending": True}

    # From the base run's task (start's DataFrame, inherited by train's task).
    run = await request(client, "flowspin/artifactPage", {**base, "source": "run", "limit": 1})
    assert run["ok"] is True and run["rows"] == [[3, "a"]], run

    # A list of records: a column per key (no pandas needed for lists).
    records = await request(
        client, "flowspin/artifactPage", {"uri": flow.uri, "step": "train", "path": ["fresh"]}
    )
    assert records["kind"] == "table" and records["rows"] == [[1]], records
    assert records["columns"] == [{"name": "k", "dtype": "int", "numeric": True}]

    text = await request(
        client, "flowspin/artifactPage", {"uri": flow.uri, "step": "train", "path": ["d"]}
    )
    assert text["kind"] == "text" and '"alpha": 1' in text["text"]
