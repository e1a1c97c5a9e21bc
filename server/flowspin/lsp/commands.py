"""`workspace/executeCommand` handlers, one per command, in a dispatch table.

Every command takes one object `{"uri": str, "step"?: str, "line"?: int (0-based)}` and
answers `{"ok": bool, "message": str, ...}`. The feature modules (`spinning`, `running`,
`cards`) put their handlers into `HANDLERS`; this module only resolves targets and dispatches.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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


def not_available(feature: str) -> Handler:
    """The placeholder until a feature module registers its handler (see `register`)."""

    def handler(ls: FlowspinServer, target: Target) -> Result:
        return {
            "ok": False,
            "message": f"{feature} is not available in this build of flowspin "
            f"({target.describe()}).",
        }

    return handler


def cancel(ls: FlowspinServer, target: Target) -> Result:
    return {"ok": True, "message": "Nothing to cancel: no spin or run is in progress."}


# command -> (handler, needs a step)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    "flowspin.server.spin": (not_available("Spin"), True),
    "flowspin.server.run": (not_available("Run"), False),
    "flowspin.server.resume": (not_available("Resume"), False),
    "flowspin.server.showCard": (not_available("Show Card"), True),
    "flowspin.server.selectBaseRun": (not_available("Select Base Run"), False),
    "flowspin.server.restartWorker": (not_available("Restart Worker"), False),
    "flowspin.server.cancel": (cancel, False),
}


async def execute(ls: FlowspinServer, command: str, arguments: list[Any]) -> Result:
    entry = HANDLERS.get(command)
    if entry is None:
        return {"ok": False, "message": f"Unknown flowspin command {command!r}."}
    handler, need_step = entry
    try:
        target = resolve(ls, arguments[0] if arguments else None, need_step)
        if target.error is not None:
            return {"ok": False, "message": target.error}
        answer = handler(ls, target)
        return await answer if inspect.isawaitable(answer) else answer
    except OSError as exc:
        return {"ok": False, "message": f"Cannot read the flow file: {exc}"}
    except Exception as exc:  # report, never crash the server
        log.exception("%s failed", command)
        return {"ok": False, "message": f"{command} failed: {exc}"}


def register(server: FlowspinServer) -> None:
    # Spins (spin, cancel, restartWorker) and runs (run, resume, selectBaseRun) plug their
    # handlers into HANDLERS.
    from flowspin.lsp import diffs, running, spinning

    spinning.register(server)
    running.register(server)
    diffs.register(server)
    for name in HANDLERS:
        server.command(name)(_bound(name))


def _bound(name: str) -> Callable[..., Awaitable[Result]]:
    # No annotation on `ls`: pygls resolves these hints at call time, outside TYPE_CHECKING.
    # Async, so a long handler (a spin) never blocks the event loop.
    async def command(ls, *args: Any) -> Result:
        return await execute(ls, name, list(args))

    command.__name__ = name.rsplit(".", 1)[-1]
    return command
