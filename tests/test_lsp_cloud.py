"""A spin from the editor of a run stored in S3 (moto's server on localhost): the download of
the big parent artifact shows in the spin's `$/progress`, not only in its output."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from conftest import metaflow_env, run_metaflow, write_flow
from lsp_support import Doc, start_session
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_spin_cloud import FLOW, MOTO, Moto

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not MOTO.exists(), reason="moto[server] is not installed"),
]
SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "flowspin", "lsp"],
    server_env={**os.environ, "METAFLOW_USER": "tester", "USER": os.environ.get("USER", "tester")},
)
_state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("lspcloud")
    (workdir / ".git").mkdir()
    moto = Moto(workdir)
    env = {
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": "s3://flowspin-lsp/prefix",
        "METAFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{moto.port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "METAFLOW_CLIENT_CACHE_PATH": str(workdir / "mf-client-cache"),
        "FLOWSPIN_ARTIFACT_CACHE_DIR": str(workdir / "artifact-cache"),
        "FLOWSPIN_PROGRESS_MIN_MB": "1",  # the parent's blob is 3 MB
    }
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["METAFLOW_S3_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket="flowspin-lsp")
    run_metaflow(write_flow(workdir, FLOW), "--datastore=s3", "run", env=env)
    _state["env"] = {**metaflow_env(workdir), **env}
    yield workdir
    moto.stop()


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(lambda ls, params: None)
    await start_session(lsp_client, root)
    run_env = {k: v for k, v in _state["env"].items() if k.startswith(("METAFLOW_", "AWS_"))}
    run_env.update({k: v for k, v in _state["env"].items() if k.startswith("FLOWSPIN_")})
    lsp_client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flowspin": {"run": {"env": run_env}}})
    )
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def flow(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "flow.py", FLOW.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def test_a_cold_spin_of_an_s3_run_reports_its_download_as_progress(
    client: LanguageClient, flow: Doc
) -> None:
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.spin", arguments=[{"uri": flow.uri, "step": "end"}]
        )
    )
    assert answer["ok"] is True, answer["message"]
    assert "total 3 3145728" in answer["result"]["stdout"]
    reports = [r for r in client.progress_reports.values() if r and r[0].title == "Spinning end"]
    assert reports, client.progress_reports
    messages = [getattr(r, "message", None) or "" for r in reports[-1]]
    assert any(m.startswith("downloading CloudFlow/") for m in messages), messages
