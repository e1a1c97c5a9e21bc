"""The wire protocol has one definition (`flowspin.protocol`): extension/protocol.ts is generated
from it and must be up to date, every `flowspin/*` method either side uses is in it, and what
the server really sends (a real language-server session) matches it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from flowspin import protocol
from flowspin.protocol_check import check
from lsp_support import SERVER, TRAIN_FLOW, Doc, start_session, wait_until
from lsprotocol import types
from pytest_lsp import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "gen_protocol.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protocol", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extension_protocol_ts_is_generated_from_the_python_definitions() -> None:
    generator = _generator()
    current = generator.OUTPUT.read_text(encoding="utf-8")
    assert current == generator.render(), (
        "extension/protocol.ts is out of date with server/flowspin/protocol.py: run "
        "`.venv/bin/python scripts/gen_protocol.py` and commit the result"
    )


def _methods(folder: Path, pattern: str, glob: str) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob(glob):
        if path.name not in ("protocol.ts", "protocol.py"):
            found |= set(re.findall(pattern, path.read_text(encoding="utf-8")))
    return found


def test_every_flowspin_method_either_side_uses_is_in_the_protocol() -> None:
    known = {*protocol.REQUESTS, *protocol.NOTIFICATIONS, *protocol.CLIENT_NOTIFICATIONS}
    server = _methods(ROOT / "server" / "flowspin", r"\"(flowspin/[A-Za-z]+)\"", "*.py")
    extension = _methods(ROOT / "extension", r"'(flowspin/[A-Za-z]+)'", "*.ts")
    assert extension, "no flowspin/* method found in the extension: the pattern is stale"
    assert not (server | extension) - known, "methods missing from flowspin.protocol"


def test_the_spin_result_dict_is_the_dataclass() -> None:
    from flowspin.results import SpinResult

    fields = [f.name for f in dataclasses.fields(SpinResult)]
    assert fields == list(typing.get_type_hints(protocol.SpinResultData))
    failed = SpinResult.failure("/w/flow.py", "train", "ValueError", "bad", line=3)
    assert check(failed.to_dict(), protocol.SpinResultData) == []
    ok = SpinResult("ok", "F", "train", "s1", "fork", duration_ms=12.5, code={"train": "ab"})
    assert check(ok.to_dict(), protocol.SpinResultData) == []


def test_the_error_dict_has_one_constructor() -> None:
    error = protocol.error_info("ZeroDivisionError", "division by zero", file="/w/f.py", line=4)
    assert error == {
        "type": "ZeroDivisionError",
        "message": "division by zero",
        "traceback": "",
        "file": "/w/f.py",
        "line": 4,
    }
    assert check(error, protocol.ErrorInfo) == []


def test_the_engines_dicts_match_their_protocol_types() -> None:
    from flowspin.agents.values import Source
    from flowspin.analysis import parse_source
    from flowspin.cards.lookup import FoundCards
    from flowspin.runs.flowinfo import parameter_prompts
    from flowspin.runs.history import RunInfo

    assert [f.name for f in dataclasses.fields(RunInfo)] == list(
        typing.get_type_hints(protocol.RunSummary)
    )
    run = RunInfo("17", "TrainFlow", "ok", "2026-01-01T00:00:00", None, "me")
    assert check(run.as_dict(), protocol.RunSummary) == []
    flow = parse_source(TRAIN_FLOW).flows[0]
    assert check(parameter_prompts(flow), list[protocol.ParameterPrompt]) == []
    cards = FoundCards("run", "run 17, task 4", [{"type": "blank", "id": None, "path": "/c.html"}])
    cards.run_id, cards.task_id = "17", "4"
    assert check(cards.as_dict(), protocol.CardSet) == []
    source = Source("spin", "train", spin_id="s1", created=1.5, run_id="17")
    assert check(source.as_dict(), protocol.ValueSource) == []


def test_the_checker_tolerates_extra_keys_and_names_what_is_wrong() -> None:
    note = {"state": "busy", "message": "Spinning train", "extra": 1}
    assert check(note, protocol.StatusParams) == []
    assert check({"state": "asleep"}, protocol.StatusParams) == [
        "$.state: expected one of ['ready', 'busy', 'error'], got 'asleep'",
        "$: missing 'message' (StatusParams)",
    ]
    assert check({"ok": False, "message": "no"}, protocol.FlowInfoAnswer) == []
    assert check({"ok": True, "message": "no"}, protocol.FlowInfoAnswer) != []
    assert check(3, float) == [] and check(True, int) != [] and check(2.5, int) != []


# The extension's validators (generated TypeScript) judge as `check` does.
SAMPLES: list[tuple[str, Any]] = [
    ("StatusParams", {"state": "busy", "message": "Spinning train", "extra": 1}),
    ("StatusParams", {"state": "asleep", "message": ""}),
    ("StatusParams", {"state": "ready"}),
    ("StepAt", {"flow": "F", "step": "s", "node_type": "linear", "line": 3}),
    ("StepAt", {"flow": "F", "step": "s", "nodeType": "linear", "line": 3}),
    ("FlowInfoAnswer", {"ok": False, "message": "no flow"}),
    ("FlowInfoAnswer", {"ok": True, "message": "no flow"}),
    ("FlowEdge", {"from": "a", "to": "b", "label": None, "back": False}),
    ("FlowEdge", {"from": "a", "to": "b", "label": 3, "back": False}),
    ("RunList", {"ok": True, "message": "", "runs": [], "pinned": None}),
    ("RunList", {"ok": True, "message": "", "runs": [{"run_id": 1}]}),
    ("CardChanged", {"flow": "F", "step": "s", "path": "/c", "kind": "data", "cards": []}),
    ("CardChanged", {"flow": "F", "step": "s", "path": "/c", "kind": "data", "cards": [{}]}),
    ("ArtifactPage", {"ok": True, "rows": [[1, "a", None]], "sort": None}),
    ("ArtifactPage", {"ok": True, "rows": [1]}),
    ("SpinResultNote", {"uri": "u", "flow": "F", "step": "s", "status": "ok", "duration_ms": 1,
                        "spin_id": "x", "summary": "", "state_source": "", "error": None}),
    ("CommandResult", {"ok": True, "message": "m", "steps": {"a": {"done": 1}}}),
    ("CommandResult", []),
]  # fmt: skip


def test_the_extensions_validators_agree_with_the_python_checker(tmp_path: Path) -> None:
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    node = shutil.which("node")
    if not esbuild.exists() or node is None:
        # `make test-fast` installs no node packages; `make test` (and CI) always does.
        message = "needs node and the extension's node packages (make setup-node)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    bundle = tmp_path / "protocol.js"
    subprocess.run(
        [str(esbuild), str(ROOT / "extension" / "protocol.ts"), "--format=cjs",
         f"--outfile={bundle}", "--log-level=warning"],
        check=True,
    )  # fmt: skip
    script = (
        f"const p = require({json.dumps(str(bundle))});"
        "const samples = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(samples.map(([n, v]) => p.validate(n, v).length === 0)));"
    )
    run = subprocess.run(
        [node, "-e", script], input=json.dumps(SAMPLES), capture_output=True, text=True, check=True
    )
    typescript = json.loads(run.stdout)
    python = [not check(value, getattr(protocol, name)) for name, value in SAMPLES]
    assert typescript == python
    assert python == [True, False, False, True, False, True, False, True, False, True, False,
                      True, False, True, False, False, True, False]  # fmt: skip


# -- what a real server sends ------------------------------------------------------------------

_session: dict[str, Any] = {}
in_session = pytest.mark.asyncio(loop_scope="module")


def _plain(value: Any) -> Any:
    """pygls hands back JSON objects as namedtuples (an edge's keyword key "from" renamed
    `_0`): plain dicts and lists, as they were on the wire."""
    if hasattr(value, "_asdict"):
        fields = value._asdict()
        if "_0" in fields and "to" in fields:
            fields = {("from" if k == "_0" else k): v for k, v in fields.items()}
        return {k: _plain(v) for k, v in fields.items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("protocol")
    (workdir / ".git").mkdir()
    (workdir / "plain.py").write_text("x = 1\n")
    return workdir


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(lambda ls, params: None)
    _session["status"], _ = await start_session(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def train(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "train_flow.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    return doc


async def reply(client: LanguageClient, method: str, params: dict[str, Any]) -> Any:
    """The server's answer to `method`, checked against its protocol type."""
    answer = _plain(await client.protocol.send_request_async(method, params))
    _, result = protocol.REQUESTS[method]
    assert check(answer, result) == [], answer
    return answer


