"""A spin looks for its base run as its caller: the Metaflow user and METAFLOW_* configuration
travel with each request, so one daemon serves several identities, each from a warm worker of
its own (issue 19, item 2)."""

from __future__ import annotations

import json

import pytest
from conftest import metaflow_env, run_flowspin, run_metaflow, write_flow
from spin_helpers import make_service

FLOW = """
from metaflow import FlowSpec, current, step


class WordFlow(FlowSpec):
    @step
    def start(self):
        self.words = ["a", "bb"]
        self.next(self.count)

    @step
    def count(self):
        self.n = len(self.words)
        self.who = current.username
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WordFlow()
"""


@pytest.fixture(scope="module")
def daves_run(tmp_path_factory):
    """A workspace whose only runs were made by dave."""
    workdir = tmp_path_factory.mktemp("identity")
    flow = write_flow(workdir, FLOW, name="wordflow.py")
    run_metaflow(flow, "run", env={"METAFLOW_USER": "dave"})
    run_metaflow(flow, "run", env={"METAFLOW_USER": "dave"})
    yield workdir, flow
    run_flowspin(workdir, "daemon", "stop", "--workspace", str(workdir))


def spin_as(workdir, user, *args):
    proc = run_flowspin(workdir, "spin", "wordflow.py", "count", *args, env={"METAFLOW_USER": user})
    return proc


def spin_json_as(workdir, user):
    proc = spin_as(workdir, user, "--json")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[0])


def daemon_status(workdir):
    proc = run_flowspin(workdir, "daemon", "status", "--workspace", str(workdir), "--json")
    return json.loads(proc.stdout)


def test_one_daemon_spins_as_each_caller(daves_run):
    workdir, _ = daves_run
    listed = run_flowspin(workdir, "runs", "wordflow.py", "--json", env={"METAFLOW_USER": "dave"})
    runs = json.loads(listed.stdout)
    newest = str(runs["runs"][0]["run_id"])

    # erin starts the daemon; she has no run of her own: the error names dave's and the fixes.
    code, erin = spin_json_as(workdir, "erin")
    assert code == 1 and erin["error"]["type"] == "MissingBaseRun", erin["error"]
    message = erin["error"]["message"]
    assert "2 runs under user:dave" in message, message
    assert "you are user:erin" in message, message
    assert f"pass --run {newest}" in message and "METAFLOW_USER=dave" in message, message
    pid = daemon_status(workdir)["pid"]

    # dave, same daemon: his own namespace, his run, his name in the step.
    code, dave = spin_json_as(workdir, "dave")
    assert code == 0, dave["error"]
    assert dave["base"]["run_id"] == newest
    assert dave["artifacts"]["who"]["repr"] == "'dave'"
    status = daemon_status(workdir)
    assert status["pid"] == pid
    daves = [w for w in status["workers"].values() if w["user"] == "dave"]
    assert len(daves) == 1 and daves[0]["alive"], status

    # dave again: the same warm worker; erin again: still her own namespace, no leak.
    code, again = spin_json_as(workdir, "dave")
    assert code == 0 and again["artifacts"]["n"]["repr"] == "2"
    status = daemon_status(workdir)
    assert [w["pid"] for w in status["workers"].values() if w["user"] == "dave"] == [
        daves[0]["pid"]
    ]
    assert spin_json_as(workdir, "erin")[1]["error"]["type"] == "MissingBaseRun"

    # erin can take dave's run as the hint says.
    code, borrowed = spin_json_as_with(workdir, "erin", "--run", newest)
    assert code == 0 and borrowed["artifacts"]["who"]["repr"] == "'erin'"
    assert daemon_status(workdir)["pid"] == pid


def spin_json_as_with(workdir, user, *args):
    proc = spin_as(workdir, user, *args, "--json")
    return proc.returncode, json.loads(proc.stdout)


def test_human_output_says_whose_runs_there_are(daves_run):
    workdir, _ = daves_run
    proc = spin_as(workdir, "erin")
    assert proc.returncode == 1
    assert "MissingBaseRun" in proc.stdout and "under user:dave" in proc.stdout, proc.stdout


def test_service_keys_workers_by_identity(daves_run, tmp_path):
    """In-process (the language server's and the Python API's service): `env=` picks the
    identity; the service's own environment (here erin's) is the default."""
    workdir, flow = daves_run
    dave = {**metaflow_env(workdir), "METAFLOW_USER": "dave"}
    with make_service(workdir, METAFLOW_USER="erin") as svc:
        mine = svc.spin(flow, "count", {"persist": False})
        assert mine.error and mine.error["type"] == "MissingBaseRun"
        r = svc.spin(flow, "count", {"persist": False}, env=dave)
        assert r.ok, r.error
        assert r.artifacts["who"]["repr"] == "'dave'"
        dave_pid = svc.worker_pid(flow, env=dave)
        assert dave_pid is not None and dave_pid != svc.worker_pid(flow)
        # Only identity variables are taken from a request: this one is dave's worker again.
        r = svc.spin(flow, "count", {"persist": False}, env={**dave, "PYTHONPATH": str(tmp_path)})
        assert r.ok and svc.worker_pid(flow, env=dave) == dave_pid


def test_a_few_identities_stay_warm_per_flow_file(daves_run):
    """Each identity's worker holds a parent state in memory: past three per flow file, the
    least recently used idle one is stopped (and comes back, cold, when its caller returns)."""
    workdir, flow = daves_run
    as_user = {u: {**metaflow_env(workdir), "METAFLOW_USER": u} for u in ("ann", "bob", "cy")}
    with make_service(workdir) as svc:
        assert svc.spin(flow, "count", {"persist": False}).error  # tester: no run of theirs
        for env in as_user.values():
            assert svc.spin(flow, "count", {"persist": False}, env=env).error
        alive = {w["user"] for w in svc.status().values() if w["alive"]}
        assert alive == {"ann", "bob", "cy"}, svc.status()
        assert svc.worker_pid(flow) is None
