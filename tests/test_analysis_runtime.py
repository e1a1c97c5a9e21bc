"""Rules for mistakes Metaflow's `check` lets through and a run then fails on. Each rule is
shown against a real `python flow.py run` failing the same way, and against the variants a
run accepts (no false errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_metaflow, write_flow
from flowspin.analysis import check_source

PARAMETER = """
from metaflow import FlowSpec, Parameter, step


class ParamFlow(FlowSpec):
    lr = Parameter("lr", default=0.1)
    SCALE = 3

    @step
    def start(self):
        self.lr = self.lr / 10
        self.next(self.end)

    @step
    def end(self):
        if self.lr > 1:
            self.SCALE = 2
"""

CONSTANT = """
from metaflow import FlowSpec, step


class ConstantFlow(FlowSpec):
    SCALE = 3

    @step
    def start(self):
        self.SCALE += 1
        self.next(self.end)

    @step
    def end(self):
        pass
"""

CONFIG = """
from metaflow import Config, FlowSpec, step


class CfgFlow(FlowSpec):
    cfg = Config("cfg", default_value={"a": 1})

    @step
    def start(self):
        self.cfg = {"a": 2}
        self.next(self.end)

    @step
    def end(self):
        pass
"""

JOIN = """
from metaflow import FlowSpec, step


