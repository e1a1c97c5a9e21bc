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


def _secs(ms: float) -> str:
    return f"{ms / 1000.0:.1f} s"


class HumanPrinter:
    """Metaflow's own lines, task events as short status lines, and a final step table."""

    file: Path | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        where = f"{event.get('step')}/{event.get('task_id')}"
        if kind == "log":
            prefix = f"[{where}] " if event.get("step") else ""
            print(f"{prefix}{event['line']}", flush=True)
        elif kind == "run_started":
            print(f"flowspin: {event['flow']} run {event['run_id']} (pid {event['pid']})",
                  flush=True)
        elif kind == "task_started":
            print(f"  {where:<24} running", flush=True)
        elif kind == "task_finished":
            note = "cloned" if event.get("cloned") else f"done in {_secs(event['duration_ms'])}"
            print(f"  {where:<24} {note}", flush=True)
        elif kind == "task_failed":
            at = f" ({self._short(event['file'])}:{event['line']})" if event.get("file") else ""
            print(f"  {where:<24} FAILED{at}: {event['error_type']}: {event['message']}",
                  flush=True)
        elif kind == "run_finished":
            self._summary(event)

    def _short(self, path: str) -> str:
        try:
            return str(Path(path).relative_to(Path.cwd()))
        except ValueError:
            return path

    def _summary(self, event: dict[str, Any]) -> None:
        steps = event["steps"]
        width = max([len(s) for s in steps] + [4])
        print()
        print(f"{'step':<{width}}  {'status':<9} {'tasks':>5} {'done':>5} {'failed':>6}  time")
        for name, st in steps.items():
            print(f"{name:<{width}}  {st['status']:<9} {st['tasks']:>5} {st['done']:>5} "
                  f"{st['failed']:>6}  {_secs(st['duration_ms']) if st['tasks'] else '-'}")
        flow, run_id = event.get("flow"), event.get("run_id")
        name = f"{flow}/{run_id}" if run_id else str(flow)
        status = event["status"]
        shown = self._short(str(self.file)) if self.file else "FILE"
        if status == "ok":
            print(f"\nRun {name} succeeded in {_secs(event['duration_ms'])}.")
        elif status == "cancelled":
            print(f"\nRun {name} cancelled. Continue it with: flowspin run {shown} --resume")
        else:
            failed = [s for s, st in steps.items() if st["status"] == "failed"]
            hint = (f" Fix it, then: flowspin run {shown} --resume {failed[0]}"
                    if failed and run_id else "")
            print(f"\nRun {name} failed.{hint}")
            if event.get("message"):
                print(event["message"], file=sys.stderr)
