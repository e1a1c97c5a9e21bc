"""`flowspin lsp`: the language server over stdio, as the VS Code extension starts it."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lsp",
        help="the flowspin language server (LSP over stdio)",
        description=__doc__,
    )
    # vscode-languageclient appends --stdio for the stdio transport; it is the only one.
    parser.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (default)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowspin.lsp import create_server

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # stdout belongs to the protocol: anything else that prints goes to stderr instead.
    sys.stdout = sys.stderr
    create_server().start_io(stdin, stdout)
    return 0
