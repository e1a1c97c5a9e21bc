"""The analysis as JSON: the contracts of `flowspin check --json` and `flowspin graph --json`,
shared by the CLI, the MCP server and the language-model tools (which sit in different layers
above this one, so the shapes live here, once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def diagnostic_json(diag: Any) -> dict[str, Any]:
    """One diagnostic in the contract's shape (1-based columns)."""
    return {
        "rule": diag.rule,
        "severity": diag.severity,
        "message": diag.message,
        "line": diag.span.line,
        "column": diag.span.col + 1,
        "end_line": diag.span.end_line,
        "end_column": diag.span.end_col + 1,
        "step": diag.step,
    }


def check_files(paths: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries of the JSON contract for readable files, and errors for unreadable ones."""
    from flowspin.analysis import check_model, parse_source

    entries: list[dict[str, Any]] = []
    errors: list[str] = []
    for path in paths:
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            errors.append(f"{path}: no such file. Check the path and try again.")
            continue
        except IsADirectoryError:
            errors.append(f"{path}: is a directory; pass flow files (e.g. {path}/flow.py).")
            continue
        except OSError as exc:
            errors.append(f"{path}: cannot read ({exc.strerror or exc}).")
            continue
        model = parse_source(source, str(path))
        diagnostics = check_model(model)
        if model.syntax_error is not None or not model.flows:
            entries.append(
                {
                    "file": str(path),
                    "flow": None,
                    "diagnostics": [diagnostic_json(d) for d in diagnostics],
                }
            )
            continue
        for flow in model.flows:
            entries.append(
                {
                    "file": str(path),
                    "flow": flow.name,
                    "diagnostics": [
                        diagnostic_json(d) for d in diagnostics if d.flow == flow.name
                    ],
                }
            )
    return entries, errors


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