class JoinFlow(FlowSpec):
    @step
    def start(self):
        self.models = ["a", "bb"]
        self.next(self.train, foreach="models")

    @step
    def train(self):
        self.accuracy = len(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.scores = [i.accuracy for i in inputs]
        self.winner = self.accuracy
        self.next(self.end)

    @step
    def end(self):
        pass
"""

INPUT = """
from metaflow import FlowSpec, step


class InputFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.value = self.input + 1
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = self.input + 1
        self.next(self.end)

    @step
    def end(self):
        pass
"""

FOREACH = """
from metaflow import FlowSpec, step


class ForeachValueFlow(FlowSpec):
    @step
    def start(self):
        self.items = {value}
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""

MAIN = "\n\nif __name__ == '__main__':\n    {name}()\n"


def found(source: str) -> list[tuple[str, str, int]]:
    return [(d.rule, d.severity, d.span.line) for d in check_source(source.lstrip())[1]]


def run_fails_with(workdir: Path, source: str, name: str, text: str) -> None:
    flow = write_flow(workdir, source + MAIN.format(name=name))
    proc = run_metaflow(flow, "run", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and text in output, output[-2000:]


def test_assigning_a_parameter_or_class_attribute() -> None:
    assert found(PARAMETER) == [
        ("modifies-parameter", "error", 10),
        ("modifies-parameter", "warning", 16),  # under an `if`: may not run
    ]
    assert found(CONSTANT) == [("modifies-parameter", "error", 9)]
    assert found(CONFIG) == [("modifies-parameter", "error", 9)]
    fixed = PARAMETER.replace("self.lr = self.lr / 10", "self.rate = self.lr / 10")
    assert found(fixed.replace("self.SCALE = 2", "self.scale = 2")) == []
    private = CONSTANT.replace("SCALE", "_scale")  # Metaflow skips names starting with _
    assert found(private) == []


@pytest.mark.metaflow
def test_metaflow_run_fails_assigning_a_parameter(workdir: Path) -> None:
    message = "Flow level attributes and Parameters are not modifiable"
    run_fails_with(workdir, PARAMETER, "ParamFlow", message)
    run_fails_with(workdir, CONSTANT, "ConstantFlow", message)
    run_fails_with(workdir, CONFIG, "CfgFlow", message)
    private = CONSTANT.replace("SCALE", "_scale")
    run_metaflow(write_flow(workdir, private + MAIN.format(name="ConstantFlow")), "run")


def test_a_join_reading_what_it_neither_merged_nor_set() -> None:
    assert found(JOIN) == [("join-unmerged-artifact", "error", 18)]
    ok = [
        JOIN.replace("self.winner = self.accuracy", "self.winner = inputs[0].accuracy"),
        JOIN.replace("self.scores = [i.accuracy for i in inputs]", "self.merge_artifacts(inputs)"),
        JOIN.replace(
            "self.scores = [i.accuracy for i in inputs]",
            "self.merge_artifacts(inputs, include=['accuracy'])",
        ),
        JOIN.replace(
            "self.scores = [i.accuracy for i in inputs]",
            "self.accuracy = max(i.accuracy for i in inputs)",
        ),
    ]
    for source in ok:
        assert found(source) == [], source
    # merged, but other names only
    only_models = JOIN.replace(
        "self.scores = [i.accuracy for i in inputs]",
        "self.merge_artifacts(inputs, include=['models'])",
    )
    assert found(only_models) == [("join-unmerged-artifact", "error", 18)]


@pytest.mark.metaflow
def test_metaflow_run_fails_when_a_join_reads_an_unmerged_artifact(workdir: Path) -> None:
    run_fails_with(workdir, JOIN, "JoinFlow", "has no attribute 'accuracy'")


@pytest.mark.metaflow
def test_metaflow_run_accepts_the_merged_join(workdir: Path) -> None:
    merged = JOIN.replace(
        "self.scores = [i.accuracy for i in inputs]",
        "self.merge_artifacts(inputs, include=['models'])\n"
        "        self.accuracy = max(i.accuracy for i in inputs)",
    )
    assert found(merged) == []
    run_metaflow(write_flow(workdir, merged + MAIN.format(name="JoinFlow")), "run")


def test_self_input_outside_a_foreach_body() -> None:
    assert found(INPUT) == [("input-outside-foreach", "warning", 17)]
    nested = """
from metaflow import FlowSpec, step


class NestedFlow(FlowSpec):
    @step
    def start(self):
        self.outer = [1, 2]
        self.next(self.mid, foreach="outer")

    @step
    def mid(self):
        self.inner = [3]
        self.next(self.leaf, foreach="inner")

    @step
    def leaf(self):
        self.x = self.input
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.y = self.input  # still inside the outer foreach
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""
    assert found(nested) == []


@pytest.mark.metaflow
def test_metaflow_run_fails_using_self_input_outside_a_foreach(workdir: Path) -> None:
    run_fails_with(workdir, INPUT, "InputFlow", "unsupported operand type(s) for +: 'NoneType'")


def test_a_foreach_over_a_value_that_is_no_sequence() -> None:
    for value in ("5", "None", "[]", "''"):
        assert found(FOREACH.format(value=value)) == [("invalid-foreach-value", "error", 7)]
    for value in ("[1, 2]", "range(3)", "'ab'", "load()"):
        assert found(FOREACH.format(value=value)) == [], value
    later = FOREACH.format(value="5").replace(
        'self.next(self.body, foreach="items")',
        'self.items = [1]\n        self.next(self.body, foreach="items")',
    )
    assert found(later) == []


@pytest.mark.metaflow
def test_metaflow_run_fails_on_a_foreach_over_no_sequence(workdir: Path) -> None:
    run_fails_with(workdir, FOREACH.format(value="5"), "ForeachValueFlow", "is not iterable")
    run_fails_with(workdir, FOREACH.format(value="[]"), "ForeachValueFlow", "zero splits")


UPSTREAM = """
from metaflow import FlowSpec, step


class UpstreamValueFlow(FlowSpec):
    @step
    def start(self):
        self.items = 0
        self.next(self.prepare)

    @step
    def prepare(self):
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_a_foreach_over_a_value_set_upstream() -> None:
    (diag,) = check_source(UPSTREAM.lstrip())[1]
    assert (diag.rule, diag.step, diag.span.line, diag.related) == (
        "invalid-foreach-value",
        "start",
        7,
        ["prepare"],
    )
    assert "(set in 'start')" in diag.message
    # Set again on the way (by a step that may set anything): not provable, no finding.
    again = UPSTREAM.replace(
        "    def prepare(self):\n", "    def prepare(self):\n        setattr(self, 'items', [1])\n"
    )
    assert found(again) == []


@pytest.mark.metaflow
def test_metaflow_run_fails_on_a_foreach_over_a_value_set_upstream(workdir: Path) -> None:
    run_fails_with(workdir, UPSTREAM, "UpstreamValueFlow", "is not iterable")
