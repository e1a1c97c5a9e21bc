"""`flowspin mcp`: serve flowspin's tools to coding agents over MCP (stdio).

Clients start it as `{"command": "flowspin", "args": ["mcp"]}` from the workspace folder; stdout
carries the protocol, so everything else (logs, flow output) goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mcp",
        help="the MCP server (stdio) for coding agents",
        description=__doc__,
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="workspace root; relative flow paths start here (default: the current folder)",
    )
    parser.add_argument(
        "--no-daemon",
        action="store_true",
        help="spin in this process instead of the workspace's warm daemon (which is shared "
        "with the CLI and the editor)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        # A command that works however flowspin was installed (checkout, wheel, index), into
        # the interpreter that runs this command: `flowspin[mcp]` alone needs an index with
        # flowspin on it.
        print(
            "flowspin mcp: the MCP SDK is not installed (flowspin's `mcp` extra). Install it "
            f"with `{sys.executable} -m pip install 'mcp>=2,<3'` (from a checkout: "
            "`pip install -e '.[mcp]'`; from a wheel: "
            "`pip install 'flowspin-<version>-py3-none-any.whl[mcp]'`).",
            file=sys.stderr,
        )
        return 2
    from flowspin.mcp import spinclient
    from flowspin.mcp.server import build_server

    spinclient.USE_DAEMON = not args.no_daemon
    workspace = (args.workspace or Path.cwd()).resolve()
    if not workspace.is_dir():
        print(f"flowspin mcp: workspace {workspace} is not a folder", file=sys.stderr)
        return 2
    build_server(workspace).run("stdio")
    return 0