@in_session
async def test_the_status_notification_matches(client: LanguageClient) -> None:
    assert check(_plain(_session["status"]), protocol.StatusParams) == []


@in_session
async def test_step_at_and_the_flow_graph_match(client: LanguageClient, train: Doc) -> None:
    line = train.line_of("self.rate = self.input")
    found = await reply(client, protocol.STEP_AT, {"uri": train.uri, "line": line})
    assert (found["step"], found["node_type"]) == ("train", "linear")
    assert await reply(client, protocol.STEP_AT, {"uri": train.uri, "line": 0}) is None

    graph = await reply(client, protocol.FLOW_GRAPH, {"uri": train.uri})
    assert [s["name"] for s in graph["flows"][0]["steps"]] == ["start", "train", "join", "end"]
    assert graph["flows"][0]["edges"][0]["from"] == "start"
    plain = (train.path.parent / "plain.py").as_uri()
    missing = await reply(client, protocol.FLOW_GRAPH, {"uri": plain})
    assert missing["flows"] == [] and missing["error"]


@in_session
async def test_the_artifact_and_card_answers_match(client: LanguageClient, train: Doc) -> None:
    # Never spun, never run: each answer says so, in its protocol shape.
    listing = await reply(client, protocol.ARTIFACTS, {"uri": train.uri, "step": "train"})
    assert listing["ok"] is False and listing["message"]
    by_line = {"uri": train.uri, "line": train.line_of("self.rate = self.input")}
    assert (await reply(client, protocol.ARTIFACTS, by_line))["ok"] is False
    below = {"uri": train.uri, "step": "train", "path": ["rate"]}
    assert (await reply(client, protocol.ARTIFACT_CHILDREN, below))["ok"] is False
    page = {**below, "offset": 0, "limit": 10, "sort": None}
    assert (await reply(client, protocol.ARTIFACT_PAGE, page))["ok"] is False

    cards = await reply(client, protocol.CARD_FOR, {"uri": train.uri, "step": "train"})
    assert cards["has_card_decorator"] is True and cards["how_to"] and cards["cards"] == []


