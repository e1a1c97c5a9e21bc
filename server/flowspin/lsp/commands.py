"""`workspace/executeCommand`: a typed, frozen registry of the server's commands.

Every command takes one object `{"uri": str, "step"?: str, "line"?: int (0-based)}` and
answers `{"ok": bool, "message": str, ...}`. Each feature module declares its commands as a
module-level `COMMANDS` tuple of `Command`s (`spinning`, `running`, `cards`, `diffs`);
`create_server` builds one `CommandRegistry` from them, once per server, and registers each
name with pygls. This module only resolves targets and dispatches: it imports no feature.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flowspin.analysis import Flow, Step, queries

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

Result = dict[str, Any]


@dataclass
class Target:
    """A command's argument, resolved against the document's model."""

    uri: str
    flow: Flow | None = None
    step: Step | None = None
    error: str | None = None
    # The raw argument, for handlers that take more than the target (e.g. a spin's base run).
    argument: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.step is not None and self.flow is not None:
            return f"step '{self.step.name}' in {self.flow.name}"
        if self.flow is not None:
            return self.flow.name
        return self.uri


# A handler may be async (a spin awaits its worker off the event loop).
Handler = Callable[["FlowspinServer", Target], "Result | Awaitable[Result]"]


@dataclass(frozen=True)
class Command:
    """One `flowspin.server.*` command: its handler, and whether its target must be a step
    (a flow-level command, such as run, gets the flow only, not the cursor's step)."""

    name: str
    handler: Handler
    needs_step: bool = False


class CommandRegistry(Mapping[str, Command]):
    """The server's commands by name, built once from the features' `COMMANDS` and frozen
    (a name declared twice is a bug, caught at start)."""

    def __init__(self, *groups: Iterable[Command]) -> None:
        table: dict[str, Command] = {}
        for group in groups:
            for command in group:
                if command.name in table:
                    raise ValueError(f"command {command.name!r} is declared twice")
                table[command.name] = command
        self._table: Mapping[str, Command] = MappingProxyType(table)

    def __getitem__(self, name: str) -> Command:
        return self._table[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    async def execute(self, ls: FlowspinServer, name: str, arguments: list[Any]) -> Result:
        command = self._table.get(name)
        if command is None:
            return {"ok": False, "message": f"Unknown flowspin command {name!r}."}
        try:
            target = resolve(ls, arguments[0] if arguments else None, command.needs_step)
            if target.error is not None:
                return {"ok": False, "message": target.error}
            answer = command.handler(ls, target)
            return await answer if inspect.isawaitable(answer) else answer
        except OSError as exc:
            return {"ok": False, "message": f"Cannot read the flow file: {exc}"}
        except Exception as exc:  # report, never crash the server
            log.exception("%s failed", name)
            return {"ok": False, "message": f"{name} failed: {exc}"}

    def register(self, server: FlowspinServer) -> None:
        """Register every command with pygls (which lists them in the server's capabilities)."""
        for name in self._table:
            server.command(name)(_bound(name))


def resolve(ls: FlowspinServer, argument: Any, need_step: bool) -> Target:
    target = _resolve(ls, argument, need_step)
    if isinstance(argument, dict):
        target.argument = argument
    return target


def _resolve(ls: FlowspinServer, argument: Any, need_step: bool) -> Target:
    if not isinstance(argument, dict) or not isinstance(argument.get("uri"), str):
        return Target(uri="", error='Expected one argument {"uri": ..., "step"?, "line"?}.')
    uri: str = argument["uri"]
    doc = ls.workspace.get_text_document(uri)
    model = ls.state.models.navigation_model(doc)
    if model is None or not model.flows:
        return Target(uri, error=f"No Metaflow FlowSpec class found in {doc.path or uri}.")
    step_name, line = argument.get("step"), argument.get("line")
    if isinstance(step_name, str):
        # With several flows in the file, the one at `line` wins; else the first that has it.
        at_line = model.flow_at(line + 1) if isinstance(line, int) else None
        for flow in ([at_line] if at_line else []) + model.flows:
            if step_name in flow.steps:
                return Target(uri, flow, flow.steps[step_name])
        return Target(uri, model.flows[0], error=f"No step named '{step_name}' in {uri}.")
    if isinstance(line, int):
        located = queries.step_at(model, line + 1, doc.lines)
        if located is not None:
            # Flow-level commands (run, ...) get the flow only: the cursor's step is not theirs.
            return Target(uri, *located) if need_step else Target(uri, located[0])
        flow = model.flow_at(line + 1) or model.flows[0]
        if need_step:
            return Target(
                uri,
                flow,
                error=f"No step at line {line + 1} of {doc.path or uri}: "
                "put the cursor inside a @step method.",
            )
        return Target(uri, flow)
    if need_step:
        return Target(uri, model.flows[0], error="Which step? Pass a step name or a line.")
    return Target(uri, model.flows[0])


def _bound(name: str) -> Callable[..., Awaitable[Result]]:
    # No annotation on `ls`: pygls resolves these hints at call time, outside TYPE_CHECKING.
    # Async, so a long handler (a spin) never blocks the event loop. The registry is the
    # server's own (`ls.commands`), looked up per call.
    async def command(ls, *args: Any) -> Result:
        return await ls.commands.execute(ls, name, list(args))

    command.__name__ = name.rsplit(".", 1)[-1]
    return command
