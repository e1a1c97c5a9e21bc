"""Notebook cards: spun steps (papermill on a local ipykernel, nbconvert to HTML), and the
same notebook in a real Metaflow run through metaflow-card-notebook (docs/cards.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from conftest import run_flowspin, run_metaflow, write_flow
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

# Where `make setup` installs metaflow-card-notebook, off the main path (see the Makefile).
CARD_NOTEBOOK = Path(sys.prefix) / "metaflow-card-notebook"

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
    nb.metadata["language_info"] = {"name": "python"}  # as Jupyter saves it; papermill needs it
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def nbflow(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nbcards")
    # One notebook for both: a spin injects flowspin_spin_id, a run does not.
    write_notebook(
        workdir / "report.ipynb",
        "if flowspin_spin_id:\n"
        "    import flowspin\n"
        "    spun = flowspin.load_spin(flowspin_flow_file, step_name, flowspin_spin_id)\n"
        "    answer, source = spun.artifacts['answer'], 'spun task'\n"
        "else:\n"
        "    from metaflow import Task, namespace\n"
        "    namespace(None)\n"
        "    answer, source = Task(pathspec)['answer'].data, 'run task'\n"
        "print(f'answer from the {source}:', answer, 'run', run_id)",
    )
    write_notebook(workdir / "broken.ipynb", "print('before the error')", "1 / 0")
    flow = write_flow(workdir, FLOW)
    # The run sees metaflow-card-notebook; the spins below do not need it.
    assert (CARD_NOTEBOOK / "metaflow_extensions").is_dir(), (
        f"metaflow-card-notebook is not in {CARD_NOTEBOOK}: run `make setup`"
    )
    run_metaflow(flow, "run", env={"PYTHONPATH": str(CARD_NOTEBOOK)})
    run_id = next(p.name for p in (workdir / ".metaflow" / "NbFlow").iterdir() if p.name.isdigit())
    svc = make_service(workdir)
    yield workdir, flow, svc, run_id
    svc.shutdown()


def test_notebook_card_reads_the_spun_task(nbflow):
    workdir, flow, svc, _ = nbflow
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
    workdir, flow, svc, _ = nbflow
    result = svc.spin(flow, "broken")
    assert result.ok, result.error
    (card,) = result.cards
    assert "ZeroDivisionError" in card["error"]
    html = Path(card["path"]).read_text()
    assert "before the error" in html and "ZeroDivisionError" in html
    assert any("ZeroDivisionError" in n for n in result.notices)


def test_the_same_notebook_renders_in_a_real_run(nbflow):
    """Runs use metaflow-card-notebook: the notebook that reads a spun task reads the run's
    task there, and `flowspin card --run` finds that card."""
    workdir, _, _, run_id = nbflow
    proc = run_flowspin(workdir, "card", "flow.py", "report", "--run", run_id)
    assert proc.returncode == 0, proc.stderr
    card = Path(proc.stdout.splitlines()[0])
    assert card.parts[-9:-5] == ("NbFlow", "runs", run_id, "steps")  # Metaflow's own card store
    assert f"answer from the run task: 42 run {run_id}" in card.read_text()
