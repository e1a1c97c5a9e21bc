"""`flowspin diff FILE STEP [--against run|SPIN_ID] [--json]`: what the latest spin of a step
changed against its base run's task of that step (or another spin), artifact by artifact.

The comparison lives in `flowspin.agents.diff`, which the MCP `diff` tool shares."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diff",
        help="compare a step's latest spin with its run's task or a spin",
        description="Compare the latest spin of STEP with the same step's task in the spin's "
        "base run (default) or with another spin: one line per artifact, marked ~ changed, "
        "+ added, - removed. --json adds details: a number's delta, a DataFrame's schema "
        "and cell changes, a unified diff of text (values stored under 1 MB are loaded).",
    )
    p.add_argument("file", help="flow file")
    p.add_argument("step", help="step name")
    p.add_argument(
        "--against",
        default="run",
        metavar="run|SPIN_ID",
        help="what to compare with: the base run's task (default) or a spin id",
    )
    p.add_argument("--spin", metavar="SPIN_ID", help="the spin to compare (default: the newest)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowspin.agents.diff import DiffError, diff_step, human_lines

    flow_file = Path(args.file).resolve()
    if not flow_file.is_file():
        print(f"flowspin diff: no such file: {args.file}", file=sys.stderr)
        return 2
    try:
        diff = diff_step(flow_file, args.step, against=args.against, spin_id=args.spin)
    except DiffError as exc:
        print(f"flowspin diff: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(diff, default=repr))
    else:
        print("\n".join(human_lines(diff)))
    return 0
