"""The MCP server's tool surface, seen by a real MCP client over stdio."""

from __future__ import annotations

from pathlib import Path

from mcp_session import error_text, mcp_session

TOOLS = {"check", "graph", "spin", "run", "list_runs", "show_artifact", "diff", "card"}


async def test_every_tool_is_listed_with_a_schema_and_guidance(workdir: Path) -> None:
    async with mcp_session(workdir) as client:
        assert client.server_info.name == "flowspin"
        assert "spin" in (client.instructions or "")
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == TOOLS
    for tool in listed.values():
        schema = tool.input_schema
        assert schema["type"] == "object"
        assert "file" in schema["required"]
        assert schema["properties"]["file"]["description"]
        assert len(tool.description or "") > 80  # says when to use it, not just what it is
    spin = listed["spin"].input_schema
    assert set(spin["properties"]) == {
        "file", "step", "run_id", "split", "params", "timeout_s", "reset", "downstream"
    }
    assert spin["required"] == ["file", "step"]
    assert "run` first" in listed["spin"].description
    assert set(listed["run"].input_schema["properties"]) == {
        "file", "params", "tags", "max_workers", "decorators"
    }
    assert set(listed["show_artifact"].input_schema["required"]) == {"file", "step", "name"}


async def test_bad_arguments_say_what_to_do(workdir: Path) -> None:
    async with mcp_session(workdir) as client:
        missing = error_text(await client.call_tool("check", {"file": "nope.py"}))
        folder = error_text(await client.call_tool("graph", {"file": "."}))
        negative = error_text(
            await client.call_tool("spin", {"file": "flow.py", "step": "a", "split": -1})
        )
    assert f"{workdir.resolve() / 'nope.py'} does not exist" in missing
    assert "relative paths are resolved from the workspace root" in missing
    assert "is a folder" in folder
    assert "split" in negative


async def test_vscode_language_model_tools_mirror_the_mcp_tools(workdir: Path) -> None:
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "flowspin.mcp.lmtools"],
        cwd=workdir, capture_output=True, text=True, timeout=60, check=True,
    )
    lm_tools = {tool["name"]: tool for tool in json.loads(proc.stdout)}
    assert set(lm_tools) == {
        "flowspin_spin", "flowspin_check", "flowspin_run", "flowspin_showArtifact"
    }
    async with mcp_session(workdir) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    spin = lm_tools["flowspin_spin"]
    assert spin["toolReferenceName"] == "spin" and spin["userDescription"]
    assert spin["modelDescription"] == " ".join(listed["spin"].description.split())
    for tool in lm_tools.values():
        mcp_schema = listed[tool["toolReferenceName"].replace("-", "_")].input_schema
        assert set(tool["inputSchema"]["properties"]) == set(mcp_schema["properties"])
        assert tool["inputSchema"]["required"] == mcp_schema["required"]


async def test_annotations_tell_the_truth(workdir: Path) -> None:
    """A client decides from annotations whether to ask the user first: `run` (and `spin`)
    execute the flow's code, `run` writes to Metaflow's datastore and may reach a cluster."""
    async with mcp_session(workdir) as client:
        listed = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    for name in ("run", "spin"):
        assert listed[name].read_only_hint is False
        assert listed[name].destructive_hint is True
        assert listed[name].open_world_hint is True
    for name in ("check", "graph"):
        assert listed[name].read_only_hint is True and listed[name].open_world_hint is False
    for name in ("list_runs", "show_artifact", "diff", "card"):
        assert listed[name].read_only_hint is True


EVIL = """
from pathlib import Path

Path(__file__).with_name("EVIL_RAN").write_text("ran")

from metaflow import FlowSpec, step


class EvilFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EvilFlow()
"""

GOOD = """
from metaflow import FlowSpec, Parameter, step


class GoodFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GoodFlow()
"""


