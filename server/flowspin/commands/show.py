"""`flowspin show FILE [STEP [ARTIFACT]]`: read spins back from `.flowspin/`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "show",
        help="show saved spins, their artifacts, or one artifact's value",
        description="Read spins back from .flowspin/: without STEP, the newest spin of every "
        "step; with STEP, that spin's result and artifacts (* marks changed ones); with "
        "ARTIFACT, its value.",
    )
    p.add_argument("file", help="flow file")
    p.add_argument("step", nargs="?", help="step name")
    p.add_argument("artifact", nargs="?", help="artifact name")
    p.add_argument("--spin", metavar="SPIN_ID", help="a specific spin (default: the newest)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowspin.store import Store, load_spin, workspace_root

    flow_file = Path(args.file).resolve()
    store = Store(workspace_root(flow_file))
    if args.step is None:
        rows = []
        for step in store.list_steps(flow_file):
            ids = store.list_spins(flow_file, step)
            if not ids:
                continue
            try:
                rec = store.read_record(flow_file, step)
            except LookupError:
                continue
            rows.append(
                {
                    "step": step,
                    "spins": len(ids),
                    "latest": rec["spin_id"],
                    "status": rec.get("status"),
                    "created": rec.get("created", 0),
                }
            )
        if args.json:
            print(json.dumps(rows))
        elif not rows:
            print(f"no spins of {flow_file} yet: run `flowspin spin {args.file} STEP`")
        else:
            for r in rows:
                when = time.strftime("%H:%M:%S", time.localtime(r["created"]))
                print(
                    f"{r['step']:<20} {r['status']:<9} {when}  {r['latest']}  ({r['spins']} kept)"
                )
        return 0
    try:
        spun = load_spin(flow_file, args.step, args.spin)
    except LookupError as exc:
        print(f"flowspin show: {exc}", file=sys.stderr)
        return 1
    if args.artifact is None:
        result = spun.result
        if args.json:
            print(result.to_json())
            return 0
        print(result.summary())
        for name, info in result.artifacts.items():
            mark = "*" if info.get("changed") else " "
            print(f" {mark} {name:<20} {info.get('type', ''):<24} {info.get('repr', '')[:80]}")
        return 0
    try:
        value = spun.artifacts[args.artifact]
    except KeyError as exc:
        print(f"flowspin show: {exc.args[0]}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(
            f"flowspin show: cannot load {args.artifact}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(
            json.dumps(
                {"name": args.artifact, "type": type(value).__name__, "repr": repr(value)},
                default=str,
            )
        )
    else:
        print(repr(value))
    return 0
