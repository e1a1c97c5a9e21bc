"""`flowspin agents-md` prints a guide naming the project's real flows, steps and commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import write_flow
from flowspin.agents.guide import has_command

TRAIN_FLOW = """
import nonexistent_dependency_that_would_fail_on_import  # proves the file is never imported
from metaflow import FlowSpec, Parameter, card, step


class TrainModelFlow(FlowSpec):
    learning_rate = Parameter("learning_rate", default=0.1)

    @step
    def start(self):
        self.shards = [1, 2, 3]
        self.next(self.fit_shard, foreach="shards")

    @step
    def fit_shard(self):
        self.score = self.input * self.learning_rate
        self.next(self.combine)

    @step
    def combine(self, inputs):
        self.total = sum(i.score for i in inputs)
        self.next(self.end)

    @card(type="blank")
    @step
    def end(self):
        pass
"""

ETL_FLOW = """
from metaflow import FlowSpec, step


class LoadTablesFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def agents_md(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowspin", "agents-md", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_guide_uses_the_projects_real_flows_and_steps(workdir: Path) -> None:
    (workdir / "flows").mkdir()
    write_flow(workdir / "flows", TRAIN_FLOW, name="train.py")
    write_flow(workdir, ETL_FLOW, name="etl.py")
    write_flow(workdir, "print('not a flow')\n", name="util.py")
    (workdir / ".venv" / "lib").mkdir(parents=True)
    write_flow(workdir / ".venv" / "lib", ETL_FLOW.replace("LoadTables", "Vendored"), "v.py")

    proc = agents_md(str(workdir), cwd=workdir.parent)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("## Developing Metaflow flows with flowspin")
    # Both flows listed with their steps; vendored code and non-flows are not.
    assert "`flows/train.py`: `TrainModelFlow`" in text
    assert "`start` → `fit_shard` → `combine` → `end`" in text
    assert "parameters: `learning_rate`" in text
    assert "`etl.py`: `LoadTablesFlow`" in text
    assert "Vendored" not in text and "util.py" not in text
    # The commands use the richest flow (foreach + card) and its real step names.
    assert "flowspin check flows/train.py" in text
    assert "flowspin spin flows/train.py fit_shard --json" in text
    assert "`--split N` picks the foreach split (e.g. `fit_shard`)" in text
    run = "flowspin run flows/train.py" if has_command("run") else "python flows/train.py run"
    assert f"   {run}\n" in text
    if has_command("card"):
        assert "flowspin card flows/train.py end" in text
    # How to hook up the MCP server, and the environment it needs.
    assert '"command": "flowspin"' in text and '"args": ["mcp"]' in text
    assert "METAFLOW_USER" in text
    # In VS Code, the extension's language-model tools by the names agent mode shows.
    for tool in ("flowspin_check", "flowspin_spin", "flowspin_showArtifact", "flowspin_run"):
        assert f"`{tool}`" in text


def test_defaults_to_the_current_folder_and_says_when_no_flow_exists(workdir: Path) -> None:
    proc = agents_md(cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "No flow files were found" in proc.stdout
    missing = agents_md(str(workdir / "nope"), cwd=workdir)
    assert missing.returncode == 2
    assert "is not a folder" in missing.stderr
