"""What every lint rule shares: the rule table, the per-flow context, how a finding is made.

The rules are split by what they check (`rules_steps`, `rules_transitions`, `rules_joins`,
`rules_artifacts`, `rules_runtime`); they all read the same graph facts, computed once per flow
here, and report through `RuleContext.diag`, which gives each finding its severity from
`RULES`. Rule ids are a stable contract (CLI JSON, LSP diagnostic codes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flowspin.analysis.dag import DagFacts, compute_facts
from flowspin.analysis.model import Diagnostic, Flow, Severity, Span, Step

# rule id -> (severity, does Metaflow's own `check` also reject it)
RULES: dict[str, tuple[Severity, bool]] = {
    "syntax-error": ("error", True),
    "reserved-step-name": ("error", True),
    "missing-start-step": ("error", True),
    "multiple-start-steps": ("error", True),
    "missing-end-step": ("error", True),
    "multiple-end-steps": ("error", True),
    "ambiguous-start-step": ("error", True),
    "ambiguous-end-step": ("error", True),
    "start-has-incoming": ("error", True),
    "end-has-transition": ("error", True),
    "end-is-join": ("error", True),
    "invalid-step-name": ("error", True),
    "too-many-arguments": ("error", True),
    "join-and-split": ("error", True),
    "missing-self-argument": ("error", True),
    "missing-transition": ("error", True),
    "invalid-transition": ("error", True),
    "unknown-transition": ("error", True),
    "cycle": ("error", True),
    "orphan-step": ("error", True),
    "unjoined-split": ("error", True),
    "join-mismatch": ("error", True),
    "join-without-split": ("error", True),
    "cross-join": ("error", True),
    "switch-too-few-cases": ("error", True),
    "empty-foreach": ("error", True),
    "parallel-missing-decorator": ("error", True),
    "parallel-not-followed-by-join": ("error", True),
    "parallel-not-called-parallel": ("error", True),
    "ambiguous-join": ("error", True),
    # flowspin's own rules
    "misplaced-transition": ("error", False),
    "step-shadows-parameter": ("error", False),
    "duplicate-step": ("warning", False),
    "undefined-artifact": ("warning", False),
    "unknown-foreach-artifact": ("warning", False),
    "unknown-condition-artifact": ("warning", False),
    "unresolved-base": ("hint", False),
    # run-time failures Metaflow's `check` lets through (error where certain, else warning)
    "modifies-parameter": ("error", False),
    "join-unmerged-artifact": ("error", False),
    "input-outside-foreach": ("warning", False),
    "invalid-foreach-value": ("error", False),
    "internal-error": ("hint", False),
}


class RuleContext:
    """One flow plus the graph facts the rules share (computed once)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.steps = flow.steps
        self.facts: DagFacts = compute_facts(flow)
        # A flow built on a base class from another module may inherit steps we cannot see
        # (start, end, transition targets): then only step-local rules are reliable.
        self.partial = flow.has_external_bases and (
            flow.start_step is None
            or flow.end_step is None
            or any(t not in self.steps for s in self.steps.values() for t in s.out_steps)
        )
        # (rule, step) findings that are knock-on effects of another finding (reported there
        # as related information): dropped after all rules ran, so a user sees the root cause.
        self.knock_ons: set[tuple[str, str]] = set()

    def diag(
        self,
        rule: str,
        message: str,
        span: Span,
        step: str | None = None,
        related: list[str] | None = None,
        certain: bool = True,
    ) -> Diagnostic:
        """A finding of `rule`; one that may not happen on every run (`certain=False`, e.g.
        the line is under an `if`) is a warning even when the rule's failures are errors."""
        severity = RULES[rule][0]
        if not certain and severity == "error":
            severity = "warning"
        return Diagnostic(
            rule=rule,
            severity=severity,
            message=message,
            span=span,
            step=step,
            flow=self.flow.name,
            related=related or [],
        )

    def tail_span(self, step: Step) -> Span:
        """Metaflow's `tail_next_lineno` when the step has a tail `self.next`, else the def."""
        tail = step.tail_transition
        return tail.span if tail else step.name_span

    def mf_type(self, name: str) -> str | None:
        """Metaflow's node type of a step (None when the graph could not give it one)."""
        return self.steps[name].metaflow_type


Rule = Callable[[RuleContext], Iterator[Diagnostic]]


def quoted(names: list[str] | set[str]) -> str:
    """Names for a message, quoted and sorted: the same finding reads the same every time."""
    return ", ".join(f"'{n}'" for n in sorted(names))
