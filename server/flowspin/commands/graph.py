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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="the steps, edges, decorators and parameters of a flow",
        description=__doc__,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="flow file")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def _pod(value: Any) -> Any:
    """JSON-safe form of decorator/parameter values (non-literals as their source text)."""
    from flowspin.analysis.model import Expr

    if isinstance(value, Expr):
        return {"expr": value.source}
    if isinstance(value, dict):
        return {str(k): _pod(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_pod(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def graph_json(model: Any) -> dict[str, Any]:
    from flowspin.analysis.graph import metaflow_facts

    flows = []
    for flow in model.flows:
        steps = []
        facts = metaflow_facts(flow)
        for step in flow.steps.values():
            fact = facts[step.name]
            tail = step.tail_transition
            entry: dict[str, Any] = {
                "name": step.name,
                "line": step.span.line,
                "end_line": step.span.end_line,
                "type": step.node_type,
                "next": list(step.out_steps),
                # Metaflow's in_funcs: no loop back edges (see `metaflow_facts`)
                "in": fact["in_funcs"],
                "split_parents": fact["split_parents"],
                "matching_join": fact["matching_join"],
                "takes_inputs": step.takes_inputs,
                "decorators": [
                    {"name": d.name, "args": _pod(d.args), "positional": _pod(d.positional)}
                    for d in step.decorators
                ],
                "defined_in": step.defined_in,
                "file": step.file,
                "doc": step.docstring,
            }
            if tail is not None and tail.kind == "foreach":
                entry["foreach"] = tail.foreach
            if tail is not None and tail.kind == "parallel":
                entry["num_parallel"] = _pod(tail.num_parallel)
            if tail is not None and tail.kind == "switch":
                entry["condition"] = tail.condition
                entry["switch_cases"] = dict(tail.switch_cases or {})
            steps.append(entry)
        flows.append(
            {
                "name": flow.name,
                "line": flow.span.line,
                "start": flow.start_step,
                "end": flow.end_step,
                "steps": steps,
                "edges": [
                    [step.name, target]
                    for step in flow.steps.values()
                    for target in dict.fromkeys(step.out_steps)
                ],
                "parameters": [
                    {
                        "attr": p.attr,
                        "name": p.name,
                        "kind": p.kind,
                        "line": p.span.line,
                        "default": _pod(p.default) if p.has_default else None,
                        "has_default": p.has_default,
                        "help": p.help,
                        "type": p.type,
                        "file": p.file,
                    }
                    for p in flow.parameters
                ],
            }
        )
    result: dict[str, Any] = {"file": model.path, "flows": flows}
    if model.syntax_error is not None:
        err = model.syntax_error
        result["syntax_error"] = {
            "message": err.message,
            "line": err.span.line,
            "column": err.span.col + 1,
        }
    return result


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
