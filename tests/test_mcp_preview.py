"""MCP `show_artifact` previews (issue 16): a DataFrame's head as columns and rows with its shape
and dtypes, capped for a model's context; one level of a dict; `path` into a value; against a
real Metaflow run and a spin, through the SDK's stdio client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_metaflow, write_flow
from mcp_session import error_text, mcp_session, payload, stop_daemon

pytestmark = [pytest.mark.metaflow]

FLOW = """
from metaflow import FlowSpec, step


class PreviewFlow(FlowSpec):
    @step
    def start(self):
        import pandas as pd

        self.big = pd.DataFrame({"i": range(5000), "label": ["x" * 300] * 5000})
        self.config = {"model": {"lr": 0.1, "layers": [64, 32]}, "seed": 7}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PreviewFlow()
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    workdir = tmp_path_factory.mktemp("mcppreview")
    run_metaflow(write_flow(workdir, FLOW), "run")
    yield workdir
    stop_daemon(workdir)


async def test_show_artifact_previews_tables_and_containers(project: Path) -> None:
    def args(name: str, **more: object) -> dict[str, object]:
        return {"file": "flow.py", "step": "start", "name": name, **more}

    async with mcp_session(project) as client:
        await client.call_tool("spin", {"file": "flow.py", "step": "start"})
        big = payload(await client.call_tool("show_artifact", args("big")))
        config = payload(await client.call_tool("show_artifact", args("config")))
        inner = payload(await client.call_tool("show_artifact", args("config", path=["model"])))
        column = payload(await client.call_tool("show_artifact", args("big", path=["i"])))
        missing = error_text(await client.call_tool("show_artifact", args("config", path=["x"])))

    assert big["source"]["kind"] == "spin"
    assert big["value"]["shape"] == [5000, 2] and big["value"]["dtypes"]["i"] == "int64"
    preview = big["preview"]
    assert preview["total_rows"] == 5000 and preview["columns"] == ["i", "label"]
    # Long cells are cut, and rows stop before the preview passes its budget.
    assert preview["rows"][0][0] == 0 and preview["rows"][0][1].endswith("…")
    assert len(preview["rows"][0][1]) == 61
    assert 1 <= len(preview["rows"]) <= 10

    assert set(config["preview"]["children"]) == {"model", "seed"}
    assert config["preview"]["children"]["seed"] == "int = 7"
    assert config["preview"]["children"]["model"].startswith("dict len 2")
    assert (
        inner["path"] == ["model"] and inner["value"]["repr"] == "{'lr': 0.1, 'layers': [64, 32]}"
    )
    assert inner["preview"]["children"]["layers"].startswith("list len 2")
    assert column["value"]["shape"] == [5000] and column["preview"]["columns"] == ["i"]
    assert "config['x']: no key 'x'" in missing and "model, seed" in missing