@in_session
async def test_the_run_prompts_answers_match(client: LanguageClient, train: Doc) -> None:
    info = await reply(client, protocol.FLOW_INFO, {"uri": train.uri, "line": 0})
    assert info["ok"] is True and info["parameters"][0]["name"] == "n_rows"
    plain = (train.path.parent / "plain.py").as_uri()
    nowhere = await reply(client, protocol.FLOW_INFO, {"uri": plain})
    assert nowhere["ok"] is False


@in_session
async def test_a_command_answer_matches(client: LanguageClient, train: Doc) -> None:
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="flowspin.server.cancel", arguments=[{"uri": train.uri}])
    )
    assert check(_plain(answer), protocol.CommandResult) == [], answer


SPIN_FLOW = """
from metaflow import FlowSpec, step


class ProtoFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        pass
"""


@pytest.mark.metaflow
@in_session
async def test_a_spin_answer_and_its_notifications_match(
    client: LanguageClient, root: Path
) -> None:
    """A real spin that fails (no run of the flow yet): the command's answer with its
    SpinResult and error dict, and `flowspin/spinResult` (test_lsp_spin checks a good one)."""
    from lsp_support import use_workspace_datastore

    seen: dict[str, list[Any]] = {protocol.LOG: [], protocol.SPIN_RESULT: []}
    for method, into in seen.items():
        client.feature(method)(lambda ls, params, into=into: into.append(_plain(params)))
    use_workspace_datastore(client, root)
    doc = Doc(client, root / "proto_flow.py", SPIN_FLOW.lstrip())
    await doc.wait_diagnostics(lambda d: True)
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flowspin.server.spin", arguments=[{"uri": doc.uri, "step": "start"}]
        )
    )
    assert check(_plain(answer), protocol.CommandResult) == [], answer
    assert answer["ok"] is False and answer["result"]["error"]["type"] == "MissingBaseRun"

    await wait_until(client, protocol.SPIN_RESULT, lambda: bool(seen[protocol.SPIN_RESULT]))
    for method, payloads in seen.items():
        for payload in payloads:
            assert check(payload, protocol.NOTIFICATIONS[method]) == [], payload
    assert seen[protocol.SPIN_RESULT][-1]["error"]["type"] == "MissingBaseRun"
