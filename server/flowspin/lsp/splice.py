"""Completion while typing in a big flow: re-parse only the step being edited.

Why: completion comes with the keystroke that triggers it (`self.`, `self.next(`), so the text
it sees has just changed and usually does not parse. The general path parses the whole file
(to find the error), then parses it again with the broken line read as `pass`: two parses of
the file per keystroke, about 0.3 s on a 2,000-step flow. But what completion needs is the
step under the cursor (its own assignments) and the flow around it (step names, upstream
artifacts, Parameters), and when the edit stays inside one step the flow around it is the
last model that parsed. So: compare the text with the last parsed one, and when every changed
line lies inside one step's region (its decorators and body, up to the next step), parse that
region alone, at its own line numbers, and put the new step in place of the old one. Anything
else (an edit across steps, outside any step, a renamed step, a base in another file) takes
the general path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from flowspin.analysis import Flow, FlowModel, Step, parse_source
from flowspin.analysis.queries import first_line, own_steps

_HEADER = "from metaflow import FlowSpec, step\n"
_CLASS = "class _Splice(FlowSpec):\n"
_PATH = "<splice>"  # not a file: no project files are read for the region


def splice_step(
    model: FlowModel,
    old_lines: Sequence[str],
    new_lines: Sequence[str],
    cursor_line: int | None,
) -> tuple[Flow, Step] | None:
    """(flow, step) at `cursor_line` (0-based) of `new_lines`, from `model` (the parse of
    `old_lines`) with the one edited step parsed again; None when the edit is not confined to
    one step of the file's own, or the region does not parse even with the cursor's line or
    the error's line read as `pass` (the general path then decides). Without a cursor: the
    edited step, wherever the cursor is."""
    if model.syntax_error is not None or not model.flows:
        return None
    n_old, n_new = len(old_lines), len(new_lines)
    limit = min(n_old, n_new)
    same_head = 0
    while same_head < limit and old_lines[same_head] == new_lines[same_head]:
        same_head += 1
    same_tail = 0
    while (
        same_tail < limit - same_head
        and old_lines[n_old - 1 - same_tail] == new_lines[n_new - 1 - same_tail]
    ):
        same_tail += 1
    # Changed lines, 1-based and inclusive: old [first, old_last], new [first, new_last]
    # (an insertion has old_last == first - 1).
    first = same_head + 1
    old_last = n_old - same_tail
    delta = n_new - n_old
    # An insertion lands between lines `first - 1` and `first`: it extends the region that
    # holds the line above (typing on a new last line of a step's body).
    anchor = first if old_last >= first else first - 1
    flow = model.flow_at(anchor)
    if flow is None:
        return None
    steps = sorted(own_steps(flow), key=lambda s: first_line(s, old_lines))
    for i, step in enumerate(steps):
        if step.file is not None:
            return None
        start = first_line(step, old_lines)
        # The region: from the step's first decorator up to the next step's, or the end of
        # the body for the flow's last step.
        end = first_line(steps[i + 1], old_lines) - 1 if i + 1 < len(steps) else step.span.end_line
        if start <= anchor and old_last <= end:
            return _reparse(flow, step, new_lines, start, end + delta, cursor_line)
    return None


def _reparse(
    flow: Flow, old: Step, new_lines: Sequence[str], start: int, end: int, cursor: int | None
) -> tuple[Flow, Step] | None:
    if start < 3 or end < start or (cursor is not None and not start <= cursor + 1 <= end):
        return None  # no room for the header lines, or the cursor is not in the region
    region = list(new_lines[start - 1 : end])
    if region and not region[-1].endswith(("\n", "\r")):
        region[-1] += "\n"
    text = _HEADER + "\n" * (start - 3) + _CLASS + "".join(region)
    parsed = parse_source(text, _PATH)
    if parsed.syntax_error is not None:
        blank = [parsed.syntax_error.span.line - 1] + ([cursor] if cursor is not None else [])
        repaired = _repaired(text, blank)
        if repaired is None:
            return None
        parsed = repaired
    if len(parsed.flows) != 1:
        return None
    mini = parsed.flows[0]
    if list(mini.steps) != [old.name] or mini.parameters or mini.members or mini.duplicates:
        return None  # the region now holds something else than the one step
    step = mini.steps[old.name]
    if cursor is not None and not first_line(step, new_lines) <= cursor + 1 <= step.span.end_line:
        return None
    # The step's place in the graph comes from the other steps' transitions: unchanged.
    step.in_steps = list(old.in_steps)
    step.out_steps = list(old.out_steps)
    step.node_type = old.node_type
    step.metaflow_type = old.metaflow_type
    step.defined_in = old.defined_in
    spliced = dataclasses.replace(flow, steps={**flow.steps, old.name: step})
    return spliced, step


def _repaired(text: str, lines_to_blank: list[int]) -> FlowModel | None:
    """`repair` (the same attempts as the document store makes for the whole file)."""
    return repair(text, lines_to_blank, _PATH)


def repair(source: str, lines_to_blank: list[int], path: str) -> FlowModel | None:
    """The model of `source` with one of the given (0-based) lines, or all of them, replaced
    by `pass` at the same indentation; None when none of that parses."""
    lines = source.splitlines(keepends=True)
    valid = sorted({n for n in lines_to_blank if 0 <= n < len(lines)})
    attempts = [[n] for n in valid] + ([valid] if len(valid) > 1 else [])
    for blank in attempts:
        patched = list(lines)
        for n in blank:
            text = patched[n]
            indent = text[: len(text) - len(text.lstrip())].rstrip("\r\n")
            patched[n] = f"{indent}pass\n"
        model = parse_source("".join(patched), path)
        if model.syntax_error is None:
            return model
    return None


def same_lenses(model: FlowModel, old_lines: Sequence[str], new_lines: Sequence[str]) -> bool:
    """Whether the code lenses of `new_lines` are those of `model` (the parse of
    `old_lines`): the edit kept every line where it was and stayed inside one step's body,
    whose name, decorators and first line it left alone (typing within a line). Lenses depend
    on nothing else, so they can be answered before the new text is parsed."""
    if len(old_lines) != len(new_lines):
        return False
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    if any(line.lstrip().startswith("@") for i in changed for line in (old_lines[i], new_lines[i])):
        return False  # a decorator line: it may belong to the next step's lens line
    site = splice_step(model, old_lines, new_lines, None)
    if site is None:
        return False
    spliced, step = site
    old = next((f.steps.get(step.name) for f in model.flows if f.name == spliced.name), None)
    return (
        old is not None
        and step.decorators == old.decorators
        and step.span.line == old.span.line
        and first_line(step, new_lines) == first_line(old, old_lines)
        and (step.is_start_marker, step.is_end_marker) == (old.is_start_marker, old.is_end_marker)
    )
