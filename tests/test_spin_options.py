"""Decorators, Configs, preload, chaining through the Python API, and load_spin of real spins."""

from __future__ import annotations

import threading

import pytest
from conftest import metaflow_env, run_metaflow, write_flow
from spin_helpers import make_service

FLOW = """
import os
from metaflow import FlowSpec, step, retry, catch, resources, environment, timeout
from metaflow import Config, card, current


class DecoFlow(FlowSpec):
    settings = Config("settings", default_value={"lr": 0.5})

    @step
    def start(self):
        self.lr = self.settings["lr"]
        self.big = list(range(1000))
        self.blob = b"x" * 3_000_000
        self.next(self.env_step)

    @environment(vars={"FLOWSPIN_DEMO": "on"})
    @step
    def env_step(self):
        self.seen = os.environ.get("FLOWSPIN_DEMO")
        self.next(self.guarded)

    @retry(times=3)
    @catch(var="oops")
    @resources(memory=100)
    @step
    def guarded(self):
        self.attempts = 1
        if os.environ.get("FAIL_GUARDED"):
            raise KeyError("shown, not caught")
        self.next(self.slow)

    @timeout(seconds=1)
    @step
    def slow(self):
        import time
        if os.environ.get("SLOW"):
            time.sleep(30)
        self.next(self.end)

    @card
    @step
    def end(self):
        current.card.append("x")
        self.big.append(1)


if __name__ == "__main__":
    DecoFlow()
"""


@pytest.fixture(scope="module")
def deco(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deco")
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "run")
    svc = make_service(workdir, FLOWSPIN_CANCEL_GRACE_S="1")
    yield workdir, flow, svc
    svc.shutdown()


def test_config_value_from_the_base_run(deco):
    _, flow, svc = deco
    r = svc.spin(flow, "start", {"persist": False})
    assert r.ok, r.error
    assert r.artifacts["lr"]["repr"] == "0.5"


def test_environment_decorator_applies(deco):
    _, flow, svc = deco
    r = svc.spin(flow, "env_step", {"persist": False})
    assert r.ok, r.error
    assert r.artifacts["seen"]["repr"] == "'on'"


def test_ignored_decorators_noticed_and_catch_does_not_hide_errors(deco):
    workdir, flow, _ = deco
    svc = make_service(workdir, FAIL_GUARDED="1")
    try:
        r = svc.spin(flow, "guarded", {"persist": False})
    finally:
        svc.shutdown()
    assert r.status == "error" and r.error["type"] == "KeyError"
    notes = " ".join(r.notices)
    for name in ("retry", "catch", "resources"):
        assert f"@{name} ignored" in notes


def test_timeout_decorator_applies(deco):
    workdir, flow, _ = deco
    svc = make_service(workdir, SLOW="1", FLOWSPIN_CANCEL_GRACE_S="1")
    try:
        r = svc.spin(flow, "slow", {"persist": False})
        assert r.status == "error" and r.error["type"] == "Timeout"
        assert any("@timeout" in n for n in r.notices)
    finally:
        svc.shutdown()


def test_in_place_mutation_is_a_change_and_chains(deco, monkeypatch):
    workdir, flow, svc = deco
    for key, value in metaflow_env(workdir).items():
        monkeypatch.setenv(key, value)
    r = svc.spin(flow, "end")
    assert r.ok, r.error
    assert r.artifacts["big"]["changed"] is True
    assert r.artifacts["lr"]["changed"] is False
    from flowspin import load_spin
    from metaflow import metadata

    metadata(f"local@{workdir}")  # this test process may have imported Metaflow for another folder

    saved = load_spin(flow, "end")
    assert saved.spin_id == r.spin_id
    assert saved.artifacts["big"][-1] == 1 and len(saved.artifacts["big"]) == 1001
    assert saved.artifacts["lr"] == 0.5  # a reference into the Metaflow run, loaded lazily


def test_python_api_and_preload(deco):
    import flowspin

    workdir, flow, svc = deco
    assert svc.preload(flow, "env_step")
    first = svc.spin(flow, "env_step", {"persist": False})
    assert first.ok
    logs = []
    env = metaflow_env(workdir)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        res = flowspin.spin(flow, "env_step", persist=False, on_log=lambda s, d: logs.append(d))
        assert res.ok and res.artifacts["seen"]["repr"] == "'on'"
        assert '"status": "ok"' in res.to_json()
        from flowspin.spin.api import shutdown

        shutdown()


def test_concurrent_requests_on_one_service(deco):
    _, flow, svc = deco
    out = []
    threads = [
        threading.Thread(target=lambda s=s: out.append(svc.spin(flow, s, {"persist": False})))
        for s in ("start", "env_step", "start")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(r.step for r in out) == ["env_step", "start", "start"]
    assert all(r.ok for r in out)


def test_cold_spin_defers_big_untouched_artifacts_then_warms(deco):
    workdir, flow, _ = deco
    svc = make_service(workdir)
    try:
        cold = svc.spin(flow, "env_step", {"persist": False})
        assert cold.ok, cold.error
        blob = cold.artifacts["blob"]
        assert (
            blob["type"] == "bytes" and blob["size"] > 0 and blob["repr"].startswith("<not loaded")
        )
        assert cold.artifacts["lr"]["repr"] == "0.5"  # small ones are always there
        warm = svc.spin(flow, "env_step", {"persist": False})
        assert warm.artifacts["blob"]["repr"].startswith("b'xxxx")
        assert len(warm.artifacts["blob"]["repr"]) == 1000
    finally:
        svc.shutdown()


def test_state_over_the_memory_budget_stays_lazy(deco):
    workdir, flow, _ = deco
    svc = make_service(workdir, FLOWSPIN_STATE_BUDGET_MB="1")
    try:
        for _ in range(2):
            r = svc.spin(flow, "env_step", {"persist": False})
            assert r.ok, r.error
            assert r.artifacts["blob"]["repr"].startswith("<not loaded")
            assert r.artifacts["seen"]["repr"] == "'on'"
    finally:
        svc.shutdown()
