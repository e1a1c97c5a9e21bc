"""Completion's fast path while typing (`lsp/splice.py`): re-parsing only the edited step
gives the same step, upstream artifacts, foreach source and transition targets as parsing the
whole (half-typed) file, for edits at every line of a few flows; and edits it cannot confine
to one step are left to the general path."""

from __future__ import annotations

import pytest
from flowspin.analysis.queries import available_artifacts, foreach_source, next_candidates
from flowspin.lsp.documents import DocSnapshot, ModelStore
from flowspin.lsp.splice import splice_step
from lsp_support import TRAIN_FLOW, big_flow
from test_lsp_queries import BRANCHES

URI = "file:///nowhere/flow.py"

# What a user types on a new line (or in place of one) while completion pops up.
TYPED = [
    "        x = self.\n",
    "        self.next(\n",
    '        self.next(self.end, foreach="\n',
    "        y = self.da\n",
    "        self.extra = 1\n",
    "        if self.\n",
    "\n",
    "    @card\n",
    "    def \n",
]


def _answer(site):
    if site is None:
        return None
    flow, step = site
    return (
        flow.name,
        step.name,
        available_artifacts(flow, step.name),
        foreach_source(flow, step.name),
        [s.name for s in next_candidates(flow, step.name)],
        [(a.name, a.span) for a in step.writes],
    )


def _edits(text: str):
    lines = text.splitlines(True)
    for at in range(len(lines) + 1):
        for typed in TYPED:
            yield at, lines[:at] + [typed] + lines[at:]
        if at < len(lines):
            yield at, lines[:at] + ["        w = self.\n"] + lines[at + 1 :]


@pytest.mark.parametrize(
    "text", [TRAIN_FLOW, BRANCHES, big_flow(12)], ids=["train", "branches", "big"]
)
def test_splicing_the_edited_step_answers_as_a_full_parse(text: str) -> None:
    store = ModelStore()
    store.analyse(DocSnapshot(URI, 1, text, None, "python"))
    good, old_lines = store.last_good[URI], text.splitlines(True)
    spliced = 0
    for at, new_lines in _edits(text):
        doc = DocSnapshot(URI, 2, "".join(new_lines), None, "python")
        site = splice_step(good, old_lines, doc.lines, at)
        if site is None:
            continue  # the general path answers
        spliced += 1
        view = ModelStore().view(doc, at)
        assert _answer(site) == _answer(view.index.step_at(at + 1)), (at, new_lines[at])
    assert spliced > len(old_lines)  # most edits inside steps take the fast path


def test_edits_across_steps_or_outside_them_take_the_general_path() -> None:
    store = ModelStore()
    store.analyse(DocSnapshot(URI, 1, TRAIN_FLOW, None, "python"))
    good, old_lines = store.last_good[URI], TRAIN_FLOW.splitlines(True)
    across = TRAIN_FLOW.replace("self.rates = [0.1, 0.2]", "self.rates = [0.1]").replace(
        "self.next(self.end)", "self.next(self.end)\n        x = self."
    )
    renamed = TRAIN_FLOW.replace("def train(self):", "def training(self):\n        self.")
    class_level = TRAIN_FLOW.replace("n_rows = Parameter", "n = self.\n    n_rows = Parameter")
    for text, needle in ((across, "x = self."), (renamed, "        self."), (class_level, "n =")):
        lines = text.splitlines(True)
        at = next(i for i, line in enumerate(lines) if needle in line)
        assert splice_step(good, old_lines, lines, at) is None


def test_completion_site_uses_the_parse_once_the_text_is_checked() -> None:
    typed = TRAIN_FLOW.replace("self.next(self.join)", "self.next(self.join)\n        y = self.da")
    store = ModelStore()
    store.analyse(DocSnapshot(URI, 1, TRAIN_FLOW, None, "python"))
    doc = DocSnapshot(URI, 2, typed, None, "python")
    at = typed.splitlines().index("        y = self.da")
    fast = store.completion_site(doc, at)  # not checked yet: the step alone is parsed
    store.analyse(doc)  # the check of the new text is in: its parse answers
    general = store.completion_site(doc, at)
    assert general[1] is store.current[URI].model.flows[0].steps["train"]
    assert fast[1] is not general[1]
    assert _answer(fast) == _answer(general)


def _lens_shape(view) -> list:
    """What code lenses read of a view: each own step's name, lens line, cards, def line, and
    the flow's start step."""
    return [
        (
            flow.name,
            flow.start_step,
            [
                (s.name, view.index.first_line(flow, s), bool(s.cards), s.span.line)
                for s in view.index.of(flow).own
            ],
        )
        for flow in view.model.flows
    ]


# Edits that keep every line where it is: typing within a line, or a line typed over.
def _same_length_edits(text: str):
    lines = text.splitlines(True)
    for at, line in enumerate(lines):
        body = line.rstrip("\n")
        variants = [body + "x", body[:-1], "        x = self.", "    @card", "    def", ""]
        variants += ["        self.next(self.end)", "    n = 1", "x"]
        for variant in variants:
            yield lines[:at] + [variant + "\n"] + lines[at + 1 :]


@pytest.mark.parametrize(
    "text", [TRAIN_FLOW, BRANCHES, big_flow(12)], ids=["train", "branches", "big"]
)
def test_lenses_before_the_parse_are_the_lenses_after_it(text: str) -> None:
    early = 0
    for new_lines in _same_length_edits(text):
        doc = DocSnapshot(URI, 2, "".join(new_lines), None, "python")
        stores = [ModelStore(), ModelStore()]  # the same history: the text, then the edit
        for store in stores:
            store.analyse(DocSnapshot(URI, 1, text, None, "python"))
        fast = stores[0].lens_view(doc)
        early += stores[0].current[URI].source != doc.source  # answered before any parse
        assert _lens_shape(fast) == _lens_shape(stores[1].view(doc)), "".join(new_lines)
    assert early > len(text.splitlines())  # typing inside bodies answers early
