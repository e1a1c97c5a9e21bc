"""The `flowspin` command line.

Each subcommand lives in its own module under `flowspin.commands` and exposes
`add_parser(subparsers)`; the parser it adds sets `func(args) -> int`. Modules are imported only
to build the parser, and each keeps its heavy imports inside `func`, so `flowspin check` starts
fast.
"""

from __future__ import annotations

import sys

from flowspin.commands import SUBCOMMANDS, build_parser

# Exit status after the reader of stdout went away (`flowspin check --rules | head -1`):
# 128 + SIGPIPE, what a shell reports for a Unix tool the closed pipe stopped.
EXIT_PIPE_CLOSED = 141


def main(argv: list[str] | None = None) -> int:
    """Run one command. A closed stdout ends it quietly (no traceback, exit 141): whoever
    closed the pipe has read what they wanted."""
    from flowspin.store.root import UnsafeWorkspace

    try:
        try:
            code = _main(argv)
        except UnsafeWorkspace as exc:
            code = _refuse_workspace(exc, sys.argv[1:] if argv is None else argv)
        finally:  # also for argparse's exit after --help: a pipe closed early fails here
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE_CLOSED
    return code


def _refuse_workspace(exc: Exception, argv: list[str]) -> int:
    """A `.flowspin` another user could have planted: one clear message, no traceback, and
    under --json the one object every --json command promises."""
    message = str(exc) or "the workspace's .flowspin folder is not safe to use"
    if "--json" in argv:
        import json

        error = {"type": "UnsafeWorkspace", "message": message, "file": "", "line": 0}
        print(json.dumps({"status": "error", "error": error}))
    else:
        print(f"flowspin: {message}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's own flush at exit has nowhere to
    fail (it would print "Exception ignored ... BrokenPipeError")."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = argv[0].replace("-", "_") if argv else ""
    if first == "spin":
        # A warm `spin --json` never builds a parser (see flowspin.commands.spin).
        from flowspin.commands import spin

        code = spin.run_warm(argv[1:])
        if code is not None:
            return code
    parser = build_parser(first if first in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
