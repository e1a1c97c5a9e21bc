"""`flowspin card FILE STEP [--run RUN_ID] [--open]` against a real run and a real spin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cards_support import card_content
from conftest import run_flowspin as flowspin
from conftest import run_metaflow, write_flow

FLOW = """
from metaflow import FlowSpec, step, card, current
from metaflow.cards import Markdown


class CliCardFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.show)

    @card(type="blank")
    @step
    def show(self):
        current.card.append(Markdown("made by " + current.run_id))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CliCardFlow()
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cardcli")
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    runs = list((workdir / ".metaflow" / "CliCardFlow").iterdir())
    run_id = next(p.name for p in runs if p.name.isdigit())
    return workdir, flow, run_id


def test_run_card_before_any_spin_then_the_spin_card(ran):
    workdir, flow, run_id = ran
    out = flowspin(workdir, "card", "flow.py", "show", "--json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["source"] == "run" and run_id in found["label"]
    assert f"made by {run_id}" in card_content(found["cards"][0]["path"])

    spun = flowspin(workdir, "spin", "flow.py", "show", "--no-daemon", "--json")
    assert json.loads(spun.stdout)["status"] == "ok", spun.stdout + spun.stderr
    out = flowspin(workdir, "card", "flow.py", "show")
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.parent == workdir / ".flowspin" / "cards" / "CliCardFlow" / "show"
    assert "made by" in card_content(path) and "spin" in out.stderr

    # --run asks for the run's card even after a spin
    out = flowspin(workdir, "card", "flow.py", "show", "--run", run_id)
    assert out.returncode == 0, out.stderr
    assert ".metaflow" in out.stdout and f"made by {run_id}" in card_content(out.stdout.strip())


def test_open_hands_the_card_to_the_browser(ran, tmp_path):
    workdir, flow, run_id = ran
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(0o755)
    out = flowspin(workdir, "card", "flow.py", "show", "--open", env={"BROWSER": str(browser)})
    assert out.returncode == 0, out.stderr
    assert seen.read_text().strip() == Path(out.stdout.splitlines()[0]).as_uri()


def test_no_card_says_what_to_do(ran):
    workdir, flow, run_id = ran
    out = flowspin(workdir, "card", "flow.py", "start")
    assert out.returncode == 1
    assert "no card" in out.stderr and "@card" in out.stderr
    out = flowspin(workdir, "card", "flow.py", "show", "--run", "999")
    assert out.returncode == 1 and "run 999" in out.stderr and "not found" in out.stderr
