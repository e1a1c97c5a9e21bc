"""Helpers for coding agents: artifact summaries sized for a model's context, and the AGENTS.md
section `flowspin agents-md` prints. Used by the MCP server and the CLI; no Metaflow import here.
"""
