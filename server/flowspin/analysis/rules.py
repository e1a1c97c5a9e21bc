"""Lint rules over a `FlowModel`: every check of Metaflow 2.19's linter plus flowspin's own.

Metaflow stops at the first problem; here every rule runs and reports everything it finds, so a
user fixes a broken flow in one pass. Each rule is a generator over one flow, run in isolation:
a bug in one rule becomes an `internal-error` hint and never hides the others. Rule ids are a
stable contract (CLI JSON, LSP diagnostic codes); `RULES` documents them.

This module runs the rules; they live by what they check in `rules_steps`, `rules_transitions`,
`rules_joins`, `rules_artifacts` and `rules_runtime`, on the shared `rules_context`.
"""

from __future__ import annotations

import os

from flowspin.analysis import (
    rules_artifacts,
    rules_joins,
    rules_runtime,
    rules_steps,
    rules_transitions,
)
from flowspin.analysis.model import Diagnostic, Flow, FlowModel
from flowspin.analysis.modules import Reader
from flowspin.analysis.parser import parse_source
from flowspin.analysis.rules_context import RULES, Rule, RuleContext

__all__ = ["ALL_RULES", "LOCAL_RULES", "RULES", "Rule", "check_flow", "check_model", "check_source"]

# Every rule, in the order they run (findings are then sorted by position and rule id).
ALL_RULES: tuple[Rule, ...] = (
    rules_steps.reserved_names,
    rules_steps.start_and_end,
    rules_steps.start_has_incoming,
    rules_steps.end_is_end,
    rules_steps.step_names,
    rules_steps.num_args,
    rules_transitions.static_transitions,
    rules_transitions.misplaced_transitions,
    rules_transitions.valid_transitions,
    rules_transitions.unknown_transitions,
    rules_transitions.cycles,
    rules_transitions.orphans,
    rules_joins.split_join_balance,
    rules_joins.switch_shape,
    rules_joins.empty_foreaches,
    rules_joins.parallel_rules,
    rules_joins.ambiguous_joins,
    rules_steps.step_shadows_parameter,
    rules_steps.duplicate_steps,
    rules_artifacts.undefined_artifacts,
    rules_steps.unresolved_bases,
    rules_runtime.modifies_parameter,
    rules_artifacts.join_unmerged_artifacts,
    rules_runtime.input_outside_foreach,
    rules_runtime.invalid_foreach_value,
)


# Rules that look at one step at a time: they still run when the graph is only partly known.
LOCAL_RULES = {
    "reserved_names",
    "step_names",
    "num_args",
    "static_transitions",
    "misplaced_transitions",
    "valid_transitions",
    "switch_shape",
    "step_shadows_parameter",
    "duplicate_steps",
    "unresolved_bases",
    "modifies_parameter",
    "invalid_foreach_value",
}


def check_flow(flow: Flow) -> list[Diagnostic]:
    """All diagnostics of one flow, each rule isolated from the others' failures."""
    if flow.is_base:
        return []
    try:
        ctx = RuleContext(flow)
    except Exception as exc:  # noqa: BLE001 - a broken model must not crash the editor
        return [_internal(flow, "graph", exc)]
    found: list[Diagnostic] = []
    for rule in ALL_RULES:
        if ctx.partial and rule.__name__ not in LOCAL_RULES:
            continue
        try:
            found.extend(rule(ctx))
        except Exception as exc:  # noqa: BLE001 - one buggy rule must not hide the others
            found.append(_internal(flow, rule.__name__, exc))
    found = [_relocated(flow, d) for d in found if (d.rule, d.step or "") not in ctx.knock_ons]
    found.sort(key=lambda d: (d.span.line, d.span.col, d.rule))
    return found


def _relocated(flow: Flow, diag: Diagnostic) -> Diagnostic:
    """A finding about a step written in another file (a base flow or mixin) goes on the
    flow's class name, where this file can show it; the message and `origin` say where the
    step is."""
    step = flow.steps.get(diag.step or "")
    if step is None or step.file is None:
        return diag
    name = os.path.basename(step.file)
    diag.origin = (step.file, diag.span)
    diag.message = (
        f"{diag.message} (In step '{step.name}' of {step.defined_in or 'a base'}, "
        f"{name} line {diag.span.line}.)"
    )
    diag.span = flow.name_span
    return diag


def _internal(flow: Flow, where: str, exc: Exception) -> Diagnostic:
    return Diagnostic(
        rule="internal-error",
        severity="hint",
        message=f"flowspin could not run check '{where}' on this flow ({exc!r}); "
        "other checks still ran. Please report this.",
        span=flow.name_span,
        flow=flow.name,
    )


def check_model(model: FlowModel) -> list[Diagnostic]:
    if model.syntax_error is not None:
        problem = model.syntax_error
        return [
            Diagnostic(
                rule="syntax-error",
                severity="error",
                message=f"Syntax error: {problem.message}. Fix it to see the flow's checks.",
                span=problem.span,
            )
        ]
    found: list[Diagnostic] = []
    for flow in model.flows:
        found.extend(check_flow(flow))
    return found


def check_source(
    source: str, path: str = "<string>", read: Reader | None = None
) -> tuple[FlowModel, list[Diagnostic]]:
    """Parse and check; `read` as for `parse_source` (how other project files are read)."""
    model = parse_source(source, path, read)
    return model, check_model(model)
