"""Code lenses above each step: Spin and Debug (every step), Run (start step), Card (steps
with @card).

A step whose code, or code upstream of it, changed since its latest output says so after its
Spin lens ("▶ Spin  ✓ 12 ms · stale: upstream 'clean' changed", see `staleness`).

The lens commands are the extension's own command ids; it decides how to run them (saving
the file first, showing progress). A step's last status, when known, follows the title.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from flowspin.lsp.documents import DocSnapshot, no_check

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def _title(label: str, status: str | None) -> str:
    return f"{label}  {status}" if status else label


def _run_status(ls: FlowspinServer, flow_file: Path | None, step: str) -> str | None:
    """The step's status in the file's latest run from the editor (see `running`)."""
    if flow_file is None:
        return None
    return ls.runs.lens(flow_file, step)


def code_lenses(
    ls: FlowspinServer, doc: DocSnapshot, check: Callable[[], None] = no_check
) -> list[types.CodeLens]:
    """Lenses of every step, from the parse's index: linear in the number of steps (each
    step's first line is looked up, not recomputed from a fresh split of the document)."""
    view = ls.state.models.lens_view(doc, check=check)
    if view is None:
        return []
    uri = doc.uri
    lenses: list[types.CodeLens] = []
    flow_file = Path(doc.path).resolve() if doc.path else None  # once, not once per step
    for flow in view.model.flows:
        flow_index = view.index.of(flow)
        stale = ls.stale.stale_steps(uri, flow)
        if not flow.is_base:  # the flow panel of this file, from the class line
            at = types.Position(line=flow.span.line - 1, character=0)
            lenses.append(
                types.CodeLens(
                    range=types.Range(start=at, end=at),
                    command=types.Command(
                        title="◇ Show Flow", command="flowspin.showFlow", arguments=[{"uri": uri}]
                    ),
                )
            )
        for step in flow_index.own:
            line = flow_index.first_lines[step.name] - 1
            where = types.Range(
                start=types.Position(line=line, character=0),
                end=types.Position(line=line, character=0),
            )
            target = {"uri": uri, "step": step.name}
            status = ls.state.step_status.get((uri, step.name))
            if step.name in stale:  # see `staleness`: re-spin it (or Spin Downstream)
                note = f"stale: {stale[step.name]}"
                status = f"{status} · {note}" if status else note
            lenses.append(
                types.CodeLens(
                    range=where,
                    command=types.Command(
                        title=_title("▶ Spin", status),
                        command="flowspin.spin",
                        arguments=[target],
                    ),
                )
            )
            if step.name in stale:
                lenses.append(
                    types.CodeLens(
                        range=where,
                        command=types.Command(
                            title="↓ Spin Downstream",
                            command="flowspin.spinDownstream",
                            arguments=[target],
                        ),
                    )
                )
            # Debug Step: the same spin, paused at the editor's breakpoints. "▷" (not "⏵"):
            # it is in the fonts that have "▶", where "⏵" is often missing (Linux).
            lenses.append(
                types.CodeLens(
                    range=where,
                    command=types.Command(
                        title="▷ Debug", command="flowspin.debugStep", arguments=[target]
                    ),
                )
            )
            run_status = _run_status(ls, flow_file, step.name)
            if run_status:
                lenses.append(
                    types.CodeLens(
                        range=where,
                        command=types.Command(
                            title=run_status, command="flowspin.showRunOutput", arguments=[]
                        ),
                    )
                )
            if step.name == flow.start_step:
                lenses.append(
                    types.CodeLens(
                        range=where,
                        command=types.Command(
                            title="▶ Run",
                            command="flowspin.run",
                            # `line` names the flow when a file holds several.
                            arguments=[{"uri": uri, "line": step.span.line - 1}],
                        ),
                    )
                )
            if step.cards:
                lenses.append(
                    types.CodeLens(
                        range=where,
                        command=types.Command(
                            title="Card", command="flowspin.showCard", arguments=[target]
                        ),
                    )
                )
    return lenses


def register(server: FlowspinServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    async def code_lens(ls: FlowspinServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        return await ls.work.request(
            params.text_document.uri, lambda doc, check: code_lenses(ls, doc, check)
        )
