"""A flow class, with the bases it builds on, into a `Flow`: steps, Parameters, members.

Python resolves a name to the first class in lookup order that defines it, and within a class
body to the last definition; Metaflow then treats steps, Parameters/Configs and plain class
attributes differently. This module applies those rules over the classes `inheritance.py`
lines up, so the model holds what `python flow.py` would see, plus what it silently drops
(steps defined twice, a step hiding a Parameter) for the rules to report.
"""

from __future__ import annotations

import ast

from flowspin.analysis.inheritance import base_names, linearize
from flowspin.analysis.model import Flow, ParameterDef, Step
from flowspin.analysis.modules import Module, Resolver
from flowspin.analysis.nodes import dotted_tail, is_self_attr, literal_kind, value_of, walk
from flowspin.analysis.source import Source, name_span
from flowspin.analysis.steps import parse_step

# Class attributes Metaflow turns into command-line options (IncludeFile is a Parameter).
PARAMETER_KINDS = {"Parameter": "Parameter", "IncludeFile": "Parameter", "Config": "Config"}


def _source_of(module: Module) -> Source:
    """The module's `Source`, made once: a base file is read for every flow built on it."""
    if module.src is None:
        module.src = Source(module.text)
    return module.src


def parse_flow(cls: ast.ClassDef, main: Module, resolver: Resolver | None) -> Flow:
    """The flow `cls` of `main`, its bases' steps and attributes merged in (steps of a base
    in another file keep that file, so findings and go-to-definition can point there)."""
    src = _source_of(main)
    flow = Flow(
        name=cls.name,
        span=src.span(cls),
        name_span=name_span(cls, src, "class"),
        bases=base_names(cls),
        decorators=[dotted_tail(d) or src.segment(d) for d in cls.decorator_list],
    )
    order, flow.unresolved_bases = linearize(cls, main, resolver)
    flow.has_external_bases = bool(flow.unresolved_bases)
    flow.base_files = list(dict.fromkeys(m.path for m, _ in order if m is not main))
    # The first class in lookup order that defines a name wins, as attribute lookup does;
    # inside one class body the last definition wins. Parameters are kept even when a step
    # reuses their name, so the clash can be reported instead of silently lost.
    claimed: set[str] = set()
    claimed_params: set[str] = set()
    steps: list[Step] = []
    for module, owner in order:
        osrc = _source_of(module)
        file = None if module is main else module.path
        if owner is not cls:  # a base's flow decorators (a FlowMutator...) apply too
            flow.decorators += [dotted_tail(d) or osrc.segment(d) for d in owner.decorator_list]
        for node in reversed(owner.body):
            for name, kind in _defined_names(node):
                if kind == "param":
                    assert isinstance(node, (ast.Assign, ast.AnnAssign))
                    if name not in claimed_params:
                        claimed_params.add(name)
                        param = _parse_parameter(name, node, osrc)
                        if param:
                            param.file = file
                            flow.parameters.append(param)
                    if name not in claimed:
                        flow.members.setdefault(name, osrc.span(node))
                    continue
                if name in claimed:
                    if kind == "step" and owner is cls:
                        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        flow.duplicates.append((name, name_span(node, osrc, "def")))
                    elif kind == "member" and isinstance(
                        node, (ast.FunctionDef, ast.AsyncFunctionDef)
                    ):
                        # An overridden method may still run (`super().__init__(...)`).
                        flow.helper_writes.update(_self_stores(node))
                    continue
                claimed.add(name)
                if kind == "step":
                    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    step = parse_step(node, osrc)
                    if owner is not cls:
                        step.defined_in = owner.name
                    step.file = file
                    steps.append(step)
                else:
                    flow.members[name] = osrc.span(node)
                    if (
                        isinstance(node, (ast.Assign, ast.AnnAssign))
                        and not name.startswith("_")  # Metaflow leaves those writable
                        and node.value is not None
                        and literal_kind(node.value) is not None
                    ):
                        flow.constants.add(name)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        flow.helper_writes.update(_self_stores(node))
    flow.parameters.sort(key=lambda p: (p.file is not None, p.span.line))
    flow.duplicates.sort(key=lambda d: d[1].line)
    steps.sort(key=lambda s: (s.defined_in is not None, s.file is not None, s.span.line))
    flow.steps = {s.name: s for s in steps}
    return flow


def _self_stores(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Attributes a method assigns on `self`."""
    return {
        sub.attr
        for sub in walk(node.body)
        if isinstance(sub, ast.Attribute) and is_self_attr(sub) and isinstance(sub.ctx, ast.Store)
    }


def _defined_names(node: ast.stmt) -> list[tuple[str, str]]:
    """(name, kind) pairs a class-body statement defines; kind is step, param or member."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        is_step = any(dotted_tail(d) == "step" for d in node.decorator_list)
        return [(node.name, "step" if is_step else "member")]
    if isinstance(node, ast.ClassDef):
        return [(node.name, "member")]
    targets: list[ast.expr] = []
    value: ast.expr | None = None
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value
    elif isinstance(node, ast.AugAssign):
        targets = [node.target]
    names: list[str] = []
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.append(sub.id)
    is_param = (
        isinstance(value, ast.Call)
        and dotted_tail(value.func) in PARAMETER_KINDS
        and len(names) == 1
    )
    return [(n, "param" if is_param else "member") for n in names]


def _parse_parameter(
    attr: str, node: ast.Assign | ast.AnnAssign, src: Source
) -> ParameterDef | None:
    call = node.value
    if not isinstance(call, ast.Call):
        return None
    kind = PARAMETER_KINDS[dotted_tail(call.func) or "Parameter"]
    name: str = attr
    if call.args:
        value = value_of(call.args[0], src)
        name = value if isinstance(value, str) else attr
    kwargs = {k.arg: k.value for k in call.keywords if k.arg}
    if "name" in kwargs:
        value = value_of(kwargs["name"], src)
        name = value if isinstance(value, str) else name
    param = ParameterDef(attr=attr, name=name, kind=kind, span=src.span(node))  # type: ignore[arg-type]
    if "default" in kwargs:
        param.default = value_of(kwargs["default"], src)
        param.has_default = True
    elif "default_value" in kwargs:  # Config(..., default_value=...)
        param.default = value_of(kwargs["default_value"], src)
        param.has_default = True
    if "help" in kwargs:
        help_value = value_of(kwargs["help"], src)
        param.help = help_value if isinstance(help_value, str) else None
    if "type" in kwargs:
        param.type = src.segment(kwargs["type"])
    return param
