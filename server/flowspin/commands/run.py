"""`flowspin run FILE [--param K=V]... [--json] [--resume [STEP] [--origin-run-id ID]] [-- ARGS]`

Runs the flow with Metaflow's own runtime (`python FILE --no-pylint run ...` in the file's
folder), so the run lands in your Metaflow datastore; ARGS after `--` go to Metaflow unchanged
(`--max-workers 4`, `--tag x`, `--with kubernetes`). `--resume` runs Metaflow's `resume`
instead: from STEP (default: the first step that did not finish) of the origin run (default:
the latest run). Shows each task as it starts, finishes or fails (with the flow file's line),
then a per-step summary. `--json` prints one JSON event per line instead (see docs/runs.md).
Ctrl-C cancels the run as it would in a terminal (it can be resumed). Exit status: 0 when the
run succeeded, 1 when it failed or was cancelled, 130 after Ctrl-C, 2 when FILE is not a
runnable flow file (or STEP is not one of its steps).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run (or resume) a flow with Metaflow, with live per-step progress",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the flow file")
    parser.add_argument(
        "--param", "-p", action="append", default=[], metavar="K=V",
        help="a Parameter value (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON event per line")
    parser.add_argument(
        "--resume", nargs="?", const="", default=None, metavar="STEP",
        help="resume the origin run from STEP (default: where it stopped)",
    )
    parser.add_argument(
        "--origin-run-id", default=None, metavar="ID",
        help="the run to resume (default: the latest run of the flow)",
    )
    parser.add_argument(
        "--python", default=None, metavar="PATH",
        help="interpreter that runs the flow (default: the one running flowspin)",
    )
    parser.set_defaults(func=run, parser=parser, metaflow_args=[])
    parser.usage = (
        "flowspin run FILE [--param K=V]... [--json] [--resume [STEP]] "
        "[--origin-run-id ID] [--python PATH] [-- METAFLOW_ARGS...]"
    )
    parser.__class__ = _SplitAtDashDash


class _SplitAtDashDash(argparse.ArgumentParser):
    """Everything after the first `--` goes to Metaflow untouched (argparse alone would
    reject it: a subcommand's positionals are matched before `--` is seen)."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        tail: list[str] = []
        if "--" in argv:
            cut = argv.index("--")
            argv, tail = argv[:cut], argv[cut + 1 :]
        ns, extras = super().parse_known_args(argv, namespace)
        ns.metaflow_args = tail
        return ns, extras


def parse_params(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param {item!r}: expected NAME=VALUE, e.g. --param alpha=0.5")
        params[name.strip()] = value
    return params


def run(args: argparse.Namespace) -> int:
    from flowspin.runs import FlowFileError, RunManager

    try:
        params = parse_params(args.param)
    except ValueError as exc:
        print(f"flowspin run: {exc}", file=sys.stderr)
        return 2
    if args.resume is None and args.origin_run_id:
        print("flowspin run: --origin-run-id goes with --resume [STEP]", file=sys.stderr)
        return 2
    if args.resume is not None and params:
        print("flowspin run: a resume reuses the origin run's parameters; drop --param",
              file=sys.stderr)
        return 2
    extra = list(args.metaflow_args or [])
    printer = JsonPrinter() if args.json else HumanPrinter()
    manager = RunManager(python=args.python)
    try:
        if args.resume is None:
            handle = manager.start_run(args.file, params, extra, None, printer)
        else:
            handle = manager.start_resume(
                args.file, args.resume or None, args.origin_run_id,
                extra, None, printer,
            )
    except FlowFileError as exc:
        print(f"flowspin run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"flowspin run: cannot start {args.python or sys.executable}: {exc}",
              file=sys.stderr)
        return 2
    printer.file = handle.target.path
    try:
        result = handle.wait()
    except KeyboardInterrupt:
        print("\nflowspin run: cancelling the run as Ctrl-C would (press Ctrl-C again to stop "
              "it harder)...", file=sys.stderr, flush=True)
        handle.cancel()
        try:
            result = handle.wait()
        except KeyboardInterrupt:
            handle.cancel(grace_s=2.0)  # SIGTERM now, SIGKILL soon after
            result = handle.wait(30)
        return 130
    assert result is not None
    return 0 if result.status == "ok" else 1


class JsonPrinter:
    file: Path | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


class HumanPrinter:
    """Metaflow's own lines, task events as short status lines, and a final step table."""

    file: Path | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        from flowspin.runs.report import event_line, relative_to_cwd, summary_lines

        if event["event"] == "run_finished":
            shown = relative_to_cwd(str(self.file)) if self.file else "FILE"
            def hint(step: str | None) -> str:
                return f"flowspin run {shown} --resume" + (f" {step}" if step else "")

            for line in summary_lines(event, hint):
                print(line, flush=True)
            if event["status"] == "failed" and event.get("message"):
                print(event["message"], file=sys.stderr)
            return
        line = event_line(event, relative_to_cwd)
        if line is not None:
            print(line, flush=True)
