"""`flowspin run FILE [--param K=V]... [--json] [--resume [STEP] [--origin-run-id ID]] [-- ARGS]`

Runs the flow with Metaflow's own runtime (`python FILE --no-pylint run ...` in the file's
folder), so the run lands in your Metaflow datastore; ARGS after `--` go to Metaflow unchanged
(`--max-workers 4`, `--tag x`, `--with kubernetes`). `--resume` runs Metaflow's `resume`
instead: from STEP (default: the first step that did not finish) of the origin run (default:
the latest run). Shows each task as it starts, finishes or fails (with the flow file's line),
then a per-step summary; a failed task's traceback starts at your code (`--verbose`: all of
Metaflow's). `--json` prints one JSON event per line instead (see docs/runs.md).
Ctrl-C cancels the run as it would in a terminal (it can be resumed). Exit status: 0 when the
run succeeded, 1 when it failed or was cancelled, 130 after Ctrl-C, 2 when FILE is not a
runnable flow file (or STEP is not one of its steps) or Metaflow could not name the user
(set METAFLOW_USER).

The run goes on if this command is killed (its output goes to a log under .flowspin/runs/).
`--cancel RUN_ID` stops such a run, one flowspin started, from any terminal: SIGINT to its
process group as Ctrl-C would (it stays resumable), SIGTERM then SIGKILL after `--grace`
seconds each. Exit status 0 once it stopped, 1 when the run is not running or was not started
by flowspin.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run (or resume) a flow with Metaflow, with per-step progress",
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
        "--verbose", "-v", action="store_true",
        help="show Metaflow's whole traceback of a failed task (default: from your code on)",
    )
    parser.add_argument(
        "--resume", nargs="?", const="", default=None, metavar="STEP",
        help="resume the origin run from STEP (default: where it stopped)",
    )
    parser.add_argument(
        "--origin-run-id", default=None, metavar="ID",
        help="the run to resume (default: the latest run of the flow)",
    )
    parser.add_argument(
        "--cancel", default=None, metavar="RUN_ID",
        help="stop a running run flowspin started (even if its launcher is gone)",
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, metavar="S",
        help="with --cancel: seconds before SIGTERM, and again before SIGKILL (10)",
    )
    parser.add_argument(
        "--python", default=None, metavar="PATH",
        help="interpreter that runs the flow (default: the one running flowspin)",
    )
    parser.set_defaults(func=run, parser=parser, metaflow_args=[])
    parser.usage = (
        "flowspin run FILE [--param K=V]... [--json] [--verbose] [--resume [STEP]] "
        "[--origin-run-id ID] [--python PATH] [-- METAFLOW_ARGS...]\n"
        "       flowspin run FILE --cancel RUN_ID [--grace S] [--json]"
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

    if args.cancel is not None:
        return cancel(args)
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
    from flowspin.runs.identity import missing_user_message

    # Before Metaflow starts: it would say this twice in its words and run nothing.
    folder = args.file.resolve().parent
    if missing := missing_user_message(os.environ, folder if folder.is_dir() else None):
        print(f"flowspin run: {missing}", file=sys.stderr)
        return 2
    extra = list(args.metaflow_args or [])
    printer = JsonPrinter() if args.json else HumanPrinter(verbose=args.verbose)
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


def cancel(args: argparse.Namespace) -> int:
    """`--cancel RUN_ID`: stop a run flowspin started, whoever launched it."""
    from flowspin.runs import FlowFileError, load_target
    from flowspin.runs.launches import NotCancellable, cancel_launch
    from flowspin.runs.report import relative_to_cwd

    if args.param or args.resume is not None or args.origin_run_id or args.metaflow_args:
        print("flowspin run: --cancel RUN_ID takes no --param, --resume, --origin-run-id or "
              "Metaflow arguments", file=sys.stderr)
        return 2
    try:
        target = load_target(args.file)
    except FlowFileError as exc:
        print(f"flowspin run: {exc}", file=sys.stderr)
        return 2
    run_id = str(args.cancel).strip()

    def said(sig: str) -> None:
        if not args.json:
            print(f"sent {sig} to run {run_id} of {target.flow}", flush=True)

    try:
        outcome = cancel_launch(
            target.path, target.flow, run_id, grace_s=max(0.0, args.grace), on_signal=said
        )
    except NotCancellable as exc:
        if args.json:
            print(json.dumps({"ok": False, "run_id": run_id, "flow": target.flow,
                              "message": str(exc)}))
        else:
            print(f"flowspin run: {exc}", file=sys.stderr)
        return 1
    shown = relative_to_cwd(str(target.path))
    resume = f"flowspin run {shown} --resume --origin-run-id {run_id}"
    if args.json:
        print(json.dumps({
            "ok": outcome.ok, "run_id": run_id, "flow": target.flow,
            "status": "cancelled" if outcome.ok else "running",
            "signals": outcome.signals, "message": outcome.message,
            **({"resume": resume} if outcome.ok else {}),
        }))
    else:
        print(outcome.message)
        if outcome.ok:
            print(f"Resume it with: {resume}")
    return 0 if outcome.ok else 1


class JsonPrinter:
    file: Path | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


# Metaflow's first line of a failed task's report; its traceback follows.
FAILURE_MARK = re.compile(r"^<flow \S+ step \S+> failed:$")


class HumanPrinter:
    """Metaflow's own lines, task events as short status lines, and a final step table.

    A failed task's report is folded: Metaflow prints some thirty lines of its own CLI and
    task runner frames before the user's, so the printer holds the report from its first line
    and, when `Task failed.` comes, prints the FAILED line (where, what) first, then the
    traceback from the user's first frame on, and one line saying what was folded. With
    `verbose` everything is shown as Metaflow printed it. A failed run ends with its failures
    again and how to resume, so the last lines on the screen say what to do.
    """

    file: Path | None = None

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.held: dict[tuple[str, str], list[str]] = {}
        self.failures: list[str] = []

    def __call__(self, event: dict[str, Any]) -> None:
        from flowspin.runs.report import event_line, relative_to_cwd, summary_lines

        kind = event["event"]
        key = (str(event.get("step")), str(event.get("task_id")))
        if kind == "log" and event.get("step") and not self.verbose:
            if key in self.held:
                self.held[key].append(event["line"])
                return
            if FAILURE_MARK.match(event["line"]):
                self.held[key] = [event["line"]]
                return
        if kind == "run_finished":
            for held_key in list(self.held):
                self._print_raw(held_key, self.held.pop(held_key))
            shown = relative_to_cwd(str(self.file)) if self.file else "FILE"
            def hint(step: str | None) -> str:
                return f"flowspin run {shown} --resume" + (f" {step}" if step else "")

            lines = summary_lines(event, hint)
            if event["status"] == "failed" and self.failures:
                lines[-1:-1] = self.failures
            for text in lines:
                print(text, flush=True)
            if event["status"] == "failed" and event.get("message"):
                print(event["message"], file=sys.stderr)
            return
        line = event_line(event, relative_to_cwd)
        if kind == "task_failed":
            if line is not None:
                self.failures.append(line)
                print(line, flush=True)
            held = self.held.pop(key, None)
            if held is not None:
                self._print_folded(key, held)
            return
        if kind == "task_cancelled":
            self.held.pop(key, None)  # the KeyboardInterrupt the user asked for
        elif kind in ("task_finished", "task_killed") and key in self.held:
            self._print_raw(key, self.held.pop(key))
        if line is not None:
            print(line, flush=True)

    @staticmethod
    def _print_raw(key: tuple[str, str], lines: list[str]) -> None:
        for text in lines:
            print(f"[{key[0]}/{key[1]}] {text}", flush=True)

    def _print_folded(self, key: tuple[str, str], lines: list[str]) -> None:
        """The user's part of a failed task's report, and how much of Metaflow's was folded."""
        shown = user_part(lines)
        self._print_raw(key, shown)
        folded = len(lines) - len(shown)
        if folded:
            print(f"  ({folded} lines of Metaflow's own traceback folded; "
                  "--verbose shows them)", flush=True)


def user_part(lines: list[str]) -> list[str]:
    """A task's failure report from the first frame of the user's code on (caret lines
    dropped: Metaflow's console strips the indentation they point with). A report without a
    traceback (a Metaflow exception: headline and message) or without any user frame is
    returned whole, since then all of it is the message."""
    from flowspin.errors_text import HEADER, is_user_file
    from flowspin.runs.parse import FRAME

    header = next((i for i, t in enumerate(lines) if t.strip() == HEADER), None)
    if header is None:
        return lines
    for i in range(header + 1, len(lines)):
        m = FRAME.match(lines[i])
        if m and is_user_file(m["file"]):
            body = [t for t in lines[i:] if t.strip() and not set(t.strip()) <= set("^~ ")]
            return [HEADER, *body]
    return lines
