"""Lookups over one parsed model, built once per parse and then answered without scanning.

The queries in `queries.py` are written for one question at a time: "which step is at this
line" walks the steps, "what is mentioned here" lists and sorts every mention. Editors ask such
questions on every keystroke and cursor move, and code lenses ask one per step, so on a flow of
thousands of steps the walks multiply into seconds. A `ModelIndex` does each walk once, when the
model is new, and keeps the answers in dictionaries keyed by line and by step name; its answers
are exactly those of the functions in `queries.py` (the tests compare them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flowspin.analysis.model import Flow, FlowModel, Step
from flowspin.analysis.queries import (
    ArtifactSource,
    StepMention,
    available_artifacts,
    first_line,
    own_steps,
    step_mentions,
)


@dataclass
class FlowIndex:
    """One flow's steps by line and its step mentions by line and by step name."""

    flow: Flow
    own: list[Step]
    first_lines: dict[str, int]  # step name -> `first_line(step, lines)`
    step_by_line: dict[int, Step]
    mentions_by_line: dict[int, list[StepMention]]
    mentions_by_step: dict[str, list[StepMention]]
    artifacts: dict[str, dict[str, ArtifactSource]] = field(default_factory=dict)


class ModelIndex:
    """Answers to the editor's per-position questions about `model`, read with `lines`.

    `lines` are the document's lines the model is shown in (they decide which decorator lines
    above a step belong to it, as in `queries.first_line`). Building is linear in the size of
    the model; every lookup is a dictionary access, except `available_artifacts`, which is
    linear in the flow's size once per step and then cached.
    """

    def __init__(self, model: FlowModel, lines: Sequence[str] | None) -> None:
        self.model = model
        self.lines = lines
        self.flows = {id(flow): _index_flow(flow, lines) for flow in model.flows}

    def of(self, flow: Flow) -> FlowIndex:
        found = self.flows.get(id(flow))
        if found is None:  # a flow of another model: index it on the side
            found = _index_flow(flow, self.lines)
            self.flows[id(flow)] = found
        return found

    def first_line(self, flow: Flow, step: Step) -> int:
        """`queries.first_line(step, lines)`, precomputed for the flow's steps."""
        known = self.of(flow).first_lines.get(step.name)
        return known if known is not None else first_line(step, self.lines)

    def step_at(self, line: int) -> tuple[Flow, Step] | None:
        """`queries.step_at(model, line, lines)`: the step whose decorators, `def` or body
        contain `line` (1-based)."""
        flow = self.model.flow_at(line)
        if flow is None:
            return None
        step = self.of(flow).step_by_line.get(line)
        return (flow, step) if step is not None else None

    def mention_at(self, line: int, col: int) -> tuple[Flow, StepMention] | None:
        """`queries.mention_at(model, line, col)`."""
        flow = self.model.flow_at(line)
        if flow is None:
            return None
        for mention in self.of(flow).mentions_by_line.get(line, ()):
            if mention.span.contains(line, col):
                return flow, mention
        return None

    def references(self, flow: Flow, step: str) -> list[StepMention]:
        """`queries.references(flow, step)`."""
        return list(self.of(flow).mentions_by_step.get(step, ()))

    def available_artifacts(self, flow: Flow, step: str) -> dict[str, ArtifactSource]:
        """`queries.available_artifacts(flow, step)`, computed once per step of this parse."""
        cache = self.of(flow).artifacts
        found = cache.get(step)
        if found is None:
            found = available_artifacts(flow, step)
            cache[step] = found
        return found


def _index_flow(flow: Flow, lines: Sequence[str] | None) -> FlowIndex:
    first_lines: dict[str, int] = {}
    step_by_line: dict[int, Step] = {}
    for step in flow.steps.values():  # in the model's order: the first step holding a line wins
        first = first_line(step, lines)
        first_lines[step.name] = first
        if step.file is not None:
            continue  # inherited from another file: its lines are that file's
        for line in range(first, step.span.end_line + 1):
            step_by_line.setdefault(line, step)
    by_line: dict[int, list[StepMention]] = {}
    by_step: dict[str, list[StepMention]] = {}
    for mention in step_mentions(flow):  # sorted by position: per-line lists stay sorted
        for line in range(mention.span.line, mention.span.end_line + 1):
            by_line.setdefault(line, []).append(mention)
        by_step.setdefault(mention.step, []).append(mention)
    return FlowIndex(flow, own_steps(flow), first_lines, step_by_line, by_line, by_step)
