"""Cards of spun steps: Metaflow's card classes rendered in the spin child, from live components."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cards_support import card_content
from conftest import run_metaflow, write_flow
from spin_helpers import make_service

FLOW = """
from metaflow import FlowSpec, step, card, current
from metaflow.cards import Markdown, Table, ValueBox, ProgressBar, JSONViewer, Artifact
from metaflow.plugins.cards.card_modules.card import MetaflowCardComponent

HEADLINE = "Report headline zebra"


class Broken(MetaflowCardComponent):
    def render(self):
        raise RuntimeError("component exploded")


class CardFlow(FlowSpec):
    @step
    def start(self):
        self.items = [3, 4]
        self.next(self.show)

    @card(type="blank", id="report")
    @card
    @step
    def show(self):
        self.total = 42
        current.card["report"].append(Markdown("# " + HEADLINE))
        current.card["report"].append(
            Table([["cell-alpha", 1], ["cell-beta", 2]], headers=["name", "n"])
        )
        current.card["report"].append(ValueBox(title="vb", value=7))
        current.card["report"].append(ProgressBar(max=10, value=3))
        current.card["report"].append(JSONViewer({"k": "json-value"}))
        current.card["report"].append(Artifact({"art": 1}))
        current.card.append(Markdown("default-card-extra"))
        self.next(self.fan, foreach="items")

    @card
    @step
    def fan(self):
        self.square = self.input ** 2
        self.next(self.join)

    @card
    @step
    def join(self, inputs):
        self.squares = sorted(i.square for i in inputs)
        self.next(self.bad)

    @card(type="flowspin_test_fail", id="custom_fail")
    @card(type="flowspin_test_good", id="custom_good")
    @card(type="blank")
    @step
    def bad(self):
        current.card.append(Markdown("before-broken"))
        current.card.append(Broken())
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardFlow()
"""

# A card package installed the way Metaflow finds extensions (a `metaflow_extensions`
# namespace package on sys.path): one card type that renders, one that raises.
EXT_CARDS = """
from metaflow.cards import MetaflowCard


class GoodCard(MetaflowCard):
    type = "flowspin_test_good"

    def render(self, task):
        return "<html><body>custom-card squares=%s</body></html>" % task["squares"].data


class FailCard(MetaflowCard):
    type = "flowspin_test_fail"

    def render(self, task):
        raise ValueError("custom card type failed on purpose")


CARDS = [GoodCard, FailCard]
"""


@pytest.fixture(scope="module")
def cardflow(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cards")
    pkg = workdir / "metaflow_extensions" / "flowspin_test" / "plugins" / "cards" / "testcards"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(EXT_CARDS)
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    svc = make_service(workdir)
    yield workdir, flow, svc
    svc.shutdown()


def by_id(result, card_id):
    return next(c for c in result.cards if c["id"] == card_id)


def test_components_render_into_the_card_files(cardflow):
    workdir, flow, svc = cardflow
    result = svc.spin(flow, "show")
    assert result.ok, result.error
    folder = workdir / ".flowspin" / "cards" / "CardFlow" / "show"
    assert {(c["type"], c["id"]) for c in result.cards} == {("default", None), ("blank", "report")}
    report = card_content(by_id(result, "report")["path"])
    for text in ("Report headline zebra", "cell-alpha", "cell-beta", "json-value"):
        assert text in report
    default = card_content(folder / "default.html")
    assert "default-card-extra" in default  # current.card.append edits the default card
    assert "total" in default and "42" in default  # the spun task's new artifact
    # latest.html is the card current.card.append edits; index.json lists the spin's cards
    assert (folder / "latest.html").read_text() == (folder / "default.html").read_text()
    index = json.loads((folder / "index.json").read_text())
    assert index["spin_id"] == result.spin_id and len(index["cards"]) == 2


def test_default_card_on_a_spun_foreach_step_and_join(cardflow):
    workdir, flow, svc = cardflow
    fan = svc.spin(flow, "fan", {"split": 1})
    assert fan.ok, fan.error
    content = card_content(fan.cards[0]["path"])
    assert "square" in content and "16" in content  # input 4 of the second split
    join = svc.spin(flow, "join")
    assert join.ok, join.error
    content = card_content(join.cards[0]["path"])
    assert "squares" in content and "[9, 16]" in content


def test_failing_cards_never_fail_the_spin(cardflow):
    workdir, flow, svc = cardflow
    result = svc.spin(flow, "bad")
    assert result.ok, result.error
    assert {c["type"] for c in result.cards} == {
        "blank",
        "flowspin_test_good",
        "flowspin_test_fail",
    }
    # a custom type found through Metaflow's extension lookup renders with the task's artifacts
    good = Path(by_id(result, "custom_good")["path"]).read_text()
    assert "custom-card squares=[9, 16]" in good
    # a custom type that raises: Metaflow's error card with the traceback, and a notice
    failed = by_id(result, "custom_fail")
    assert "custom card type failed on purpose" in failed["error"]
    assert "custom card type failed on purpose" in card_content(failed["path"])
    assert any("custom_fail" in n for n in result.notices)
    # a component that raises shows its error in place; the other components stay
    blank = card_content(next(c for c in result.cards if c["type"] == "blank")["path"])
    assert "before-broken" in blank and "component exploded" in blank


def test_edited_component_shows_on_the_next_spin(cardflow):
    # last in the module: it edits the flow file the other tests spin
    workdir, flow, svc = cardflow
    source = flow.read_text()
    try:
        flow.write_text(source.replace('HEADLINE = "Report headline zebra"', 'HEADLINE = "Okapi"'))
        result = svc.spin(flow, "show")
        assert result.ok, result.error
        assert "Okapi" in card_content(by_id(result, "report")["path"])
    finally:
        flow.write_text(source)
