"""Every step kind spun through a real worker, compared with the real Metaflow run's tasks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import metaflow_env, run_metaflow, write_flow
from spin_helpers import make_service

FLOW = """
from metaflow import FlowSpec, step, Parameter, current, card
import helper


class Box:
    def __init__(self, v):
        self.v = v


class KindsFlow(FlowSpec):
    alpha = Parameter("alpha", default=2)

    @step
    def start(self):
        self.box = Box(7)
        self.items = [1, 2, 3]
        self.mode = "fast"
        self.count = 0
        print("starting", self.alpha)
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.shared = "same"
        self.next(self.join1)

    @step
    def b(self):
        self.x = 2
        self.shared = "same"
        self.next(self.join1)

    @step
    def join1(self, inputs):
        self.xs = sorted(i.x for i in inputs)
        self.from_a = inputs.a.x
        self.merge_artifacts(inputs, exclude=["x"])
        self.next(self.mid)

    @step
    def mid(self):
        self.next(self.fan, foreach="items")

    @step
    def fan(self):
        self.sq = self.input * self.input * self.alpha
        self.idx = self.index
        self.grid = ["p", "q"]
        self.next(self.inner, foreach="grid")

    @step
    def inner(self):
        self.tag = f"{self.input}{self.sq}"
        self.stack = [i for i, _, _ in self.foreach_stack()]
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.tags = [i.tag for i in inputs]
        self.merge_artifacts(inputs, exclude=["tag", "stack"])
        self.next(self.fan_join)

    @step
    def fan_join(self, inputs):
        self.total = sum(i.sq for i in inputs)
        self.all_tags = [t for i in inputs for t in i.tags]
        self.merge_artifacts(inputs, include=["box", "mode", "count"])
        self.next(self.decide)

    @step
    def decide(self):
        self.helper_value = helper.VALUE
        self.next({"fast": self.quick, "slow": self.slow}, condition="mode")

    @step
    def quick(self):
        self.path = "quick"
        self.next(self.loop)

    @step
    def slow(self):
        self.path = "slow"
        self.next(self.loop)

    @step
    def loop(self):
        self.count += 1
        self.again = "yes" if self.count < 3 else "no"
        self.next({"yes": self.loop, "no": self.end}, condition="again")

    @card
    @step
    def end(self):
        current.card.append("hello")
        self.flow_name = current.flow_name
        self.step_name = current.step_name
        print("done", self.box.v)


if __name__ == "__main__":
    KindsFlow()
