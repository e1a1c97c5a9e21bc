"""What the runs engine needs to know about a flow file, from the static model (never an
import of user code): the flow's name, its steps in order, foreach edges, parameter names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class FlowFileError(Exception):
    """The file cannot be run: missing, not a file, or holds no Metaflow flow."""


@dataclass
class FlowTarget:
    path: Path
    flow: str
    step_names: list[str] = field(default_factory=list)
    foreach_children: dict[str, list[str]] = field(default_factory=dict)
    parameters: list[str] = field(default_factory=list)  # names as Metaflow's CLI takes them


def load_target(flow_file: str | Path) -> FlowTarget:
    from flowspin.analysis import parse_file

    path = Path(flow_file).expanduser()
    if not path.exists():
        raise FlowFileError(f"{path}: no such file; pass the path of a Metaflow flow file.")
    if not path.is_file():
        raise FlowFileError(f"{path}: not a file; pass the path of a Metaflow flow file.")
    path = path.resolve()
    try:
        model = parse_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowFileError(f"{path}: cannot be read ({exc}).") from exc
    flows = [f for f in model.flows if not getattr(f, "is_base", False)] or list(model.flows)
    if not flows:
        problem = getattr(model, "syntax_error", None)
        if problem is not None:
            line = getattr(getattr(problem, "span", None), "line", "?")
            raise FlowFileError(
                f"{path}:{line}: syntax error ({getattr(problem, 'message', problem)}); "
                "fix it, then run again."
            )
        raise FlowFileError(
            f"{path}: no Metaflow flow found (a class deriving from FlowSpec with @step "
            "methods); open the file that defines the flow."
        )
    # The flow a file runs is the first one its module-level code starts (`MyFlow()` under
    # `__main__`: Metaflow's CLI exits when that flow is done), else by convention the last.
    started = [f for name in model.instantiated for f in model.flows if f.name == name]
    flow = started[0] if started else flows[-1]
    children: dict[str, list[str]] = {}
    for name, step in flow.steps.items():
        for transition in step.transitions:
            if transition.foreach:
                children.setdefault(name, []).extend(transition.targets)
    return FlowTarget(
        path=path,
        flow=flow.name,
        step_names=list(flow.steps),
        foreach_children=children,
        parameters=[p.name for p in flow.parameters if p.kind == "Parameter"],
    )


def parameter_prompts(flow: Any) -> list[dict[str, Any]]:
    """What a "Run Flow" prompt asks for each Parameter of a statically parsed flow: its CLI
    name, its default as written in the source (never evaluated), its help and type."""
    from flowspin.analysis.model import Expr

    prompts: list[dict[str, Any]] = []
    for p in flow.parameters:
        if p.kind != "Parameter":
            continue
        default = None
        if p.has_default:
            default = p.default.source if isinstance(p.default, Expr) else repr(p.default)
        prompts.append(
            {"name": p.name, "attr": p.attr, "default": default, "help": p.help, "type": p.type}
        )
    return prompts
