"""Quick fixes on flowspin's own diagnostics: "Spin 'train'" on a failed run task (the fast
way to reproduce and fix it), "Spin 'train' again" on a failed spin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from flowspin.lsp.running import RUN_ERROR, diagnostic_data
from flowspin.lsp.spinning import SPIN_ERROR

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer


def code_actions(ls: FlowspinServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """"Spin this step" on a failed run task (and "Spin again" on a failed spin)."""
    actions: list[types.CodeAction] = []
    for diag in params.context.diagnostics:
        data = diagnostic_data(diag)
        step, flow_uri = data.get("step"), data.get("flowUri")
        if diag.code not in (RUN_ERROR, SPIN_ERROR) or not step or not flow_uri:
            continue
        title = f"Spin this step ('{step}')" if diag.code == RUN_ERROR else f"Spin '{step}' again"
        actions.append(
            types.CodeAction(
                title=title,
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diag],
                command=types.Command(
                    title=title,
                    command="flowspin.spin",
                    arguments=[{"uri": flow_uri, "step": step}],
                ),
            )
        )
    return actions


def register(server: FlowspinServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def on_code_action(
        ls: FlowspinServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        return code_actions(ls, params)
