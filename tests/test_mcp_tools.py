"""Every MCP tool against real flows and one real Metaflow run, through the SDK's stdio client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_metaflow, write_flow
from mcp_session import error_text, mcp_session, payload, stop_daemon

FLOW = """
from metaflow import FlowSpec, Parameter, card, current, step
from metaflow.cards import Markdown


class AgentFlow(FlowSpec):
    scale = Parameter("scale", default=2)

    @card(type="blank")
    @step
    def start(self):
        import numpy as np

        current.card.append(Markdown("# Starting with 3 values"))

        self.values = [1, 2, 3]
        self.matrix = np.ones((400, 3))
        self.next(self.compute)

    @step
    def compute(self):
        import pandas as pd

        scaled = [v * self.scale for v in self.values]
        self.frame = pd.DataFrame({"v": self.values, "scaled": scaled})
        self.total = sum(self.values) * self.scale
        print("total is", self.total)
        self.next(self.end)

    @card(type="blank")
    @step
    def end(self):
        current.card.append(Markdown(f"# Total {self.total}"))


if __name__ == "__main__":
    AgentFlow()
"""

# The same flow (same name, so the same base run) with a bug in `compute`.
BROKEN = FLOW.replace(
    "        self.total = sum(self.values) * self.scale\n",
    "        self.total = sum(self.values) / (self.scale - self.scale)\n",
)
BROKEN_LINE = BROKEN.lstrip().splitlines().index(
    "        self.total = sum(self.values) / (self.scale - self.scale)"
) + 1

NEVER_RUN = """
from metaflow import FlowSpec, step


class NeverRunFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""

BAD_GRAPH = """
from metaflow import FlowSpec, step


class BadFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.trian)

    @step
    def train(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BadFlow()
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with AgentFlow run once (the base run every spin starts from)."""
    workdir = tmp_path_factory.mktemp("mcp")
    flow = write_flow(workdir, FLOW)
    write_flow(workdir, BROKEN, name="broken.py")
    write_flow(workdir, NEVER_RUN, name="never_run.py")
    write_flow(workdir, BAD_GRAPH, name="bad.py")
    run_metaflow(flow, "run")
    yield workdir
    stop_daemon(workdir)


async def test_check_and_graph(project: Path) -> None:
    async with mcp_session(project) as client:
        prompt = await client.get_prompt("flowspin-workflow")
        good = payload(await client.call_tool("check", {"file": "flow.py"}))
        bad = payload(await client.call_tool("check", {"file": "bad.py"}))
        graph = payload(await client.call_tool("graph", {"file": str(project / "flow.py")}))
    # The workflow guide as an MCP prompt, naming this workspace's flows.
    guide = prompt.messages[0].content.text
    assert "`flow.py`: `AgentFlow`, steps `start` → `compute` → `end`" in guide

    assert good["ok"] is True and good["errors"] == 0 and good["flows"] == ["AgentFlow"]
    assert "`run` the flow once" in good["next"]

    assert bad["ok"] is False and bad["errors"] >= 1
    unknown = [d for d in bad["diagnostics"] if "'trian'" in d["message"]]
    assert unknown and unknown[0]["line"] == 7 and unknown[0]["severity"] == "error"
    assert "bad.py:LINE" in bad["next"]

    assert graph["file"] == "flow.py"
    (flow,) = graph["flows"]
    assert [s["name"] for s in flow["steps"]] == ["start", "compute", "end"]
    assert flow["edges"] == [["start", "compute"], ["compute", "end"]]
    assert flow["parameters"][0]["name"] == "scale"


