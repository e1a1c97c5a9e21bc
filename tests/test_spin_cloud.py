"""Spinning from a run stored in S3 (issue 17): a real `flow.py --datastore=s3 run` against
moto's S3 server on localhost, real workers, the local artifact cache, and failing fast.

The tests of this module run in order and share one moto server: the last ones stop it, as a
network outage would.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import metaflow_env, run_flowspin, run_metaflow, wait_until, write_flow
from spin_helpers import make_service

MOTO = Path(sys.executable).with_name("moto_server")
pytestmark = pytest.mark.skipif(not MOTO.exists(), reason="moto[server] is not installed")

FLOW = """
from metaflow import FlowSpec, step, card, current


class CloudFlow(FlowSpec):
    @step
    def start(self):
        self.xs = [1, 2, 3]
        self.blob = b"x" * (3 << 20)
        self.next(self.a, self.b)

    @step
    def a(self):
        self.v = 1
        self.next(self.join)

    @step
    def b(self):
        self.v = 2
        self.next(self.join)

    @card
    @step
    def join(self, inputs):
        self.total = sum(i.v for i in inputs)
        self.merge_artifacts(inputs, exclude=["v"])
        current.card.append("joined")
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total, len(self.blob))


if __name__ == "__main__":
    CloudFlow()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Moto:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = (workdir / "moto.log").open("w")
        self.proc = subprocess.Popen(
            [str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_until(lambda: accepts(self.port), 60, "moto_server to accept connections")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()
        wait_until(lambda: not accepts(self.port), 30, "moto_server to stop listening")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cloud")
    moto = Moto(workdir)
    env = {
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": "s3://flowspin-test/prefix",
        "METAFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{moto.port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Both caches in the test's folder: a fresh machine, and nothing of the user's touched.
        "METAFLOW_CLIENT_CACHE_PATH": str(workdir / "mf-client-cache"),
        "FLOWSPIN_ARTIFACT_CACHE_DIR": str(workdir / "artifact-cache"),
    }
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["METAFLOW_S3_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket="flowspin-test")
    flow = write_flow(workdir, FLOW)
    run_metaflow(flow, "--datastore=s3", "run", env=env)
    services = []
    yield {"workdir": workdir, "flow": flow, "env": env, "moto": moto, "services": services}
    for svc in services:
        svc.shutdown()
    moto.stop()


def service(cloud):
    svc = make_service(cloud["workdir"], **cloud["env"])
    cloud["services"].append(svc)
    return svc


def cache_info(cloud) -> dict:
    proc = run_flowspin(cloud["workdir"], "cache", "info", "--json", env=cloud["env"])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_run_is_in_s3_only(cloud):
    # No local datastore holds its artifacts: every read below goes through S3.
    assert not list((cloud["workdir"] / ".metaflow").rglob("*.data.json"))


def test_spin_a_step_and_a_join_from_s3(cloud):
    svc = service(cloud)
    flow = cloud["flow"]
    a = svc.spin(flow, "a", {"persist": False})
    assert a.status == "ok", a.error
    assert a.artifacts["v"]["repr"] == "1"
    join = svc.spin(flow, "join")
    assert join.status == "ok", join.error
    assert join.artifacts["total"]["repr"] == "3"
    assert len(join.base["tasks"]) == 2
    end = svc.spin(flow, "end")  # chained on the join's spin; the 3 MB blob read from S3
    assert end.status == "ok", end.error
    assert "total 3 3145728" in end.stdout
    assert end.base["chained_from"] == [join.spin_id]
    end = svc.spin(flow, "end", {"reset": True})  # on the run's own join task
    assert end.status == "ok", end.error
    assert "total 3 3145728" in end.stdout and not end.base["chained_from"]
    info = cache_info(cloud)
    assert info["blobs"] > 0 and info["bytes"] >= 3 << 20


def test_show_card_and_runs_of_an_s3_run(cloud):
    workdir, env = cloud["workdir"], cloud["env"]
    shown = run_flowspin(workdir, "show", "flow.py", "join", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    runs = run_flowspin(workdir, "runs", "flow.py", "--json", env=env)
    assert runs.returncode == 0, runs.stderr
    listed = json.loads(runs.stdout)
    items = listed if isinstance(listed, list) else listed.get("runs", [])
    assert [r["status"] for r in items] == ["ok"]
    run_id = cloud["run_id"] = items[0]["run_id"]
    card = run_flowspin(workdir, "card", "flow.py", "join", "--run", run_id, "--json", env=env)
    assert card.returncode == 0, card.stderr
    found = json.loads(card.stdout)["cards"][0]
    assert found["type"] == "default"
    # A remote card is copied once where a viewer can open it.
    path = Path(found["path"])
    assert path.is_relative_to(workdir / ".flowspin") and "<html" in path.read_text()


PROGRESS = """
import json
from metaflow import Flow, namespace
from flowspin.spin.plan import ParentSpec
from flowspin.spin.state import StateCache
from flowspin.store import mfload

mfload.PROGRESS_MIN_BYTES = 1 << 20  # the test's parent is 3 MB
namespace(None)
task = Flow("CloudFlow").latest_run["start"].task
lines = []
cache = StateCache(1 << 30, None)
cache.progress = lines.append
full = cache.get(ParentSpec("metaflow", task.pathspec, "start"))
lazy = StateCache(1 << 30, None)
part = lazy.get(ParentSpec("metaflow", task.pathspec, "start"), lazy=True)
before = part.values.is_loaded("blob")
lazy.promote()
print(json.dumps({
    "lines": lines,
    "full": len(full.values["blob"]),
    "lazy_before": before,
    "promoted": part.values.is_loaded("blob") and len(part.values["blob"]),
}))
"""


def test_a_large_download_reports_progress(cloud, tmp_path):
    env = dict(cloud["env"], FLOWSPIN_ARTIFACT_CACHE_DIR=str(tmp_path / "artifact-cache"))
    proc = subprocess.run(
        [sys.executable, "-c", PROGRESS],
        cwd=cloud["workdir"],
        env={**metaflow_env(cloud["workdir"]), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["full"] == 3 << 20
    assert out["lines"][0].startswith("flowspin: downloading CloudFlow/")
    assert "s3://flowspin-test/prefix" in out["lines"][0]
    assert out["lines"][-1].startswith("flowspin: downloaded 3 MB of CloudFlow/")
    # A cold (lazy) load leaves the 3 MB blob; promoting loads it (one batch).
    assert out["lazy_before"] is False and out["promoted"] == 3 << 20


def test_a_cold_spin_shows_its_download_as_it_goes(cloud, tmp_path):
    """The big parent artifact loads in the spin's child on a cold spin: its progress lines go
    to the spin's stderr stream, which the human CLI prints live (and the editor turns into
    its `$/progress` message)."""
    env = dict(
        cloud["env"],
        FLOWSPIN_ARTIFACT_CACHE_DIR=str(tmp_path / "artifact-cache"),
        FLOWSPIN_PROGRESS_MIN_MB="1",
    )
    proc = run_flowspin(cloud["workdir"], "spin", "flow.py", "end", "--no-daemon", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "flowspin: downloading CloudFlow/" in proc.stderr
    assert "flowspin: downloaded 3 MB of CloudFlow/" in proc.stderr
    assert "total 3 3145728" in proc.stdout


def test_a_new_worker_spins_from_the_cache_with_s3_down(cloud):
    cloud["moto"].stop()
    svc = service(cloud)  # a restarted editor: new service, new worker, nothing in memory
    result = svc.spin(cloud["flow"], "join", {"reset": True, "persist": False})
    assert result.status == "ok", result.error
    assert result.artifacts["total"]["repr"] == "3"
    result = svc.spin(cloud["flow"], "end", {"reset": True, "persist": False})
    assert result.status == "ok", result.error  # the join's task and the 3 MB blob: cached
    # An inherited artifact of a kept spin reads back from the cache too.
    shown = run_flowspin(
        cloud["workdir"], "show", "flow.py", "join", "xs", "--json", env=cloud["env"]
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["repr"] == "[1, 2, 3]"
    # The run's card: the copy kept when it was first shown.
    card = run_flowspin(
        cloud["workdir"],
        "card",
        "flow.py",
        "join",
        "--run",
        cloud["run_id"],
        "--json",
        env=cloud["env"],
    )
    assert card.returncode == 0, card.stderr
    assert "local copy" in json.loads(card.stdout)["label"]


@pytest.mark.timeout(120)
def test_an_uncached_task_with_s3_down_fails_fast_and_says_why(cloud):
    assert not accepts(cloud["moto"].port)
    cleared = run_flowspin(cloud["workdir"], "cache", "clear", "--json", env=cloud["env"])
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["blobs"] > 0
    assert cache_info(cloud)["blobs"] == 0
    svc = service(cloud)
    result = svc.spin(cloud["flow"], "join", {"reset": True, "persist": False})
    assert result.status == "error"
    assert result.error["type"] == "DatastoreUnreachable"
    message = result.error["message"]
    assert cloud["env"]["METAFLOW_S3_ENDPOINT_URL"] in message
    assert "flowspin cache info" in message and "METAFLOW_S3_ENDPOINT_URL" in message
    shown = run_flowspin(cloud["workdir"], "show", "flow.py", "join", "xs", env=cloud["env"])
    assert shown.returncode == 1 and "DatastoreUnreachable" in shown.stderr


@pytest.mark.timeout(120)
def test_choosing_the_base_run_with_s3_down_fails_fast_too(cloud):
    """With Metaflow's own client cache empty too (another machine, a cleared /tmp), picking
    the base run reads `_success` of each parent from S3 before any parent loads."""
    assert not accepts(cloud["moto"].port)
    env = dict(cloud["env"], METAFLOW_CLIENT_CACHE_PATH=str(cloud["workdir"] / "fresh-cache"))
    svc = make_service(cloud["workdir"], **env)
    cloud["services"].append(svc)
    result = svc.spin(cloud["flow"], "join", {"reset": True, "persist": False})
    assert result.status == "error"
    assert result.error["type"] == "DatastoreUnreachable"
    assert env["METAFLOW_S3_ENDPOINT_URL"] in result.error["message"]
    runs = run_flowspin(cloud["workdir"], "runs", "flow.py", env=env)
    assert runs.returncode != 0 and "unreachable" in runs.stderr


@pytest.mark.timeout(120)
def test_an_endpoint_that_never_answers_fails_fast_too(cloud, tmp_path):
    """A stuck proxy: the connection is taken (the kernel's backlog), nothing ever answers.
    Metaflow's retries and boto's 60 s read timeouts made this the longest hang of all."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        env = dict(
            cloud["env"],
            METAFLOW_S3_ENDPOINT_URL=f"http://127.0.0.1:{silent.getsockname()[1]}",
            METAFLOW_CLIENT_CACHE_PATH=str(tmp_path / "client-cache"),
            FLOWSPIN_ARTIFACT_CACHE_DIR=str(tmp_path / "artifact-cache"),
        )
        svc = make_service(cloud["workdir"], **env)
        cloud["services"].append(svc)
        result = svc.spin(cloud["flow"], "join", {"reset": True, "persist": False})
        assert result.status == "error"
        assert result.error["type"] == "DatastoreUnreachable"
        assert "did not answer" in result.error["message"]
        assert env["METAFLOW_S3_ENDPOINT_URL"] in result.error["message"]
    finally:
        silent.close()

