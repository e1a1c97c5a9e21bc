"""Hover: what a step is (kind, parents, children, decorators) and where `self.<x>` comes
from (upstream writers, Parameter/Config), with its value from the latest spin or run.

The value comes from `flowspin.agents.values`: a spin record's stored summary (no unpickling),
else the run task's recorded type and size, and the value itself only for small artifacts.
Hover already runs on the file's worker thread, so a first run lookup (Metaflow's Client)
delays only this answer, never the event loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from flowspin.analysis import Decorator, Expr, Flow, ParameterDef, Step
from flowspin.analysis.queries import (
    artifact_access_at,
    artifact_source,
    foreach_source,
)
from flowspin.lsp.documents import DocSnapshot, no_check, to_model_position, to_range

if TYPE_CHECKING:
    from flowspin.agents.values import ValueFinder
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

KIND = {
    "start": "start step",
    "linear": "linear step",
    "split": "split (static branches)",
    "foreach": "foreach (fans out over a list)",
    "parallel_foreach": "parallel foreach",
    "switch": "switch (conditional branch)",
    "join": "join (merges branches)",
    "end": "end step",
}


def _literal(value: Any) -> str:
    return value.source if isinstance(value, Expr) else repr(value)


def _decorator(d: Decorator) -> str:
    args = [_literal(v) for v in d.positional] + [f"{k}={_literal(v)}" for k, v in d.args.items()]
    return f"@{d.name}({', '.join(args)})" if args else f"@{d.name}"


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "none"


def step_markdown(flow: Flow, step: Step) -> str:
    lines = [
        f"**step `{step.name}`** of `{flow.name}`: {KIND.get(step.node_type, step.node_type)}",
        "",
        f"- parents: {_names(step.in_steps)}",
        f"- children: {_names(step.out_steps)}",
    ]
    transition = step.transition
    if transition is not None and transition.foreach:
        lines.append(f"- foreach over `self.{transition.foreach}`")
    if transition is not None and transition.condition:
        lines.append(f"- switch on `self.{transition.condition}`")
    decorators = [d for d in step.decorators if d.name != "step"]
    if decorators:
        lines.append("- decorators: " + ", ".join(f"`{_decorator(d)}`" for d in decorators))
    if step.docstring:
        lines += ["", step.docstring.strip()]
    return "\n".join(lines)


def parameter_line(p: ParameterDef) -> str:
    default = f", default `{_literal(p.default)}`" if p.has_default else ""
    text = f"{p.kind} `{p.name}`{default}"
    return text + (f": {p.help}" if p.help else "")


def artifact_markdown(flow: Flow, step: Step, name: str) -> str:
    foreach = foreach_source(flow, step.name)
    if foreach is not None and name in ("input", "index"):
        parent, items = foreach
        what = "the item" if name == "input" else "the position of the item"
        return (
            f"**`self.{name}`** in step `{step.name}`\n\n"
            f"- {what} of `self.{items}` (set in `{parent}`) that this foreach task handles"
        )
    source = artifact_source(flow, step.name, name)
    lines = [f"**`self.{name}`** in step `{step.name}`", ""]
    if source.parameter is not None:
        lines.append(f"- {parameter_line(source.parameter)}")
    for writer, span in source.writers:
        file = flow.steps[writer].file if writer in flow.steps else None
        where = f"{os.path.basename(file)} line" if file else "line"  # a base in another file
        lines.append(f"- written upstream by `{writer}` ({where} {span.line})")
    if source.written_here is not None:
        lines.append(f"- assigned in this step (line {source.written_here.line})")
    if len(lines) == 2:
        lines.append("- no upstream step, Parameter or Config defines it")
    return "\n".join(lines)


def value_finder(doc: DocSnapshot, flow: Flow) -> ValueFinder | None:
    """A finder of the flow's spun and run values, None for an unsaved document."""
    from flowspin.agents.values import ValueFinder

    path = getattr(doc, "path", None)
    if not path or not os.path.isfile(path):
        return None
    try:
        return ValueFinder(Path(path), flow.name)
    except Exception as exc:  # a workspace whose store cannot be read: the hover stays static
        log.debug("no values for %s: %s", path, exc)
        return None


def holders(flow: Flow, step: Step, name: str) -> list[str]:
    """Where `self.<name>` is read from: the step itself, then its upstream writers."""
    source = artifact_source(flow, step.name, name)
    out = [step.name]
    for writer, _ in source.writers:
        if writer not in out:
            out.append(writer)
    return out


def value_markdown(finder: ValueFinder, flow: Flow, step: Step, name: str) -> str:
    """The value section of an artifact's hover, or "" when no spin or run holds it."""
    from flowspin.agents.values import human_size, one_line

    found = finder.find(name, holders(flow, step, name))
    if found is None:
        return ""
    values, summary = found
    source = values.source
    # A blank line first: the value is a paragraph of its own, not part of the list above.
    lines = ["", "", f"**value** from {source.label()}: `{one_line(summary, 100)}`"]
    facts = [f"type `{summary.get('type')}`"]
    if summary.get("shape"):
        facts.append("shape " + " x ".join(str(n) for n in summary["shape"]))
    elif summary.get("len") is not None:
        facts.append(f"length {summary['len']}")
    if summary.get("size"):
        facts.append(human_size(summary["size"]) + (" stored" if source.kind == "run" else ""))
    lines.append("- " + ", ".join(facts))
    if summary.get("repr") and len(str(summary["repr"])) > 60:
        lines += ["", "```", str(summary["repr"]), "```"]
    elif summary.get("unread"):
        lines.append(f"- not read here ({summary['unread']}): type and size only")
    if source.kind == "spin" and summary.get("changed") is not None:
        base = f"base run {source.run_id}" if source.run_id else "its parent state"
        if summary["changed"]:
            lines.append(f"- changed by this spin (against {base})")
        else:
            lines.append(f"- as in {base} (this spin did not change it)")
    return "\n".join(lines)


def hover(
    ls: FlowspinServer,
    doc: DocSnapshot,
    position: types.Position,
    check: Callable[[], None] = no_check,
) -> types.Hover | None:
    view = ls.state.models.view(doc, check=check)
    if view is None:
        return None
    model, lines = view.model, view.lines
    line, col = to_model_position(position, lines)
    found = view.index.mention_at(line, col)
    if found is not None:
        flow, mention = found
        target = flow.steps.get(mention.step)
        if target is None:
            return None
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=step_markdown(flow, target)
            ),
            range=to_range(mention.span, lines),
        )
    located = model.step_at(line)
    if located is None:
        return None
    flow, step = located
    access = artifact_access_at(step, line, col)
    if access is None:
        return None
    text = artifact_markdown(flow, step, access.name)
    finder = value_finder(doc, flow)
    if finder is not None:
        check()
        text += value_markdown(finder, flow, step, access.name)
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
        range=to_range(access.span, lines),
    )


def register(server: FlowspinServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: FlowspinServer, params: types.HoverParams) -> types.Hover | None:
        return await ls.work.request(
            params.text_document.uri, lambda doc, check: hover(ls, doc, params.position, check)
        )