async def test_spin_reports_artifacts_output_and_takes_params(project: Path) -> None:
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with mcp_session(project) as client:
        again = await client.call_tool(
            "spin", {"file": "flow.py", "step": "compute", "params": {"scale": "3"}}
        )
        first = await client.call_tool(
            "spin", {"file": "flow.py", "step": "compute"}, progress_callback=on_progress
        )
        chained = payload(await client.call_tool("spin", {"file": "flow.py", "step": "end"}))
        reset = payload(
            await client.call_tool("spin", {"file": "flow.py", "step": "end", "reset": True})
        )
    assert not first.is_error, first.content[0].text
    spun = payload(first)
    assert spun["status"] == "ok" and spun["flow"] == "AgentFlow" and spun["step"] == "compute"
    assert spun["base"]["run_id"]
    frame = spun["changed"]["frame"]
    assert frame["shape"] == [3, 2] and list(frame["dtypes"]) == ["v", "scaled"]
    assert spun["changed"]["total"]["repr"] == "12"
    assert {"values", "matrix"} <= set(spun["inherited"])
    assert "total is 12" in spun["stdout"]
    assert spun["error"] is None and "works" in spun["hint"]

    assert payload(again)["changed"]["total"]["repr"] == "18"
    # Chaining: `end` starts from the spun `compute`; with reset, from the base run.
    assert chained["base"]["chained_from"] == [spun["spin_id"]]
    assert reset["base"]["chained_from"] == []
    # The step's output streamed to the client while it ran.
    assert "[stdout] total is 12" in progress


async def test_spins_go_through_the_workspace_daemon_shared_with_cli_and_editor(
    project: Path,
) -> None:
    from flowspin.daemon import client

    async with mcp_session(project) as session:
        spun = payload(await session.call_tool("spin", {"file": "flow.py", "step": "end"}))
    assert spun["via"] == "daemon"
    # The daemon outlives the MCP session and holds the flow's warm worker for the next caller.
    (status,) = list(client.request(project, {"type": "status"}))
    assert str(project / "flow.py") in status["workers"]

    async with mcp_session(project, "--no-daemon") as session:
        local = payload(await session.call_tool("spin", {"file": "flow.py", "step": "end"}))
    assert local["via"] == "server" and local["status"] == "ok"


async def test_spin_errors_name_the_line_and_what_to_do(project: Path) -> None:
    async with mcp_session(project) as client:
        result = await client.call_tool("spin", {"file": "broken.py", "step": "compute"})
        never_run = await client.call_tool("spin", {"file": "never_run.py", "step": "end"})
        unknown = await client.call_tool("spin", {"file": "flow.py", "step": "nope"})
    assert result.is_error
    failed = payload(result)
    assert failed["status"] == "error"
    assert failed["error"]["type"] == "ZeroDivisionError"
    assert failed["error"]["file"] == "broken.py"
    assert failed["error"]["line"] == BROKEN_LINE
    assert f"fix broken.py:{BROKEN_LINE}" in failed["hint"]

    missing = payload(never_run)
    assert never_run.is_error and missing["error"]["type"] == "MissingBaseRun"
    assert "run the flow first with the `run` tool" in missing["hint"]

    assert "has no step 'nope'" in error_text(unknown)
    assert "start, compute, end" in error_text(unknown)


