"""Notebook cards of spun steps: papermill on a local ipykernel, nbconvert to HTML."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import run_metaflow, write_flow
from spin_helpers import make_service

FLOW = """
from metaflow import FlowSpec, step, card


class NbFlow(FlowSpec):
    @step
    def start(self):
        self.base_value = 20
        self.next(self.report, self.broken)

    @card(type="notebook")
    @step
    def report(self):
        self.answer = self.base_value + 22
        self.nb_options_dict = dict(input_path="report.ipynb", exclude_input=True)
        self.next(self.join)

    @card(type="notebook")
    @step
    def broken(self):
        self.nb_options_dict = dict(input_path="broken.ipynb")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NbFlow()
"""

PARAMS = "\n".join(
    f"{name} = None"
    for name in (
        "flow_name",
        "run_id",
        "step_name",
        "task_id",
        "pathspec",
        "flowspin_spin_id",
        "flowspin_flow_file",
    )
)


def write_notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def nbflow(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nbcards")
    write_notebook(
        workdir / "report.ipynb",
        "import flowspin\n"
        "spun = flowspin.load_spin(flowspin_flow_file, step_name, flowspin_spin_id)\n"
        "print('answer from the spun task:', spun.artifacts['answer'], 'run', run_id)",
    )
    write_notebook(workdir / "broken.ipynb", "print('before the error')", "1 / 0")
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    svc = make_service(workdir)
    yield workdir, flow, svc
    svc.shutdown()


def test_notebook_card_reads_the_spun_task(nbflow):
    workdir, flow, svc = nbflow
    result = svc.spin(flow, "report")
    assert result.ok, result.error
    (card,) = result.cards
    assert card["type"] == "notebook" and "error" not in card
    html = Path(card["path"]).read_text()
    assert f"answer from the spun task: 42 run {result.base['run_id']}" in html
    assert "load_spin" not in html  # exclude_input hides the code cells
    executed = Path(card["path"]).with_suffix(".ipynb")
    assert "answer from the spun task" in executed.read_text()  # kept beside the card


def test_failing_notebook_shows_its_error_without_failing_the_step(nbflow):
    workdir, flow, svc = nbflow
    result = svc.spin(flow, "broken")
    assert result.ok, result.error
    (card,) = result.cards
    assert "ZeroDivisionError" in card["error"]
    html = Path(card["path"]).read_text()
    assert "before the error" in html and "ZeroDivisionError" in html
    assert any("ZeroDivisionError" in n for n in result.notices)
