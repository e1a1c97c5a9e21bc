"""The static model of a flow file: what every other part of flowspin reads.

Positions follow Python's `ast`: lines are 1-based, columns are 0-based character offsets.
Output layers convert (the `check --json` contract uses 1-based columns, LSP uses 0-based lines).
The model is plain data so it can be cached, compared and serialised cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

NodeType = Literal[
    "start", "linear", "split", "foreach", "parallel_foreach", "switch", "join", "end"
]
TransitionKind = Literal["linear", "split", "foreach", "parallel", "switch"]
Severity = Literal["error", "warning", "information", "hint"]


@dataclass(frozen=True)
class Span:
    line: int
    col: int
    end_line: int
    end_col: int

    def contains(self, line: int, col: int | None = None) -> bool:
        if line < self.line or line > self.end_line:
            return False
        if col is None:
            return True
        if line == self.line and col < self.col:
            return False
        if line == self.end_line and col > self.end_col:
            return False
        return True


@dataclass
class Decorator:
    """A decorator on a step, e.g. `@card(type="blank", id="report")`.

    `args` holds literal keyword values (str/int/float/bool/None/list/dict); non-literal values
    are kept as their source text wrapped in `Expr` so nothing is evaluated.
    """

    name: str
    span: Span
    args: dict[str, Any] = field(default_factory=dict)
    positional: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Expr:
    """Source text of a non-literal expression (never evaluated)."""

    source: str


@dataclass
class ArtifactAccess:
    """One `self.<name>` read or write inside a step body."""

    name: str
    span: Span
    # Runs whenever the step runs: a top-level statement of the body (not under `if`, a loop,
    # `try`, a lambda or comprehension, nor after a statement that may return early).
    certain: bool = True
    # For `self.x = <literal>`: the literal's kind ("int", "list"...) and length (containers).
    literal: tuple[str, int | None] | None = None


@dataclass
class Transition:
    """One `self.next(...)` call.

    `targets` are step names in call order (for switch: the case values). `target_spans` align
    with `targets`. `unresolved` lists arguments that are not `self.<step>` (Metaflow rejects
    them as non-static transitions).
    """

    kind: TransitionKind
    span: Span
    targets: list[str] = field(default_factory=list)
    target_spans: list[Span] = field(default_factory=list)
    foreach: str | None = None
    foreach_span: Span | None = None
    foreach_is_literal: bool = True  # False when foreach= is an expression (kept as text)
    num_parallel: int | Expr | None = None
    condition: str | None = None
    condition_span: Span | None = None
    switch_cases: dict[str, str] | None = None  # case key (as text) -> step name
    unresolved: list[Span] = field(default_factory=list)
    # Added by the parser for the lint rules (Metaflow only honours the tail call):
    is_tail: bool = False  # the last statement of the step body
    valid: bool = True  # Metaflow's parser accepts its shape (see `graph.py`)
    invalid_reason: str | None = None  # why not, in words, when `valid` is False


@dataclass
class Step:
    name: str
    span: Span  # the `def` line through the end of the body
    name_span: Span  # the function name on the `def` line (where diagnostics about the step go)
    decorators: list[Decorator] = field(default_factory=list)
    args: list[str] = field(default_factory=list)  # parameter names after `self`
    transitions: list[Transition] = field(default_factory=list)
    writes: list[ArtifactAccess] = field(default_factory=list)
    reads: list[ArtifactAccess] = field(default_factory=list)
    is_start_marker: bool = False  # @step(start=True)
    is_end_marker: bool = False  # @step(end=True)
    defined_in: str | None = None  # class that defines it, when inherited from a base
    # File that defines it when that is another file of the project (a base flow or mixin
    # imported from a sibling module); None for steps of the analysed file. Spans are then
    # positions in that file.
    file: str | None = None
    docstring: str | None = None
    # Filled by graph construction (see `graph.py`):
    node_type: NodeType = "linear"
    out_steps: list[str] = field(default_factory=list)
    in_steps: list[str] = field(default_factory=list)
    # Metaflow's own DAGNode.type for the step ("linear", "join", "split", "foreach",
    # "split-switch", "start", "end" or None when the tail transition is missing or invalid).
    metaflow_type: str | None = None
    parallel: bool = False  # decorated with @parallel (Metaflow's IS_PARALLEL)
    num_args: int = 1  # positional parameters of the `def`, `self` included (as Metaflow counts)
    # Sets artifacts by computed names (`setattr(self, ...)`, `self.__dict__`): its writes are
    # not all listed in `writes`.
    dynamic_writes: bool = False
    # `self.merge_artifacts(...)` calls: (line, include= names or None, include= given but not
    # a literal list). Without include= every non-conflicting artifact is merged.
    merges: list[tuple[int, list[str] | None, bool]] = field(default_factory=list)
    # First line of the step's source: its first decorator (`@step` included), else the `def`.
    first_line: int = 0

    @property
    def tail_transition(self) -> Transition | None:
        """The `self.next(...)` that is the last statement, the only one Metaflow reads."""
        return next((t for t in self.transitions if t.is_tail), None)

    @property
    def takes_inputs(self) -> bool:
        return len(self.args) >= 1

    @property
    def transition(self) -> Transition | None:
        return self.transitions[0] if self.transitions else None

    def decorator(self, name: str) -> Decorator | None:
        return next((d for d in self.decorators if d.name == name), None)

    @property
    def cards(self) -> list[Decorator]:
        return [d for d in self.decorators if d.name == "card"]


@dataclass
class ParameterDef:
    """A class attribute `x = Parameter("x", default=...)` or `cfg = Config("cfg", ...)`."""

    attr: str  # the attribute name the flow uses: self.<attr>
    name: str  # the name given to Metaflow (first positional arg / name=), used on the CLI
    kind: Literal["Parameter", "Config"]
    span: Span
    default: Any = None  # literal value, Expr, or None when absent
    has_default: bool = False
    help: str | None = None
    type: str | None = None  # source text of type=, when given
    file: str | None = None  # defining file when another one of the project (see Step.file)


@dataclass
class Flow:
    name: str
    span: Span
    name_span: Span
    bases: list[str] = field(default_factory=list)
    # Class decorators (`@project`, `@comet_flow`...) by name, the flow's own then its bases'.
    decorators: list[str] = field(default_factory=list)
    steps: dict[str, Step] = field(default_factory=dict)  # in source order
    parameters: list[ParameterDef] = field(default_factory=list)
    start_step: str | None = None  # resolved as Metaflow does (marker, else the name "start")
    end_step: str | None = None
    # Other class members (methods, properties, class attributes) of the flow and its in-file
    # bases: `self.<member>` reads of these are not artifact reads.
    members: dict[str, Span] = field(default_factory=dict)
    # True when a base class is neither FlowSpec nor defined in this file (it may define
    # steps, parameters or attributes we cannot see).
    has_external_bases: bool = False
    # Those bases as written (neither in this file nor found in the project's files).
    unresolved_bases: list[str] = field(default_factory=list)
    # Other files of the project whose classes this flow builds on, in lookup order.
    base_files: list[str] = field(default_factory=list)
    # Subclassed by another flow of the same file: a base to build on, not a flow to run, so
    # DAG rules do not apply to it alone (its subclasses are checked with its steps).
    is_base: bool = False
    # Steps defined more than once in the flow's own class body: (name, span of the earlier
    # `def`, which Python discards).
    duplicates: list[tuple[str, Span]] = field(default_factory=list)
    # Attributes that non-step methods of the flow assign (`self.x = ...` in a helper a step
    # may call): treated as possibly set anywhere.
    helper_writes: set[str] = field(default_factory=set)
    # Class attributes with a literal value (`LR = 0.1`): Metaflow makes them read-only in
    # steps, as it does Parameters.
    constants: set[str] = field(default_factory=set)

    def step_at(self, line: int) -> Step | None:
        """The step whose decorators, `def` or body contain `line` (1-based)."""
        for step in self.steps.values():
            if step.file is not None:
                continue  # its lines are another file's
            first = step.first_line or min(
                [step.span.line] + [d.span.line for d in step.decorators]
            )
            if first <= line <= step.span.end_line:
                return step
        return None

    def parameter(self, attr: str) -> ParameterDef | None:
        return next((p for p in self.parameters if p.attr == attr), None)


@dataclass
class SyntaxProblem:
    message: str
    span: Span


@dataclass
class FlowModel:
    """Everything known statically about one file."""

    path: str
    flows: list[Flow] = field(default_factory=list)
    syntax_error: SyntaxProblem | None = None
    # Flow classes called at module level (`MyFlow()` under `__main__`), in source order: the
    # first one is what `python file.py run` runs.
    instantiated: list[str] = field(default_factory=list)
    # Every other project file read to build the model (bases, mixins), with the text read:
    # when one of them changes, the model is stale.
    dependencies: dict[str, str] = field(default_factory=dict)

    def flow_at(self, line: int) -> Flow | None:
        for flow in self.flows:
            if flow.span.contains(line):
                return flow
        return None

    def step_at(self, line: int) -> tuple[Flow, Step] | None:
        flow = self.flow_at(line)
        if flow is None:
            return None
        step = flow.step_at(line)
        return (flow, step) if step else None


@dataclass
class Diagnostic:
    """One lint finding. `rule` ids are stable (a contract for CLI/JSON consumers)."""

    rule: str
    severity: Severity
    message: str
    span: Span
    step: str | None = None
    flow: str | None = None
    related: list[str] = field(default_factory=list)  # other steps involved
    # Where the finding really is when that is another file (a step of a base flow or mixin
    # in a sibling module): (file, span there). `span` is then the flow's class name.
    origin: tuple[str, Span] | None = None
