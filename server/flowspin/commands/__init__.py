"""The `flowspin` subcommands, one module each, and the parser that gathers them.

Each module exposes `add_parser(subparsers)`; the parser it adds sets `func(args) -> int`.
Modules are imported only to build the parser, and each keeps its heavy imports inside `func`,
so `flowspin check` starts fast.
"""

from __future__ import annotations

import importlib

from flowspin import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

# Order here is the order in `flowspin --help`.
SUBCOMMANDS = [
    "demo",
    "check",
    "graph",
    "spin",
    "show",
    "diff",
    "card",
    "run",
    "runs",
    "daemon",
    "cache",
    "lsp",
    "mcp",
    "agents_md",
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with `only` one subcommand's (so a warm `flowspin spin` imports
    nothing else: the shell spin's budget is counted in milliseconds)."""
    import argparse

    class CommandsFormatter(argparse.HelpFormatter):
        """Leaves room for the longest command name (`agents-md`), which argparse does not
        count, so every command's help sits on its own line."""

        def add_argument(self, action: argparse.Action) -> None:
            super().add_argument(action)
            for name in getattr(action, "choices", None) or ():
                if isinstance(action, argparse._SubParsersAction):
                    longest = len(name) + self._current_indent + 2 * self._indent_increment
                    self._action_max_length = max(self._action_max_length, longest)

    parser = argparse.ArgumentParser(
        prog="flowspin",
        description="Run any Metaflow @step like a notebook cell.",
        formatter_class=CommandsFormatter,
    )
    parser.add_argument("--version", action="version", version=f"flowspin {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only else SUBCOMMANDS:
        try:
            module = importlib.import_module(f"flowspin.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"flowspin.commands.{name}":
                continue  # not built yet
            raise
        module.add_parser(subparsers)
    return parser


