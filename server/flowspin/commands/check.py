"""`flowspin check FILE... [--json]`: every DAG problem of each flow file, in one pass.

The JSON form is a contract other tools parse (1-based lines and columns):
`{"flows": [{"file", "flow", "diagnostics": [{"rule", "severity", "message", "line", "column",
"end_line", "end_column", "step"}]}]}` with one entry per flow of each file, and one entry with
`"flow": null` for a file that has a syntax error or no flow. Exit status: 0 clean (warnings
allowed), 1 when any error-severity diagnostic was found, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flowspin.analysis.report import check_files


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check flow files for DAG problems, all at once",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="flow file(s)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--rules", action="store_true", help="list the rule ids and their severities, then exit"
    )
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.rules:
        from flowspin.analysis.rules import RULES

        for rule, (severity, in_metaflow) in RULES.items():
            origin = "also rejected by metaflow check" if in_metaflow else "flowspin only"
            print(f"{rule:<32} {severity:<8} {origin}")
        return 0
    if not args.files:
        args.parser.error("give at least one flow file (or --rules)")
    entries, errors = check_files(args.files)
    for error in errors:
        print(f"flowspin check: {error}", file=sys.stderr)
    if args.json:
        print(json.dumps({"flows": entries}, indent=2))
    else:
        _print_human(entries)
    if errors:
        return 2
    has_error = any(
        d["severity"] == "error" for entry in entries for d in entry["diagnostics"]
    )
    return 1 if has_error else 0


def _print_human(entries: list[dict[str, Any]]) -> None:
    counts = {"error": 0, "warning": 0}
    files: set[str] = set()
    for entry in entries:
        files.add(entry["file"])
        for d in entry["diagnostics"]:
            counts[d["severity"]] = counts.get(d["severity"], 0) + 1
            print(
                f"{entry['file']}:{d['line']}:{d['column']}: {d['severity']} "
                f"{d['rule']}: {d['message']}"
            )
    flows = [e["flow"] for e in entries if e["flow"]]
    if not any(entry["diagnostics"] for entry in entries):
        if flows:
            print(f"ok: {len(flows)} flow(s) in {len(files)} file(s), no problems found")
        elif files:
            print(f"ok: no flow found in {len(files)} file(s)")
    else:
        print(
            f"{counts['error']} error(s), {counts['warning']} warning(s) in {len(files)} file(s)"
        )
