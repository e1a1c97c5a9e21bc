"""The model queries behind hover and completion, on branching flows (pure functions, no
server): which upstream steps write an artifact, where a step is mentioned."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowspin.analysis import parse_source
from flowspin.analysis.index import ModelIndex
from flowspin.analysis.queries import (
    ancestors,
    artifact_source,
    available_artifacts,
    mention_at,
    references,
    step_at,
)
from lsp_support import TRAIN_FLOW, big_flow, source

CORPUS = Path(__file__).parent / "corpus"

BRANCHES = source(
    """
    from metaflow import Config, FlowSpec, Parameter, step


    class BranchFlow(FlowSpec):
        lr = Parameter("lr", default=0.1)
        cfg = Config("cfg", default="cfg.json")

        @step
        def start(self):
            self.x = 1
            self.next(self.a, self.b)

        @step
        def a(self):
            self.y = self.x + 1
            self.next(self.join)

        @step
        def b(self):
            self.y = self.x + 2
            self.z = 3
            self.next(self.join)

        @step
        def join(self, inputs):
            self.merge_artifacts(inputs, exclude=["y"])
            self.next(self.end)

        @step
        def end(self):
            print(self.z)
    """
)


def _line(needle: str, occurrence: int = 0) -> int:
    """1-based line of the `occurrence`-th line containing `needle`."""
    hits = [n for n, text in enumerate(BRANCHES.splitlines(), 1) if needle in text]
    return hits[occurrence]


def test_both_branches_are_upstream_writers() -> None:
    flow = parse_source(BRANCHES).flows[0]
    assert ancestors(flow, "end") == ["join", "a", "b", "start"]
    found = artifact_source(flow, "join", "y")
    assert [(step, span.line) for step, span in found.writers] == [
        ("a", _line("self.y = self.x + 1")),
        ("b", _line("self.y = self.x + 2")),
    ]
    assert found.parameter is None and found.written_here is None


def test_parameters_and_configs_complete_with_artifacts() -> None:
    flow = parse_source(BRANCHES).flows[0]
    available = available_artifacts(flow, "a")
    assert list(available) == ["cfg", "lr", "x", "y"]
    assert available["cfg"].parameter.kind == "Config"
    assert available["lr"].parameter.kind == "Parameter"
    assert available["y"].written_here is not None and available["y"].writers == []


def test_mentions_and_references() -> None:
    model = parse_source(BRANCHES)
    flow = model.flows[0]
    line = _line("self.next(self.a, self.b)")
    col = BRANCHES.splitlines()[line - 1].index("self.b") + 5
    _, mention = mention_at(model, line, col)
    assert (mention.step, mention.is_definition) == ("b", False)
    assert [(m.span.line, m.is_definition) for m in references(flow, "join")] == [
        (_line("self.next(self.join)"), False),
        (_line("self.next(self.join)", 1), False),
        (_line("def join"), True),
    ]


def test_step_at_counts_the_step_decorator() -> None:
    model = parse_source(BRANCHES)
    lines = BRANCHES.splitlines(keepends=True)
    decorator = _line("def a(self)") - 1
    assert step_at(model, decorator, lines)[1].name == "a"
    assert step_at(model, _line("cfg = Config"), lines) is None


def _one_by_one(flow, step: str) -> dict:
    """`available_artifacts` as it was first written: `artifact_source` name by name."""
    names = {p.attr for p in flow.parameters}
    for upstream in ancestors(flow, step) + [step]:
        names.update(a.name for a in flow.steps[upstream].writes)
    return {name: artifact_source(flow, step, name) for name in sorted(names)}


@pytest.mark.parametrize(
    "text",
    [BRANCHES, TRAIN_FLOW, big_flow(60)]
    + [p.read_text() for p in sorted((CORPUS / "valid").glob("*.py"))],
    ids=lambda text: text.split("class ", 1)[-1].split("(", 1)[0][:30],
)
def test_the_index_answers_as_the_queries_do(text: str) -> None:
    """The index built once per parse gives the per-question walks' answers everywhere."""
    model = parse_source(text)
    lines = text.splitlines(keepends=True)
    index = ModelIndex(model, lines)
    for flow in model.flows:
        for name in flow.steps:
            expected = _one_by_one(flow, name)
            assert available_artifacts(flow, name) == expected
            assert index.available_artifacts(flow, name) == expected
            assert index.references(flow, name) == references(flow, name)
    for line in range(1, len(lines) + 2):
        assert index.step_at(line) == step_at(model, line, lines)
        for col in range(len(lines[line - 1]) if line <= len(lines) else 1):
            assert index.mention_at(line, col) == mention_at(model, line, col)


def test_steps_of_a_base_in_another_file_hold_no_line_here(tmp_path: Path) -> None:
    """An inherited step's span is a position in its own file: never a step at a line here."""
    (tmp_path / "base.py").write_text(
        source(
            """
            from metaflow import FlowSpec, step


            class Base(FlowSpec):
                @step
                def start(self):
                    self.x = 1
                    self.next(self.end)

                @step
                def end(self):
                    pass
            """
        )
    )
    text = source(
        """
        from metaflow import Parameter

        from base import Base


        class Child(Base):
            lr = Parameter("lr", default=0.1)
            size = Parameter("size", default=3)
            seed = Parameter("seed", default=1)
            name = Parameter("name", default="x")
            rate = Parameter("rate", default=0.5)
        """
    )
    path = tmp_path / "child.py"
    path.write_text(text)
    model = parse_source(text, str(path))
    flow = model.flows[0]
    assert flow.steps["start"].file is not None  # read from base.py
    lines = text.splitlines(keepends=True)
    index = ModelIndex(model, lines)
    for line in range(1, len(lines) + 1):  # base.py's step lines fall inside Child's body
        assert step_at(model, line, lines) is None
        assert index.step_at(line) is None
