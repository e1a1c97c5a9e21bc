"""Half-typed code is the normal state of a file in an editor: any edit of a valid flow must
parse and check without crashing, and every diagnostic must point inside the file."""

from __future__ import annotations

from pathlib import Path

from flowspin.analysis import check_source
from flowspin.analysis.rules import RULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VALID = sorted((Path(__file__).parent / "corpus" / "valid").glob("*.py"))
SOURCES = [p.read_text() for p in VALID] + [
    (Path(__file__).parent / "corpus" / "broken" / "many_problems.py").read_text()
]
FRAGMENTS = [
    "self.next(",
    "self.next(self.end)",
    "self.next(self.a, self.b)",
    'self.next(self.start, foreach="x")',
    'self.next({"a": self.start, 1: self.end}, condition="c")',
    "self.next({self.cfg.k: self.end}, condition=x)",
    "self.next(self.end, num_parallel=n)",
    "@step",
    "@step(start=True)",
    "@step(end=True)",
    "@card(type=",
    "def x(self, inputs):",
    "def end(self, a, b):",
    "def start():",
    "class G(F):",
    "class H(FlowSpec):",
    "x = Parameter('start')",
    "self.x, self.y = 1",
    "self.z += self.w",
    "    ",
    ":",
    "(",
    ")",
    "\t",
    "é",
    "\x00",
    "\n",
]


def assert_sane(source: str) -> None:
    model, diagnostics = check_source(source, "edited.py")
    n_lines = max(len(source.splitlines()), 1) + 1
    for d in diagnostics:
        assert d.rule in RULES and d.rule != "internal-error", d
        assert d.severity == RULES[d.rule][0]
        assert 1 <= d.span.line <= d.span.end_line <= n_lines, d
        assert d.span.col >= 0 and d.span.end_col >= 0, d
        assert d.message
    for flow in model.flows:
        for step in flow.steps.values():
            assert step.span.line >= 1
            for target in step.out_steps:
                assert isinstance(target, str)


edit_settings = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@edit_settings
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_line_deletions_insertions_and_swaps_never_crash(source: str, data) -> None:
    lines = source.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "indent"]))
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "insert":
            indent = data.draw(st.sampled_from(["", "    ", "        "]))
            lines.insert(i, indent + data.draw(st.sampled_from(FRAGMENTS)) + "\n")
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = "    " + lines[i]
    assert_sane("".join(lines))


@edit_settings
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_character_edits_and_truncation_never_crash(source: str, data) -> None:
    text = source
    for _ in range(data.draw(st.integers(1, 8))):
        if not text:
            break
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["delete", "insert", "truncate"]))
        if op == "delete":
            j = min(len(text), i + data.draw(st.integers(1, 20)))
            text = text[:i] + text[j:]
        elif op == "insert":
            piece = data.draw(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)))
            text = text[:i] + piece + text[i:]
        else:
            text = text[:i]
    assert_sane(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    assert_sane(text)
