"""`flowspin agents-md [DIR]`: print a section for AGENTS.md / CLAUDE.md that teaches a coding
agent the incremental workflow (skeleton, run once, spin the step being written, run again),
with this project's real flow files, flows and steps in the commands.

Flow files are found by static parsing only; nothing is imported or run. Append the output to
your agent file: `flowspin agents-md >> AGENTS.md`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agents-md",
        help="print an AGENTS.md / CLAUDE.md section for this project",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("."),
        help="project folder to scan for flow files (default: the current folder); paths in "
        "the commands are relative to it",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowspin.agents.guide import build_section

    root: Path = args.dir
    if not root.is_dir():
        print(f"flowspin agents-md: {root} is not a folder", file=sys.stderr)
        return 2
    sys.stdout.write(build_section(root.resolve()))
    return 0
