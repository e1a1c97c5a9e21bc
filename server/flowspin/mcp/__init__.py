"""flowspin's MCP server (`flowspin mcp`): check, graph, spin, run, list_runs, show_artifact and
card as tools for coding agents, over stdio, built on the official `mcp` SDK (2.x).

`build_server(workspace)` lives in `flowspin.mcp.server`; importing this package alone does not
import the SDK, so `flowspin --help` works without it.
"""
