"""`flowspin graph --json` gives, per step, Metaflow's own `in_funcs`, `split_parents` and
`matching_join`: compared with `metaflow.graph.FlowGraph` built from the imported flow class
(in a subprocess: tests may import flows, the analysis never does)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import metaflow_env
from test_analysis_differential import generate

CORPUS = Path(__file__).parent / "corpus"
FLOWS = sorted(p for p in (CORPUS / "valid").glob("*.py") if "__main__" in p.read_text())
FLOWS += sorted(
    p / "flow.py"
    for p in (CORPUS / "projects").iterdir()
    if p.name.startswith("valid") and (p / "flow.py").is_file()  # run as `python flow.py`
)

METAFLOW_GRAPH = r"""
import importlib.util, inspect, json, sys
from metaflow import FlowSpec
from metaflow.graph import FlowGraph

path = sys.argv[1]
sys.path.insert(0, path.rsplit("/", 1)[0])
spec = importlib.util.spec_from_file_location("userflow", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
out = {}
for name, cls in vars(module).items():
    if inspect.isclass(cls) and issubclass(cls, FlowSpec) and cls.__module__ == "userflow":
        graph = FlowGraph(cls)
        out[name] = {
            node.name: {
                "in_funcs": sorted(node.in_funcs),
                "split_parents": list(node.split_parents),
                "matching_join": node.matching_join,
            }
            for node in graph
        }
print(json.dumps(out))
"""


def metaflow_graph(path: Path, workdir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", METAFLOW_GRAPH, str(path)],
        env=metaflow_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout)


def flowspin_graph(path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "graph", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {
        flow["name"]: {
            s["name"]: {k: s[k] for k in ("split_parents", "matching_join")} | {"in_funcs": s["in"]}
            for s in flow["steps"]
        }
        for flow in json.loads(proc.stdout)["flows"]
    }


def flows_metaflow_builds(ours: dict, theirs: dict) -> list[str]:
    return [name for name in ours if name in theirs]


@pytest.mark.metaflow
@pytest.mark.parametrize("path", FLOWS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_graph_facts_match_metaflow(path: Path, workdir: Path) -> None:
    ours, theirs = flowspin_graph(path), metaflow_graph(path, workdir)
    names = flows_metaflow_builds(ours, theirs)
    assert names
    for name in names:
        assert ours[name] == theirs[name], name


@pytest.mark.metaflow
@pytest.mark.parametrize("seed", [1000, 1003, 1007, 1011])
def test_graph_facts_match_metaflow_on_random_flows(seed: int, workdir: Path) -> None:
    """Random nested splits, foreaches and switches (incl. recursive ones)."""
    path = workdir / "flow.py"
    path.write_text(generate(seed))
    ours, theirs = flowspin_graph(path), metaflow_graph(path, workdir)
    assert ours["RandomFlow"] == theirs["RandomFlow"]


def test_recursive_switch_in_lists_no_loop_back_edge(workdir: Path) -> None:
    path = workdir / "flow.py"
    shutil.copy(CORPUS / "valid" / "switch_recursion.py", path)
    refine = flowspin_graph(path)["SwitchFlow"]["refine"]
    assert "refine" not in refine["in_funcs"]