async def test_tools_stay_inside_the_workspace(workdir: Path) -> None:
    """An agent told (by a README, an issue...) to run `../outside/evil.py`, or a link that
    points there, must not get that code run, and no argument of `run` may write a file
    outside the workspace (`--run-id-file PATH` did)."""
    import os

    from conftest import write_flow

    ws = workdir / "ws"
    outside = workdir / "outside"
    ws.mkdir()
    outside.mkdir()
    write_flow(outside, EVIL, name="evil.py")
    write_flow(ws, GOOD)
    os.symlink(outside / "evil.py", ws / "linked.py")
    precious = outside / "precious.txt"
    precious.write_text("keep me")
    calls = []
    for file in ("../outside/evil.py", str(outside / "evil.py"), "linked.py"):
        calls += [
            ("check", {"file": file}),
            ("graph", {"file": file}),
            ("spin", {"file": file, "step": "start"}),
            ("run", {"file": file}),
            ("list_runs", {"file": file}),
            ("show_artifact", {"file": file, "step": "start", "name": "x"}),
            ("card", {"file": file, "step": "start"}),
        ]
    async with mcp_session(workdir, cwd=ws) as client:
        for tool, args in calls:
            text = error_text(await client.call_tool(tool, args))
            assert "outside the workspace" in text, (tool, args, text)
        sneaky = error_text(
            await client.call_tool(
                "run", {"file": "flow.py", "params": {"run-id-file": str(precious)}}
            )
        )
        bad_with = error_text(
            await client.call_tool("run", {"file": "flow.py", "decorators": ["conda:python=3.8"]})
        )
        traversal = error_text(
            await client.call_tool(
                "show_artifact",
                {"file": "flow.py", "step": "start", "name": "x", "spin_id": "../../x"},
            )
        )
    assert "not a parameter of the flow" in sneaky and "alpha" in sneaky
    assert "is not allowed" in bad_with and "kubernetes" in bad_with
    assert "not a spin id" in traversal
    assert not (outside / "EVIL_RAN").exists()
    assert precious.read_text() == "keep me"


async def test_giant_arguments_are_not_echoed_back(workdir: Path) -> None:
    giant = "x" * 200_000
    async with mcp_session(workdir) as client:
        answers = [
            error_text(await client.call_tool("check", {"file": giant})),
            error_text(await client.call_tool("spin", {"file": giant, "step": "a"})),
        ]
        from conftest import write_flow

        write_flow(workdir, GOOD)
        answers.append(
            error_text(await client.call_tool("spin", {"file": "flow.py", "step": giant}))
        )
        answers.append(
            error_text(
                await client.call_tool(
                    "show_artifact", {"file": "flow.py", "step": "start", "name": giant}
                )
            )
        )
        answers.append(error_text(await client.call_tool(giant, {})))
    for text in answers:
        assert text.strip() and len(text) < 1000, text[:300]


def test_malformed_json_gets_a_parse_error(workdir: Path) -> None:
    """A line that is not JSON gets JSON-RPC's parse error (id null) instead of silence, and
    the answer does not quote the line back."""
    import json
    import queue
    import subprocess
    import sys
    import threading

    from mcp_session import server_env

    proc = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "mcp"],
        cwd=workdir, env=server_env(workdir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("{not json " + "x" * 100_000 + "\n")
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": 7}) + "\n")
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}) + "\n")
        proc.stdin.flush()
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(line) for line in proc.stdout], daemon=True
        ).start()
        first, second, pong = (lines.get(timeout=120) for _ in range(3))  # silence: Empty
    finally:
        proc.kill()
        proc.wait()
    parse, invalid = json.loads(first), json.loads(second)
    assert parse["id"] is None and parse["error"]["code"] == -32700
    assert invalid["id"] is None and invalid["error"]["code"] == -32600
    assert len(first) < 500 and "xxxx" not in first
    assert json.loads(pong) == {"jsonrpc": "2.0", "id": 1, "result": {}}
