"""Code lenses above each step: Spin (every step), Run (start step), Card (steps with @card).

The lens commands are the extension's own command ids; it decides how to run them (saving
the file first, showing progress). A step's last status, when known, follows the title.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from flowspin.analysis.queries import first_line, own_steps

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def _title(label: str, status: str | None) -> str:
    return f"{label}  {status}" if status else label


def _run_status(ls: FlowspinServer, flow_file: Path | None, step: str) -> str | None:
    """The step's status in the file's latest run from the editor (see `running`)."""
    runs = getattr(ls, "runs", None)
    if runs is None or flow_file is None:
        return None
    return runs.lens(flow_file, step)


def code_lenses(ls: FlowspinServer, uri: str) -> list[types.CodeLens]:
    doc = ls.workspace.get_text_document(uri)
    model = ls.state.models.navigation_model(doc)
    if model is None:
        return []
    lenses: list[types.CodeLens] = []
    flow_file = Path(doc.path).resolve() if doc.path else None  # once, not once per step
    for flow in model.flows:
        for step in own_steps(flow):
            line = first_line(step, doc.lines) - 1
            where = types.Range(
                start=types.Position(line=line, character=0),
                end=types.Position(line=line, character=0),
            )
            target = {"uri": uri, "step": step.name}
            status = ls.state.step_status.get((uri, step.name))
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
    def code_lens(ls: FlowspinServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        return code_lenses(ls, params.text_document.uri)
