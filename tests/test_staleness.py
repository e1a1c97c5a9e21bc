"""Stale steps from the static parse (`flowspin.analysis.staleness`): what changes a step's code
identity (its own source, a workspace helper it uses, Parameters) and what does not (blank
lines, trailing blanks, a helper it does not use); reasons name the nearest edited step above;
Spin Downstream's order."""

from __future__ import annotations

from pathlib import Path

from flowspin.analysis import parse_source
from flowspin.analysis.staleness import (
    PARAMETERS,
    downstream,
    produced_by,
    run_code,
    stale_steps,
    step_codes,
    with_overrides,
)

FLOW = """\
from metaflow import FlowSpec, Parameter, step

from helpers import (
    clean_rows,
)
import other


class HelperFlow(FlowSpec):
    rows = Parameter("rows", default=10)

    @step
    def start(self):
        self.data = list(range(self.rows))
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = clean_rows(self.data)
        self.next(self.join)

    @step
    def b(self):
        self.y = len(self.data)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = inputs.a.x + [inputs.b.y]
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def codes_of(folder: Path, text: str) -> tuple[object, dict[str, str]]:
    path = folder / "flow.py"
    path.write_text(text)
    model = parse_source(text, str(path))
    flow = model.flows[0]
    return flow, step_codes(flow, model, text)


def test_a_helper_module_changes_only_the_steps_that_use_it(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def clean_rows(rows):\n    return rows\n")
    (tmp_path / "other.py").write_text("X = 1\n")
    flow, before = codes_of(tmp_path, FLOW)
    (tmp_path / "helpers.py").write_text("def clean_rows(rows):\n    return rows[1:]\n")
    (tmp_path / "other.py").write_text("X = 2\n")  # imported, used by no step
    _, after = codes_of(tmp_path, FLOW)
    assert {s for s in before if before[s] != after[s]} == {"a"}
    base = before
    stale = stale_steps(flow, after, {}, base)
    # `b` is a sibling branch: not below `a`; the join and what follows are.
    assert stale == {"a": "edited", "join": "upstream 'a' changed", "end": "upstream 'a' changed"}


def test_blank_lines_and_trailing_blanks_are_no_edit(tmp_path: Path) -> None:
    _, before = codes_of(tmp_path, FLOW)
    spaced = FLOW.replace(
        "        self.y = len(self.data)\n", "\n        self.y = len(self.data)   \n\n"
    )
    _, after = codes_of(tmp_path, spaced)
    assert before == after


def test_a_spin_clears_its_step_and_a_parameter_override_stales_the_rest(tmp_path: Path) -> None:
    flow, base = codes_of(tmp_path, FLOW)
    edited = FLOW.replace("len(self.data)", "len(self.data) * 2")
    flow, now = codes_of(tmp_path, edited)
    assert stale_steps(flow, now, {}, base) == {
        "b": "edited",
        "join": "upstream 'b' changed",
        "end": "upstream 'b' changed",
    }
    b_spun = produced_by("b", now["b"], [run_code(flow, base, "start")])
    assert stale_steps(flow, now, {"b": b_spun}, base) == {
        "join": "upstream 'b' changed",
        "end": "upstream 'b' changed",
    }
    # A spin of start with --param: every step not spun on it saw other Parameters.
    params = with_overrides(now[PARAMETERS], {"rows": "3"})
    start_spun = produced_by("start", now["start"], [], params)
    stale = stale_steps(flow, now, {"start": start_spun, "b": b_spun}, base)
    assert stale["a"] == "parameters changed"
    assert stale["b"] == "parameters changed"  # spun on the run's start, not this one
    assert "start" not in stale


def test_downstream_is_topological_from_the_step(tmp_path: Path) -> None:
    flow, _ = codes_of(tmp_path, FLOW)
    assert downstream(flow, "start") == ["start", "a", "b", "join", "end"]
    assert downstream(flow, "b") == ["b", "join", "end"]
