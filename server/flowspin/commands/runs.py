"""`flowspin runs FILE [--json] [--limit N]`: past runs of the flow in FILE, newest first.

Read with Metaflow's Client API (in a subprocess in the file's folder, with `--python`'s
interpreter), in your default namespace. Status: `ok` (finished successfully), `running` (a
process of it is alive, even if whoever launched it is gone), `failed` (a task failed),
`cancelled`, `orphaned` (flowspin started it, nothing of it is alive and it never ended:
killed; resume it), or `unfinished` (not started by flowspin and not successful: Metaflow's
local metadata cannot tell in flight from dead). `--json` prints `{"flow", "runs": [{"run_id",
"flow", "status", "created_at", "finished_at", "user", "tags", "parameters", "pathspec",
"launch"}]}`, where `launch` is null for runs flowspin did not start, else `{"pid",
"launcher_pid", "launcher_alive", "log", "cancel_requested", "ended"}`. Exit status: 0, or 2
when FILE is not a flow file or Metaflow could not be asked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "runs",
        help="list past Metaflow runs of a flow, newest first",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the flow file")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--limit", type=int, default=20, help="at most this many (20)")
    parser.add_argument("--python", default=None, metavar="PATH",
                        help="interpreter with the flow's Metaflow (default: this one)")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    from flowspin.runs import FlowFileError, RunListError, list_runs, load_target

    try:
        target = load_target(args.file)
        runs = list_runs(target.path, python=args.python, limit=max(1, args.limit))
    except (FlowFileError, RunListError) as exc:
        print(f"flowspin runs: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"flow": target.flow, "runs": [r.as_dict() for r in runs]}))
        return 0
    if not runs:
        print(f"{target.flow}: no runs yet. Start one with: flowspin run {args.file}")
        return 0
    print(f"{'run id':<20} {'status':<10} {'started':<19} {'user':<12} parameters")
    for r in runs:
        started = (r.created_at or "")[:19].replace("T", " ")
        params = " ".join(f"{k}={v}" for k, v in r.parameters.items())
        print(f"{r.run_id:<20} {r.status:<10} {started:<19} {r.user or '-':<12} {params}")
    running = [r for r in runs if r.status == "running" and r.launch]
    for r in running:
        gone = "" if r.launch and r.launch["launcher_alive"] else " (its launcher is gone)"
        print(f"run {r.run_id} is running{gone}; log: {r.launch and r.launch['log']}; "
              f"stop it with: flowspin run {args.file} --cancel {r.run_id}")
    if any(r.status == "orphaned" for r in runs):
        print("orphaned: started by flowspin, stopped without finishing (killed); "
              f"resume with: flowspin run {args.file} --resume --origin-run-id RUN_ID")
    return 0
