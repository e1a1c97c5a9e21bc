"""Questions editors ask about a parsed flow: what is under this position, who writes this
artifact upstream, where is this step mentioned.

Pure functions over the `FlowModel` so the language server, the CLI and agents share one
answer; positions are the model's (1-based lines, 0-based columns).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from flowspin.analysis.model import ArtifactAccess, Flow, FlowModel, ParameterDef, Span, Step


@dataclass(frozen=True)
class StepMention:
    """A place in the source that names a step: its `def`, or a `self.next` target."""

    step: str
    span: Span
    is_definition: bool


def first_line(step: Step, lines: Sequence[str] | None = None) -> int:
    """The first source line of a step, decorators included (where a code lens belongs).

    The model keeps no span for `@step` itself; given the source `lines`, decorator lines
    directly above the first known one (such as `@step`) are included too.
    """
    first = min([step.span.line] + [d.span.line for d in step.decorators])
    if lines is not None:
        while first > 1 and first - 2 < len(lines) and lines[first - 2].lstrip().startswith("@"):
            first -= 1
    return first


def step_at(model: FlowModel, line: int, lines: Sequence[str]) -> tuple[Flow, Step] | None:
    """The step whose decorators (`@step` included), `def` or body contain `line`."""
    flow = model.flow_at(line)
    if flow is None:
        return None
    for step in flow.steps.values():
        if step.file is not None:
            continue  # inherited from another file: its lines are that file's
        if first_line(step, lines) <= line <= step.span.end_line:
            return flow, step
    return None


def own_steps(flow: Flow) -> list[Step]:
    """Steps written inside this flow's class body (inherited ones belong to their base)."""
    return [s for s in flow.steps.values() if not s.defined_in or s.defined_in == flow.name]


def step_mentions(flow: Flow) -> list[StepMention]:
    """Every definition of and transition to a step of `flow`, in source order."""
    mentions: list[StepMention] = []
    for step in own_steps(flow):
        mentions.append(StepMention(step.name, step.name_span, True))
        for transition in step.transitions:
            for name, span in zip(transition.targets, transition.target_spans, strict=False):
                mentions.append(StepMention(name, span, False))
    mentions.sort(key=lambda m: (m.span.line, m.span.col))
    return mentions


def mention_at(model: FlowModel, line: int, col: int) -> tuple[Flow, StepMention] | None:
    """The step name under a position (on a `def` or inside `self.next(...)`), if any."""
    flow = model.flow_at(line)
    if flow is None:
        return None
    for mention in step_mentions(flow):
        if mention.span.contains(line, col):
            return flow, mention
    return None


def references(flow: Flow, step: str) -> list[StepMention]:
    """The definition of `step` and all transitions that lead to it."""
    return [m for m in step_mentions(flow) if m.step == step]


def ancestors(flow: Flow, step: str) -> list[str]:
    """All steps that run before `step` in every path of the DAG, nearest first."""
    seen: set[str] = set()
    order: list[str] = []
    queue = deque(flow.steps[step].in_steps if step in flow.steps else [])
    while queue:
        name = queue.popleft()
        if name in seen or name not in flow.steps:
            continue
        seen.add(name)
        order.append(name)
        queue.extend(flow.steps[name].in_steps)
    return order


def artifact_access_at(step: Step, line: int, col: int) -> ArtifactAccess | None:
    """The `self.<name>` read or write under a position inside `step`."""
    for access in step.writes + step.reads:
        if access.span.contains(line, col):
            return access
    return None


@dataclass(frozen=True)
class ArtifactSource:
    """Where a step's `self.<name>` may come from."""

    name: str
    writers: list[tuple[str, Span]]  # upstream steps that assign it, with the first assignment
    written_here: Span | None  # first assignment inside the step itself
    parameter: ParameterDef | None  # a Parameter/Config attribute of the flow


def artifact_source(flow: Flow, step: str, name: str) -> ArtifactSource:
    """Upstream writers, own assignment and flow-level Parameter/Config for `self.<name>`."""
    writers: list[tuple[str, Span]] = []
    for upstream in ancestors(flow, step):
        span = _first_write(flow.steps[upstream], name)
        if span is not None:
            writers.append((upstream, span))
    here = _first_write(flow.steps[step], name) if step in flow.steps else None
    return ArtifactSource(name, writers, here, flow.parameter(name))


def available_artifacts(flow: Flow, step: str) -> dict[str, ArtifactSource]:
    """Everything `self.<name>` can name inside `step`: upstream artifacts, own assignments,
    Parameters and Configs (sorted by name).

    The same answer as `artifact_source` for each name, but from one walk of the ancestors:
    asking `artifact_source` per name walks them once per artifact, which on a long flow (a
    thousand steps, each writing its own artifact) is a million step visits per completion.
    """
    writers: dict[str, list[tuple[str, Span]]] = {}
    for upstream in ancestors(flow, step):
        for name, span in first_writes(flow.steps[upstream]).items():
            writers.setdefault(name, []).append((upstream, span))
    here = first_writes(flow.steps[step]) if step in flow.steps else {}
    parameters: dict[str, ParameterDef] = {}
    for p in flow.parameters:
        parameters.setdefault(p.attr, p)  # the first one, as `Flow.parameter` finds it
    names = sorted(set(parameters) | set(writers) | set(here))
    return {
        name: ArtifactSource(name, writers.get(name, []), here.get(name), parameters.get(name))
        for name in names
    }


def first_writes(step: Step) -> dict[str, Span]:
    """The first assignment of each artifact `step` writes (`_first_write` for every name)."""
    first: dict[str, Span] = {}
    for access in step.writes:
        known = first.get(access.name)
        if known is None or (access.span.line, access.span.col) < (known.line, known.col):
            first[access.name] = access.span
    return first


def foreach_source(flow: Flow, step: str) -> tuple[str, str] | None:
    """(parent step, list artifact) when `step` is the body of a foreach: what `self.input`
    and `self.index` refer to."""
    for parent in flow.steps[step].in_steps if step in flow.steps else []:
        for transition in flow.steps[parent].transitions:
            if transition.foreach and step in transition.targets:
                return parent, transition.foreach
    return None


def next_candidates(flow: Flow, step: str) -> list[Step]:
    """Steps that `step` may transition to: every step but itself and the start step."""
    return [s for s in flow.steps.values() if s.name not in (step, flow.start_step)]


def _first_write(step: Step, name: str) -> Span | None:
    spans = [a.span for a in step.writes if a.name == name]
    return min(spans, key=lambda s: (s.line, s.col)) if spans else None
