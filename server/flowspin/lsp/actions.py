"""Quick fixes on flowspin's own diagnostics: "Spin 'train'" on a failed run task (the fast
way to reproduce and fix it), "Spin 'train' again" on a failed spin, and on both "Debug this
step": the same task spun again under the debugger, stopping at the raising line (post-mortem).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from flowspin.lsp.running import RUN_ERROR, diagnostic_data
from flowspin.lsp.spinning import SPIN_ERROR

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

# The end of a run task's diagnostic message: "(run 1712, task train/4)" (see `running`).
_RUN_TASK = re.compile(r"\(run (?P<run>[^,\s]+), task (?P<step>[^/\s]+)/(?P<task>[^)\s]+)\)\s*$")


def code_actions(ls: FlowspinServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """"Spin this step" on a failed run task (and "Spin again" on a failed spin), then
    "Debug this step" on either."""
    actions: list[types.CodeAction] = []
    for diag in params.context.diagnostics:
        data = diagnostic_data(diag)
        step, flow_uri = data.get("step"), data.get("flow_uri")
        if diag.code not in (RUN_ERROR, SPIN_ERROR) or not step or not flow_uri:
            continue
        title = f"Spin this step ('{step}')" if diag.code == RUN_ERROR else f"Spin '{step}' again"
        actions.append(_action(title, diag, "flowspin.spin", {"uri": flow_uri, "step": step}))
        target = {"uri": flow_uri, "step": step, "post_mortem": True}
        if diag.code == RUN_ERROR:
            target.update(_run_task(ls, flow_uri, step, data, diag.message))
        else:
            target.update(_spun_split(ls, flow_uri, step))
        title = f"Debug this step ('{step}')"
        actions.append(_action(title, diag, "flowspin.debugStep", target))
    return actions


def _action(
    title: str, diag: types.Diagnostic, command: str, argument: dict[str, Any]
) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diag],
        command=types.Command(title=title, command=command, arguments=[argument]),
    )


def _spun_split(ls: FlowspinServer, flow_uri: str, step: str) -> dict[str, Any]:
    """The failed spin's foreach split, so the debug spin re-spins that one (the inputs are
    the ones a spin again would take: the same base run, or the same chained spins)."""
    with ls.spins.lock:
        latest = ls.spins.results.get((flow_uri, step))
    split = latest[1].split_index if latest is not None else None
    return {"split": split} if split is not None else {}


def _run_task(
    ls: FlowspinServer, flow_uri: str, step: str, data: dict[str, Any], message: str
) -> dict[str, Any]:
    """The failed task itself (`task`: Flow/run/step/task), so the debug spin has its very
    inputs and split; its run (`run`) when the task id is not known."""
    found = _RUN_TASK.search(message or "")
    run_id = data.get("run_id") or (found.group("run") if found else None)
    task_id = data.get("task_id")
    if task_id is None and found is not None and found.group("step") == step:
        task_id = found.group("task")
    if not run_id:
        return {}
    flow = _flow_name(ls, flow_uri, step)
    if task_id is not None and flow:
        return {"task": f"{flow}/{run_id}/{step}/{task_id}"}
    return {"run": str(run_id)}


def _flow_name(ls: FlowspinServer, flow_uri: str, step: str) -> str | None:
    try:
        doc = ls.workspace.get_text_document(flow_uri)
        model = ls.state.models.navigation_model(doc)
    except Exception:  # a document that cannot be read: no pathspec, the run id instead
        return None
    flows = model.flows if model is not None else []
    return next((f.name for f in flows if step in f.steps), None)


def register(server: FlowspinServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def on_code_action(
        ls: FlowspinServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        return code_actions(ls, params)
