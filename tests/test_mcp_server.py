"""The MCP server's tool surface, seen by a real MCP client over stdio."""

from __future__ import annotations

from pathlib import Path

from mcp_session import error_text, mcp_session

TOOLS = {"check", "graph", "spin", "run", "list_runs", "show_artifact", "card"}


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
        "file", "step", "run_id", "split", "params", "timeout_s", "reset"
    }
    assert spin["required"] == ["file", "step"]
    assert "run` first" in listed["spin"].description
    assert set(listed["run"].input_schema["properties"]) == {"file", "params", "extra_args"}
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
