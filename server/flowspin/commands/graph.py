"""`flowspin graph FILE [--json]`: the static DAG of every flow in a file.

Shows each step with its line, node type, decorators and outgoing edges (switch cases and
foreach artifacts labelled), plus the flow's Parameters and Configs. Nothing is imported or run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flowspin.analysis.report import graph_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="the steps, edges, decorators and parameters of a flow",
        description=__doc__,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="flow file")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowspin.analysis import parse_source

    path: Path = args.file
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        print(f"flowspin graph: {path}: no such file. Check the path.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"flowspin graph: {path}: cannot read ({exc.strerror or exc}).", file=sys.stderr)
        return 2
    model = parse_source(source, str(path))
    data = graph_json(model)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_human(data)
    return 1 if model.syntax_error is not None else 0


def _edge_label(step: dict[str, Any]) -> str:
    if "switch_cases" in step:
        cases = ", ".join(f"{k!r} -> {v}" for k, v in step["switch_cases"].items())
        return f"switch on {step['condition']!r}: {cases}"
    if not step["next"]:
        return ""
    targets = ", ".join(step["next"])
    if "foreach" in step:
        return f"-> {targets} (foreach {step['foreach']!r})"
    if "num_parallel" in step:
        return f"-> {targets} (num_parallel={step['num_parallel']})"
    return f"-> {targets}"


def _relative(path: str, flow_file: str) -> str:
    """A base's file as the user would name it: relative to the flow's folder when inside."""
    import os

    folder = os.path.dirname(os.path.abspath(flow_file))
    rel = os.path.relpath(path, folder)
    return path if rel.startswith("..") else rel


def _origin(step: dict[str, Any], flow_file: str) -> str:
    """' (from BaseFlow)', or ' (from BaseFlow, pipelines/base.py)' for another file (the
    line column is then that file's)."""
    if not step["defined_in"]:
        return ""
    if step.get("file"):
        return f" (from {step['defined_in']}, {_relative(step['file'], flow_file)})"
    return f" (from {step['defined_in']})"


def _print_human(data: dict[str, Any]) -> None:
    if "syntax_error" in data:
        err = data["syntax_error"]
        print(
            f"{data['file']}:{err['line']}:{err['column']}: syntax error: {err['message']}; "
            "fix it to see the graph."
        )
        return
    if not data["flows"]:
        print(f"{data['file']}: no FlowSpec subclass found.")
        return
    for i, flow in enumerate(data["flows"]):
        if i:
            print()
        print(f"{flow['name']}  ({data['file']}:{flow['line']})")
        for p in flow["parameters"]:
            default = f" = {p['default']!r}" if p["has_default"] else ""
            where = f"{_relative(p['file'], data['file'])}:" if p.get("file") else "line "
            print(f"  {p['kind']} {p['attr']} ({p['name']!r}){default}  {where}{p['line']}")
        if not flow["steps"]:
            print("  (no steps)")
            continue
        width = max(len(s["name"]) for s in flow["steps"])
        type_width = max(len(s["type"]) for s in flow["steps"])
        for step in flow["steps"]:
            decos = " ".join(f"@{d['name']}" for d in step["decorators"])
            origin = _origin(step, data["file"])
            print(
                f"  {step['line']:>5}  {step['name']:<{width}}  {step['type']:<{type_width}}  "
                f"{_edge_label(step)}{'  ' + decos if decos else ''}{origin}"
            )
