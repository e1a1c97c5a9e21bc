"""`flowspin spin FILE STEP`: run one step now, warm (through the workspace daemon).

`flowspin spin FILE STEP --json` is an agent's hot loop, and its budget is counted from the
shell: the warm path reads its own arguments (`parse_warm`) and imports only the daemon client
and the standard library's basics. argparse, with the shutil and locale it pulls in, would
cost more than the step. Anything `parse_warm` does not know goes to argparse as before.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

# What `parse_warm` understands, with argparse's defaults (tests hold the two to each other).
WARM_DEFAULTS: dict[str, object] = {
    "run": None,
    "task": None,
    "split": None,
    "all_splits": False,
    "param": [],
    "artifacts_module": None,
    "reset": False,
    "no_persist": False,
    "timeout": None,
    "mode": None,
    # Debug Step is never the hot loop: `--debug-port` goes through argparse and `run`, which
    # streams the "listening on" line to stderr (`parse_warm` does not know the two options).
    "debug_port": None,
    "debug_timeout": None,
    "no_daemon": False,
    "json": False,
    # Spin Downstream is a chain of spins, not the hot loop: argparse and `run_downstream`.
    "downstream": False,
}
WARM_SWITCHES = {"--json", "--reset", "--no-persist", "--all-splits"}
WARM_VALUES = {
    "--run": str,
    "--task": str,
    "--split": int,
    "--timeout": float,
    "--mode": str,
    "--param": str,
    "--artifacts-module": str,
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "spin",
        help="run one @step now, with its parents' state kept warm",
        description="Run STEP of the flow in FILE now, against its parent steps' artifacts "
        "(from the newest finished run, or --run / --task), in a warm worker of the "
        "workspace's daemon. Prints the step's output and a one-line result; --json prints "
        "exactly one JSON object. Exit 0 only when the step succeeded.",
    )
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
    p.add_argument(
        "--debug-port",
        type=int,
        metavar="PORT",
        help="run the step under debugpy on 127.0.0.1:PORT (0: a free port, printed on stderr "
        "as 'flowspin-debug: listening on HOST:PORT'); the step starts once a debugger attached",
    )
    p.add_argument(
        "--debug-timeout",
        type=float,
        metavar="S",
        help="with --debug-port: seconds to wait for the debugger (default 60), then DebugTimeout",
    )
    p.add_argument(
        "--downstream",
        action="store_true",
        help="spin STEP, then every step below it in order, each on the output of the one "
        "above (foreach bodies over all their splits); stops at the first failure. --json "
        'prints one object {"status", "step", "results": [one result per step spun]}',
    )
    p.add_argument("--no-daemon", action="store_true", help="one-shot: no warm daemon")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object (the result)")
    p.set_defaults(func=run)


def parse_warm(argv: list[str]) -> SimpleNamespace | None:
    """`spin FILE STEP --json [...]`'s arguments, as argparse would read them; None for
    anything else (help, errors, abbreviations, `--opt=value`, no `--json`), which argparse then
    reads and reports."""
    values: dict[str, Any] = {
        k: (list(v) if isinstance(v, list) else v) for k, v in WARM_DEFAULTS.items()
    }
    positional: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if not token.startswith("-"):
            positional.append(token)
        elif token in WARM_SWITCHES:
            values[token[2:].replace("-", "_")] = True
        elif token in WARM_VALUES:
            value = next(tokens, None)
            if value is None or value.startswith("-"):
                return None
            try:
                parsed = WARM_VALUES[token](value)
            except ValueError:
                return None
            if token == "--param":
                values["param"].append(parsed)
            else:
                values[token[2:].replace("-", "_")] = parsed
        else:
            return None
    exclusive = (values["run"] is not None and values["task"] is not None) or (
        values["split"] is not None and values["all_splits"]
    )
    if len(positional) != 2 or not values["json"] or exclusive:
        return None
    if values["mode"] not in (None, "fork", "subprocess"):
        return None
    return SimpleNamespace(file=positional[0], step=positional[1], **values)


def run_warm(argv: list[str]) -> int | None:
    """The whole warm shell spin, or None when it has to go through argparse and `run`."""
    args = parse_warm(argv)
    if args is None:
        return None
    try:
        options = _options(args)
    except ValueError:
        return None  # a malformed --param: `run` says what is wrong
    return _spin_warm(args, options)


def _options(args: argparse.Namespace | SimpleNamespace) -> dict[str, Any]:
    return {
        "run": args.run,
        "task": args.task,
        "split": args.split,
        "all_splits": args.all_splits,
        "params": _parse_params(args.param),
        "artifacts_module": os.path.realpath(args.artifacts_module)
        if args.artifacts_module
        else None,
        "reset": args.reset,
        "persist": not args.no_persist,
        "timeout": args.timeout,
        "mode": args.mode,
        "debug_port": args.debug_port,
        "debug_timeout": args.debug_timeout,
    }


def _spin_warm(args: argparse.Namespace | SimpleNamespace, options: dict[str, Any]) -> int | None:
    """Through a daemon (started if none runs), printing exactly the JSON result; None when
    the daemon cannot be had, so the caller reports that its own way."""
    from flowspin.daemon import client
    from flowspin.store.root import find_root

    flow_file = os.path.realpath(args.file)
    if not os.path.isfile(flow_file) or not flow_file.endswith(".py"):
        return None  # missing, a device, a FIFO, a folder...: `run` says so, no daemon starts
    try:
        status, text = client.spin_json(find_root(flow_file), flow_file, args.step, options)
    except KeyboardInterrupt:
        return _interrupted(flow_file, args.step, as_json=True)
    except client.DaemonUnavailable:
        return None
    sys.stdout.write(text + "\n")
    return 0 if status == "ok" else 1


def run(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
    except ValueError as exc:
        print(f"flowspin spin: {exc}", file=sys.stderr)
        return 2
    log = None if args.json else HumanLog()
    on_log = log.write if log else None
    if args.json and args.debug_port is not None:
        on_log = _announce_debugger  # stdout stays one JSON object; the port goes to stderr
    if getattr(args, "downstream", False):
        return run_downstream(args, options)
    if args.json and not args.no_daemon and args.debug_port is None:
        code = _spin_warm(args, options)
        if code is not None:
            return code
    from pathlib import Path

    from flowspin.store.layout import workspace_root

    flow_path = Path(args.file).resolve()
    from flowspin.spin.result import SpinResult

    if not flow_path.exists():
        result = SpinResult.failure(
            str(flow_path),
            args.step,
            "FlowFileMissing",
            f"flow file {flow_path} does not exist; check the path",
            file=str(flow_path),
        )
    elif problem := _flow_file_problem(flow_path):
        result = SpinResult.failure(
            str(flow_path), args.step, "InvalidFlowFile", problem, file=str(flow_path)
        )
    elif args.no_daemon:
        from flowspin.spin.service import SpinService

        with SpinService(workspace_root(flow_path)) as svc:
            result = svc.spin(flow_path, args.step, options, on_log=on_log)
    else:
        from flowspin.daemon import client

        try:
            data = client.spin(
                workspace_root(flow_path), str(flow_path), args.step, options, on_log=on_log
            )
        except KeyboardInterrupt:
            return _interrupted(str(flow_path), args.step, as_json=args.json)
        except client.DaemonUnavailable as exc:
            result = SpinResult.failure(
                str(flow_path), args.step, "DaemonUnavailable", f"{exc}; retry with --no-daemon"
            )
        else:
            result = SpinResult.from_dict(data)
    if args.json:
        print(result.to_json())
    else:
        assert log is not None
        log.close()
        print_human(result)
    return 0 if result.status == "ok" else 1


def run_downstream(args: argparse.Namespace, options: dict[str, Any]) -> int:
    """`--downstream`: `flowspin.spin.downstream.spin_downstream` through the daemon (or one
    service with --no-daemon); human output per step as it ends, or one JSON object
    `{"status": ok|error|cancelled, "step", "results": [...]}` (exit 0 only when all ok)."""
    import json
    from pathlib import Path

    from flowspin.spin.downstream import spin_downstream
    from flowspin.spin.result import SpinResult
    from flowspin.store.layout import workspace_root

    flow_path = Path(args.file).resolve()
    problem = "no such file" if not flow_path.exists() else _flow_file_problem(flow_path)
    if args.debug_port is not None:
        problem = "--downstream spins several steps; --debug-port debugs one: drop one of them"
    results: list[Any] = []
    status = "error"
    log = None if args.json else HumanLog()
    on_log = log.write if log else None

    def show(result: Any) -> None:
        if log is not None:
            log.close()
            print_human(result)

    def chain(spin: Any) -> None:
        results.extend(spin_downstream(spin, str(flow_path), args.step, options, on_result=show))

    try:
        if problem:
            raise ValueError(f"{flow_path}: {problem}")
        if args.no_daemon:
            from flowspin.spin.service import SpinService

            with SpinService(workspace_root(flow_path)) as svc:
                chain(lambda step, opts: svc.spin(flow_path, step, opts, on_log=on_log))
        else:
            from flowspin.daemon import client

            root = workspace_root(flow_path)
            chain(
                lambda step, opts: SpinResult.from_dict(
                    client.spin(root, str(flow_path), step, opts, on_log=on_log)
                )
            )
        status = "ok" if results and all(r.status == "ok" for r in results) else "error"
        if results and results[-1].status == "cancelled":
            status = "cancelled"
    except KeyboardInterrupt:
        status = "cancelled"
    except ValueError as exc:
        results.append(SpinResult.failure(str(flow_path), args.step, "InvalidRequest", str(exc)))
        show(results[-1])
    except Exception as exc:  # the daemon is gone, ...: one result that says so
        results.append(SpinResult.failure(str(flow_path), args.step, type(exc).__name__, str(exc)))
        show(results[-1])
    if args.json:
        payload = {"status": status, "step": args.step, "results": [r.to_dict() for r in results]}
        print(json.dumps(payload, default=str))
    elif status != "ok":
        print(f"spin downstream from {args.step}: stopped ({status})", file=sys.stderr)
    if status == "cancelled":
        return 130
    return 0 if status == "ok" else 1


def _interrupted(flow_file: str, step: str, as_json: bool) -> int:
    """Ctrl-C: the daemon stops the spin when we hang up; --json still prints its one object."""
    if as_json:
        from flowspin.spin.result import SpinResult

        result = SpinResult.failure(
            flow_file,
            step,
            "Cancelled",
            "interrupted (Ctrl-C): the spin was stopped, and the warm worker keeps its state",
            status="cancelled",
        )
        sys.stdout.write(result.to_json() + "\n")
    return 130


def _announce_debugger(stream: str, text: str) -> None:
    """`--json --debug-port`: the child's "flowspin-debug: listening on HOST:PORT" line, on
    stderr as it comes, so an editor or script can attach while the spin waits for it."""
    if stream != "stderr":
        return
    for line in text.splitlines(keepends=True):
        if line.startswith("flowspin-debug: "):
            sys.stderr.write(line)
            sys.stderr.flush()


def _flow_file_problem(path: Any) -> str | None:
    """Why `path` cannot be a flow file (a device, a FIFO, a folder, not .py), told before a
    daemon or worker is started for it: `/dev/zero` would have them read until memory ran out,
    and a daemon would be started in `/dev`."""
    from flowspin.spin.service import flow_file_problem

    return flow_file_problem(path)


def print_human(result: Any) -> None:
    """A finished spin for a person: notices, the traceback from the step's own frame on
    (unless the step's stderr, streamed already, held it), each split, the one-line summary,
    and the cards the step made (the summary's "changed: nothing" says nothing of them)."""
    from flowspin.errors_text import trim_traceback

    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    if result.status != "ok" and result.error and result.error.get("traceback") and not (
        result.stderr
    ):
        print(trim_traceback(result.error["traceback"]), file=sys.stderr, end="")
    for split in result.splits:
        err = split.get("error") or {}
        tail = f"{err.get('type')}: {err.get('message')}" if err else "ok"
        print(
            f"  split {split.get('split_index')}: {split.get('status')} "
            f"{split.get('duration_ms', 0):.0f} ms — {tail}"
        )
    print(result.summary())
    for card in result.cards:
        label = " ".join(str(card[k]) for k in ("type", "id") if card.get(k))
        if card.get("path"):
            print(f"card ({label}): {card['path']}" if label else f"card: {card['path']}")
        elif card.get("error"):
            print(f"card ({label}) not rendered: {card['error']}", file=sys.stderr)


def _parse_params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


class HumanLog:
    """The step's output as it streams, with any traceback on stderr starting at the user's
    frame: the spin machinery's frames above it (flowspin's child, Metaflow's task runner)
    are not where the bug is."""

    def __init__(self) -> None:
        from flowspin.errors_text import TracebackTrimmer

        self.stderr = TracebackTrimmer()

    def write(self, stream: str, text: str) -> None:
        if stream == "stdout":
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        shown = self.stderr.feed(text)
        if shown:
            sys.stderr.write(shown)
            sys.stderr.flush()

    def close(self) -> None:
        rest = self.stderr.flush()
        if rest:
            sys.stderr.write(rest)
            sys.stderr.flush()
