"""Static analysis of flow files: parse (never import) into a `FlowModel`, then lint it.

Public surface (everything else in this package is internal):

- `parse_source(source, path="<string>") -> FlowModel`
- `parse_file(path) -> FlowModel`
- `check_model(model) -> list[Diagnostic]` all diagnostics of a file (syntax error included)
- `check_source(source, path="<string>") -> tuple[FlowModel, list[Diagnostic]]`
- the model types re-exported from `flowspin.analysis.model`
"""

from flowspin.analysis.model import (
    ArtifactAccess,
    Decorator,
    Diagnostic,
    Expr,
    Flow,
    FlowModel,
    ParameterDef,
    Span,
    Step,
    SyntaxProblem,
    Transition,
)
from flowspin.analysis.parser import parse_file, parse_source
from flowspin.analysis.rules import check_model, check_source

__all__ = [
    "ArtifactAccess",
    "Decorator",
    "Diagnostic",
    "Expr",
    "Flow",
    "FlowModel",
    "ParameterDef",
    "Span",
    "Step",
    "SyntaxProblem",
    "Transition",
    "check_model",
    "check_source",
    "parse_file",
    "parse_source",
]