"""


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("kinds")
    (workdir / "helper.py").write_text("VALUE = 1\n")
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    svc = make_service(workdir)
    yield workdir, flow, svc
    svc.shutdown()


def real_task_artifacts(workdir: Path, flow: Path, step: str, index: int = 0) -> dict:
    """Artifacts of the real run's task of `step` (first task by foreach path), via a subprocess."""
    import json
    import subprocess
    import sys

    code = f"""
import json, sys
sys.path.insert(0, {str(workdir)!r})
import runpy
mod = runpy.run_path({str(flow)!r}, run_name="flowspin_probe")
sys.modules["__main__"].__dict__.update(mod)
from metaflow import Flow, namespace
namespace(None)
run = Flow("KindsFlow").latest_run
tasks = sorted(run[{step!r}], key=lambda t: t.metadata_dict.get("foreach-execution-path", ""))
t = tasks[{index}]
out = {{}}
for a in t.artifacts:
    v = a.data
    out[a.id] = repr(v) if not hasattr(v, "v") else f"Box({{v.v}})"
print(json.dumps(out))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env=metaflow_env(workdir),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spun_reprs(result) -> dict:
    out = {}
    for name, a in result.artifacts.items():
        out[name] = f"Box({a['repr']})" if a["type"] == "Box" else a["repr"]
    return out


def comparable(real: dict, spun: dict) -> tuple[dict, dict]:
    keys = set(real) | set(spun)
    keys.discard("box")  # object reprs carry addresses; checked separately
    return {k: real.get(k) for k in keys}, {k: spun.get(k) for k in keys}


@pytest.mark.parametrize(
    "step,index",
    [
        ("start", 0),
        ("a", 0),
        ("join1", 0),
        ("fan", 0),
        ("inner", 0),
        ("inner_join", 0),
        ("fan_join", 0),
        ("decide", 0),
        ("quick", 0),
        ("end", 0),
    ],
)
def test_each_step_kind_matches_the_real_run(kinds, step, index):
    workdir, flow, svc = kinds
    result = svc.spin(flow, step, {"persist": False})
    assert result.status == "ok", result.error
    real = real_task_artifacts(workdir, flow, step, index)
    want, got = comparable(real, spun_reprs(result))
    assert got == want
    assert result.mode == "fork"
    assert result.base["run_id"]


def test_start_gets_parameters_and_stdout(kinds):
    _, flow, svc = kinds
    logs = []
    result = svc.spin(flow, "start", {"persist": False}, on_log=lambda s, d: logs.append((s, d)))
    assert result.ok
    assert "starting 2" in result.stdout
    assert ("stdout", "starting 2\n") in logs
    assert result.next == {"type": "split", "steps": ["a", "b"]}
    assert result.artifacts["box"]["type"] == "Box"


def test_foreach_split_selection_and_stack(kinds):
    _, flow, svc = kinds
    r2 = svc.spin(flow, "fan", {"split": 2, "persist": False})
    assert r2.ok, r2.error
    assert r2.artifacts["sq"]["repr"] == "18" and r2.artifacts["idx"]["repr"] == "2"
    assert r2.next["foreach"] == "grid" and r2.next["num_splits"] == 2
    inner = svc.spin(flow, "inner", {"split": 1, "persist": False})
    assert inner.ok, inner.error
    assert inner.artifacts["stack"]["repr"] == "[0, 1]"
    assert inner.artifacts["tag"]["repr"] == "'q2'"


def test_all_splits_runs_one_child_per_split(kinds):
    _, flow, svc = kinds
    result = svc.spin(flow, "fan", {"all_splits": True, "persist": False})
    assert result.ok, result.error
    assert [s["split_index"] for s in result.splits] == [0, 1, 2]
    assert all(s["status"] == "ok" for s in result.splits)


def test_switch_and_recursive_switch(kinds):
    _, flow, svc = kinds
    decide = svc.spin(flow, "decide", {"persist": False})
    assert decide.next["steps"] == ["quick"] and decide.next["case"] == "'fast'"
    loop = svc.spin(flow, "loop", {"persist": False})
    assert loop.ok, loop.error
    assert loop.artifacts["count"]["repr"] == "1"
    assert loop.next["steps"] == ["loop"]


def test_param_override_and_current(kinds):
    _, flow, svc = kinds
    result = svc.spin(flow, "fan", {"params": {"alpha": "10"}, "persist": False})
    assert result.ok, result.error
    assert result.artifacts["sq"]["repr"] == "10"
    assert result.artifacts["alpha"]["repr"] == "10" and result.artifacts["alpha"]["changed"]
    bad = svc.spin(flow, "fan", {"params": {"nope": "1"}, "persist": False})
    assert bad.status == "error" and bad.error["type"] == "UnknownParameter"
    typo = svc.spin(flow, "fan", {"params": {"alpha": "ten"}, "persist": False})
    assert typo.status == "error" and typo.error["type"] == "InvalidParameter"
    assert "alpha" in typo.error["message"] and "'ten'" in typo.error["message"]
    end = svc.spin(flow, "end", {"persist": False})
    assert end.artifacts["flow_name"]["repr"] == "'KindsFlow'"
    assert end.artifacts["step_name"]["repr"] == "'end'"


def test_artifacts_module_overrides(kinds):
    workdir, flow, svc = kinds
    mod = workdir / "arts.py"
    mod.write_text("ARTIFACTS = {'items': [5, 6]}\n")
    result = svc.spin(flow, "fan", {"artifacts_module": str(mod), "split": 1, "persist": False})
    assert result.ok, result.error
    assert result.artifacts["sq"]["repr"] == str(6 * 6 * 2)


def test_helper_module_edit_takes_effect(kinds):
    workdir, flow, svc = kinds
    first = svc.spin(flow, "decide", {"persist": False})
    assert first.artifacts["helper_value"]["repr"] == "1"
    helper = workdir / "helper.py"
    helper.write_text("VALUE = 42\n")
    st = helper.stat()
    os.utime(helper, (st.st_atime, st.st_mtime + 5))
    second = svc.spin(flow, "decide", {"persist": False})
    assert second.artifacts["helper_value"]["repr"] == "42"
    helper.write_text("VALUE = 1\n")
    os.utime(helper, (st.st_atime, st.st_mtime + 10))


def metaflow_spin_artifacts(workdir: Path, flow: Path, pathspec: str) -> dict:
    """`python flow.py spin PATHSPEC --persist`, then its artifacts read back (reprs)."""
    import json
    import subprocess
    import sys

    attr = workdir / f"spin-{pathspec.replace('/', '_')}.json"
    run_metaflow(flow, "spin", pathspec, "--persist", "--runner-attribute-file", str(attr))
    info = json.loads(attr.read_text())
    code = f"""
import json, runpy, sys
sys.modules["__main__"].__dict__.update(runpy.run_path({str(flow)!r}, run_name="probe"))
from metaflow import Task, metadata, namespace
namespace(None)
metadata({info["metadata"]!r})
t = Task("KindsFlow/{info["run_id"]}/{info["step_name"]}/{info["task_id"]}", _namespace_check=False)
print(json.dumps({{a.id: (f"Box({{a.data.v}})" if hasattr(a.data, "v") else repr(a.data))
                  for a in t.artifacts}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env=metaflow_env(workdir),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("step,index", [("fan", 1), ("join1", 0)])
def test_same_artifacts_as_metaflow_spin_of_the_same_task(kinds, step, index):
    workdir, flow, svc = kinds
    code = f"""
from metaflow import Flow, namespace
namespace(None)
tasks = sorted(Flow("KindsFlow").latest_run[{step!r}], key=lambda t: t.index or 0)
print(tasks[{index}].pathspec)
"""
    import subprocess
    import sys

    pathspec = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env=metaflow_env(workdir),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = svc.spin(flow, step, {"task": pathspec, "persist": False})
    assert ours.ok, ours.error
    theirs = metaflow_spin_artifacts(workdir, flow, pathspec)
    want, got = comparable(theirs, spun_reprs(ours))
    assert got == want
