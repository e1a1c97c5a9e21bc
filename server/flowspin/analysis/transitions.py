"""One `self.next(...)` call into a `Transition`, classified as Metaflow's `DAGNode._parse` does.

The graph, the lint rules and the editor's go-to-definition all rest on how a transition is
read (linear, split, foreach, parallel, switch, or invalid and why), so that reading is kept
apart from the walk over the step body that finds the calls.
"""

from __future__ import annotations

import ast

from flowspin.analysis.model import Span, Transition
from flowspin.analysis.nodes import is_self_attr, value_of
from flowspin.analysis.source import Source


def parse_transition(call: ast.Call, src: Source, is_tail: bool) -> Transition:
    """One `self.next(...)`, classified exactly as Metaflow's `DAGNode._parse` would."""
    keywords = {k.arg: k for k in call.keywords}
    span = src.span(call)
    if len(call.args) == 1 and isinstance(call.args[0], ast.Dict) and "condition" in keywords:
        return _parse_switch(call, call.args[0], keywords, span, src, is_tail)
    t = Transition(kind="linear", span=span, is_tail=is_tail)
    for arg in call.args:
        if is_self_attr(arg):
            assert isinstance(arg, ast.Attribute)
            t.targets.append(arg.attr)
            t.target_spans.append(src.span(arg))
        else:
            t.unresolved.append(src.span(arg))
    if None in keywords:
        t.unresolved.append(src.span(keywords[None]))
    problems: list[str] = []
    if t.unresolved:
        problems.append("every target must be written as self.<step_name>")
    if "foreach" in keywords:
        t.kind = "foreach"
        kw = keywords["foreach"]
        t.foreach_span = src.span(kw.value)
        value = kw.value.value if isinstance(kw.value, ast.Constant) else None
        if isinstance(value, str):
            t.foreach = value
        else:
            t.foreach = src.segment(kw.value)
            t.foreach_is_literal = False
    if "num_parallel" in keywords:
        t.kind = "parallel"
        kw = keywords["num_parallel"]
        t.num_parallel = value_of(kw.value, src)
    if "condition" in keywords:
        problems.append("a condition= needs a dict of cases as the only positional argument")
    other = [k for k in keywords if k not in ("foreach", "num_parallel", "condition")]
    if other:
        problems.append(
            "unsupported keyword(s) " + ", ".join(repr(k) if k else "**" for k in other)
        )
    if len(keywords) > 1 and not other:
        problems.append("use only one of foreach=, num_parallel= or condition=")
    if t.kind in ("foreach", "parallel"):
        if len(call.args) != 1:
            word = "foreach" if t.kind == "foreach" else "parallel"
            problems.append(f"a {word} split takes exactly one target step")
    elif not keywords:
        if not call.args:
            problems.append("self.next() needs at least one target step")
        elif len(call.args) > 1:
            t.kind = "split"
    if problems:
        t.valid = False
        t.invalid_reason = "; ".join(problems)
    return t


def _parse_switch(
    call: ast.Call,
    cases: ast.Dict,
    keywords: dict[str | None, ast.keyword],
    span: Span,
    src: Source,
    is_tail: bool,
) -> Transition:
    t = Transition(kind="switch", span=span, is_tail=is_tail, switch_cases={})
    problems: list[str] = []
    cond = keywords["condition"].value
    t.condition_span = src.span(cond)
    if isinstance(cond, ast.Constant) and isinstance(cond.value, str):
        t.condition = cond.value
    else:
        t.condition = src.segment(cond)
        problems.append("condition= must be a string literal naming an artifact")
    assert t.switch_cases is not None
    for key, value in zip(cases.keys, cases.values, strict=False):
        if key is None:
            problems.append("switch cases cannot use ** unpacking")
            continue
        if isinstance(key, ast.Constant):
            key_text = key.value if isinstance(key.value, str) else repr(key.value)
        elif (
            isinstance(key, ast.Attribute)
            and isinstance(key.value, ast.Attribute)
            and isinstance(key.value.value, ast.Name)
            and key.value.value.id == "self"
        ):
            key_text = src.segment(key)  # a config value: self.<config>.<key>
        else:
            key_text = src.segment(key)
            problems.append(
                f"switch key {key_text} must be a literal or a config value self.<config>.<key>"
            )
        if is_self_attr(value):
            assert isinstance(value, ast.Attribute)
            t.switch_cases[key_text] = value.attr
            t.targets.append(value.attr)
            t.target_spans.append(src.span(value))
        else:
            t.unresolved.append(src.span(value))
            problems.append(f"switch case {key_text} must map to self.<step_name>")
    if not cases.keys:
        problems.append("a switch needs at least one case")
    if problems:
        t.valid = False
        t.invalid_reason = "; ".join(dict.fromkeys(problems))
    return t