async def test_show_artifact_card_and_list_runs(project: Path) -> None:
    def args(step: str, **more: object) -> dict[str, object]:
        return {"file": "flow.py", "step": step, **more}

    async with mcp_session(project) as client:
        await client.call_tool("spin", args("compute"))
        spun = payload(await client.call_tool("show_artifact", args("compute", name="frame")))
        inherited = payload(await client.call_tool("show_artifact", args("compute", name="values")))
        from_run = payload(await client.call_tool("show_artifact", args("start", name="matrix")))
        missing = error_text(await client.call_tool("show_artifact", args("compute", name="x")))
        run_card = payload(await client.call_tool("card", args("start")))
        no_card = error_text(await client.call_tool("card", args("compute")))
        await client.call_tool("spin", args("compute", params={"scale": "5"}))
        await client.call_tool("spin", args("end"))
        spin_card = payload(await client.call_tool("card", args("end")))
        listed = payload(await client.call_tool("list_runs", {"file": "flow.py"}))
        no_runs = payload(await client.call_tool("list_runs", {"file": "never_run.py"}))

    # An artifact of the step's latest spin, and one of a step never spun (from the run).
    assert spun["source"]["kind"] == "spin" and spun["changed_in_spin"] is True
    assert spun["value"]["shape"] == [3, 2] and "scaled" in spun["value"]["head"]
    assert inherited["changed_in_spin"] is False and inherited["value"]["repr"] == "[1, 2, 3]"
    assert from_run["source"]["kind"] == "run"
    assert from_run["source"]["task"].startswith("AgentFlow/")
    assert from_run["value"] == {"type": "numpy.ndarray", "shape": [400, 3], "dtype": "float64"}
    assert "no artifact 'x'" in missing and "frame" in missing

    # A card's visible text (Metaflow ships it as base64 JSON inside the HTML): of a step
    # never spun from the run, of a spun step from the agent's own spin.
    (shown,) = run_card["cards"]
    assert run_card["source"]["kind"] == "run"
    assert shown["type"] == "blank" and "Starting with 3 values" in shown["text"]
    assert "has no card yet" in no_card and "@card" in no_card
    (spun_card,) = spin_card["cards"]
    assert spin_card["source"]["kind"] == "spin" and "Total 30" in spun_card["text"]
    assert spun_card["path"].startswith(str(project / ".flowspin" / "cards"))

    (run,) = listed["runs"]
    assert run["flow"] == "AgentFlow" and run["status"] == "ok"
    assert run["user"] == "tester" and run["params"] == {"scale": "2"}
    assert run["run_id"] in listed["next"]
    assert no_runs["runs"] == [] and "call `run`" in no_runs["next"]


async def test_diff_tool_compares_the_latest_spin_with_the_run(project: Path) -> None:
    args = {"file": "flow.py", "step": "compute"}
    async with mcp_session(project) as client:
        await client.call_tool("spin", {**args, "params": {"scale": "5"}})
        diff = payload(await client.call_tool("diff", args))
        unknown = error_text(
            await client.call_tool("diff", {**args, "against": "20200101-000000-000000-abcd"})
        )

    assert diff["step"] == "compute" and diff["file"] == "flow.py"
    assert diff["before"]["kind"] == "run" and diff["after"]["kind"] == "spin"
    arts = diff["artifacts"]
    assert arts["total"]["change"] == "changed" and arts["total"]["detail"]["delta"] == 18
    assert arts["frame"]["change"] == "changed" and arts["frame"]["detail"]["changed_cells"] == 3
    assert arts["values"]["change"] == "same"
    assert list(arts)[-1] in {n for n, e in arts.items() if e["change"] == "same"}
    assert "no spin '20200101-000000-000000-abcd' of step 'compute'" in unknown


async def test_run_data_found_from_a_workspace_above_the_flow_folder(project: Path) -> None:
    # No datastore root in the environment, and the server started one folder up: Metaflow's
    # own lookup (from the current folder) would miss `.metaflow/` beside the flow file.
    flow = str(project / "flow.py")
    async with mcp_session(
        project, cwd=project.parent, unset=("METAFLOW_DATASTORE_SYSROOT_LOCAL",)
    ) as client:
        shown = payload(
            await client.call_tool(
                "show_artifact", {"file": flow, "step": "start", "name": "matrix"}
            )
        )
        listed = payload(await client.call_tool("list_runs", {"file": flow}))
    assert shown["value"]["shape"] == [400, 3]
    assert len(listed["runs"]) == 1


async def test_spin_downstream_spins_every_step_below_in_order(project: Path) -> None:
    async with mcp_session(project) as client:
        answer = await client.call_tool(
            "spin", {"file": "flow.py", "step": "compute", "downstream": True}
        )
    assert not answer.is_error, answer.content[0].text
    chain = payload(answer)
    assert chain["status"] == "ok" and chain["step"] == "compute"
    compute, end = chain["results"]
    assert (compute["step"], end["step"]) == ("compute", "end")
    assert end["base"]["chained_from"] == [compute["spin_id"]]
