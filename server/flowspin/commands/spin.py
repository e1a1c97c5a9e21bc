"""`flowspin spin FILE STEP`: run one step now, warm (through the workspace daemon)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("spin", help="run one @step now, with its parents' state kept warm")
    p.add_argument("file", help="flow file")
    p.add_argument("step", help="step name")
    base = p.add_mutually_exclusive_group()
    base.add_argument(
        "--run", metavar="RUN_ID", help="base run (default: latest run whose parents finished)"
    )
    base.add_argument("--task", metavar="PATHSPEC", help="exact task Flow/run/step/task to re-spin")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--split", type=int, metavar="N", help="foreach split to spin (default 0)")
    split.add_argument("--all-splits", action="store_true", help="spin every foreach split")
    p.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="override a Parameter"
    )
    p.add_argument(
        "--artifacts-module", metavar="PATH", help="module with an ARTIFACTS dict of overrides"
    )
    p.add_argument(
        "--reset", action="store_true", help="forget chained spins; use the base run's state"
    )
    p.add_argument(
        "--no-persist", action="store_true", help="do not save this spin under .flowspin/"
    )
    p.add_argument("--timeout", type=float, metavar="S", help="stop the step after S seconds")
    p.add_argument(
        "--mode", choices=["fork", "subprocess"], help="force how the step process is made"
    )
    p.add_argument("--no-daemon", action="store_true", help="one-shot: no warm daemon")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object (the result)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The warm path (daemon + --json) stays free of heavy imports: it is an agent's hot loop.
    from flowspin.store.layout import workspace_root

    flow_file = Path(args.file).resolve()
    try:
        params = _parse_params(args.param)
    except ValueError as exc:
        print(f"flowspin spin: {exc}", file=sys.stderr)
        return 2
    options = {
        "run": args.run,
        "task": args.task,
        "split": args.split,
        "all_splits": args.all_splits,
        "params": params,
        "artifacts_module": str(Path(args.artifacts_module).resolve())
        if args.artifacts_module
        else None,
        "reset": args.reset,
        "persist": not args.no_persist,
        "timeout": args.timeout,
        "mode": args.mode,
    }
    on_log = None if args.json else _print_log
    if args.json and flow_file.exists() and not args.no_daemon:
        from flowspin.daemon import client

        try:
            data = client.spin(workspace_root(flow_file), str(flow_file), args.step, options)
        except KeyboardInterrupt:
            return 130
        except client.DaemonUnavailable:
            pass
        else:
            print(json.dumps(data, default=str))
            return 0 if data.get("status") == "ok" else 1
    from flowspin.spin.result import SpinResult

    if not flow_file.exists():
        result = SpinResult.failure(
            str(flow_file),
            args.step,
            "FlowFileMissing",
            f"flow file {flow_file} does not exist; check the path",
            file=str(flow_file),
        )
    elif args.no_daemon:
        from flowspin.spin.service import SpinService

        with SpinService(workspace_root(flow_file)) as svc:
            result = svc.spin(flow_file, args.step, options, on_log=on_log)
    else:
        from flowspin.daemon import client

        try:
            data = client.spin(
                workspace_root(flow_file), str(flow_file), args.step, options, on_log=on_log
            )
        except KeyboardInterrupt:
            return 130
        except client.DaemonUnavailable as exc:
            result = SpinResult.failure(
                str(flow_file), args.step, "DaemonUnavailable", f"{exc}; retry with --no-daemon"
            )
        else:
            result = SpinResult.from_dict(data)
    if args.json:
        print(result.to_json())
    else:
        for notice in result.notices:
            print(f"note: {notice}", file=sys.stderr)
        if (
            result.status != "ok"
            and result.error
            and result.error.get("traceback")
            and not result.stderr
        ):
            print(result.error["traceback"], file=sys.stderr, end="")
        for split in result.splits:
            err = split.get("error") or {}
            tail = f"{err.get('type')}: {err.get('message')}" if err else "ok"
            print(
                f"  split {split.get('split_index')}: {split.get('status')} "
                f"{split.get('duration_ms', 0):.0f} ms — {tail}"
            )
        print(result.summary())
    return 0 if result.status == "ok" else 1


def _parse_params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def _print_log(stream: str, text: str) -> None:
    out = sys.stdout if stream == "stdout" else sys.stderr
    out.write(text)
    out.flush()
