"""The wire protocol between the language server and the VS Code extension, in one place.

Every `flowspin/*` request's params and result, every notification's payload, the
`flowspin.server.*` commands' answer, a spin result's dict form and the error dict are typed
here, in one casing (snake_case, as the CLI's `--json` and MCP are). The server's producers are
typed with these; `scripts/gen_protocol.py` writes `extension/protocol.ts` from them (the
extension's types and the validators it checks every reply with), and `tests/test_protocol.py`
fails when that file is out of date, so the two sides cannot drift apart.

A base module: it imports no flowspin layer, so any layer may use it. Optional keys are the
keys of a `total=False` class (Python 3.10 has no `NotRequired`); classes whose name starts
with `_` only carry the required keys of the public one below them.

`flowspin.protocol_check.check(value, type)` is the runtime checker the tests hold the
producers' payloads to; it follows the same rules as the extension's validators.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# -- methods ----------------------------------------------------------------------------------

STEP_AT = "flowspin/stepAt"
FLOW_GRAPH = "flowspin/flowGraph"
FLOW_GRAPH_CHANGED = "flowspin/flowGraphChanged"
ARTIFACTS = "flowspin/artifacts"
ARTIFACT_CHILDREN = "flowspin/artifactChildren"
ARTIFACT_PAGE = "flowspin/artifactPage"
CARD_FOR = "flowspin/cardFor"
CARD_CHANGED = "flowspin/cardChanged"
FLOW_INFO = "flowspin/flowInfo"
LIST_RUNS = "flowspin/listRuns"
STATUS = "flowspin/status"
LOG = "flowspin/log"
SPIN_RESULT = "flowspin/spinResult"
DEBUG_LISTENING = "flowspin/debugListening"
CURSOR = "flowspin/cursor"
RUN_LOG = "flowspin/runLog"
RUN_STATUS = "flowspin/runStatus"

# -- shared -----------------------------------------------------------------------------------


class UriParams(TypedDict):
    """A document: `flowspin/flowGraph`'s params, `flowspin/flowGraphChanged`'s payload."""

    uri: str


class Refusal(TypedDict):
    """A request the server cannot answer for this target: why, for the user."""

    ok: Literal[False]
    message: str


class _ErrorInfo(TypedDict):
    type: str
    message: str
    traceback: str
    file: str  # "" when unknown
    line: int  # 1-based; 0 means the file as a whole


class ErrorInfo(_ErrorInfo, total=False):
    """Why a spin failed: the spin result's `error`, `flowspin/spinResult`'s `error`."""

    rule: str  # a broken graph's lint rule (the spin never started)


def error_info(
    type: str, message: str, *, traceback: str = "", file: str = "", line: int = 0
) -> ErrorInfo:
    """The error dict, built the same way wherever a spin can fail."""
    return {"type": type, "message": message, "traceback": traceback, "file": file, "line": line}


# -- the spin result ---------------------------------------------------------------------------

SpinStatus = Literal["ok", "error", "cancelled"]


class SpinBase(TypedDict, total=False):
    """What a spin's parent state came from."""

    run_id: str | None  # "" or None: no base run
    tasks: list[str]  # Metaflow pathspecs of the parent tasks
    chained_from: list[str]  # the parent spins a chained spin read


class SpinResultData(TypedDict):
    """`SpinResult.to_dict()`: the result contract shared by the CLI, the daemon, MCP and the
    LSP (a test keeps these keys equal to the dataclass's fields)."""

    status: SpinStatus
    flow: str
    step: str
    spin_id: str
    mode: str
    base: SpinBase
    artifacts: dict[str, dict[str, Any]]
    next: dict[str, Any]
    stdout: str
    stderr: str
    duration_ms: float
    cards: list[dict[str, Any]]
    error: ErrorInfo | None
    notices: list[str]
    timings: dict[str, float | None]  # ms per phase
    split_index: int | None
    splits: list[dict[str, Any]]
    flow_file: str
    persist: dict[str, Any]
    debug: dict[str, Any]
    code: dict[str, str]


# -- workspace/executeCommand flowspin.server.* -----------------------------------------------


class _CommandResult(TypedDict):
    ok: bool
    message: str  # for the user, shown as it is


class CommandResult(_CommandResult, total=False):
    """What every `flowspin.server.*` command answers; the optional keys are some commands'."""

    result: SpinResultData  # spin, debugStep
    results: list[SpinResultData]  # spinDownstream
    status: str  # run, resume: the run's outcome; cancelRun: "cancelling" | "cancelled"...
    run_id: str | None  # run, resume, cancelRun, selectBaseRun (the pinned run, or null)
    steps: dict[str, Any]  # run, resume: each step's progress
    text: str  # diff: the comparison, as text


class CommandArgument(UriParams, total=False):
    """The one argument of every `flowspin.server.*` command."""

    step: str
    line: int  # 0-based; the step there, when no `step` is given
    params: dict[str, str]  # run: Parameter values by name ("" for the flow's default)
    origin_run_id: str | None  # resume: the run to resume (default: the pinned base run)
    run_id: str | None  # selectBaseRun (null: follow the latest run), cancelRun


# -- flowspin/stepAt ---------------------------------------------------------------------------


class StepAtParams(TypedDict):
    uri: str
    line: int  # 0-based


class StepAt(TypedDict):
    """The step holding a line, as the server's model sees it."""

    flow: str
    step: str
    node_type: str
    line: int  # 0-based line of the step's `def`


# -- server state and spins (notifications) ----------------------------------------------------

ServerStatus = Literal["ready", "busy", "error"]


class StatusParams(TypedDict):
    """`flowspin/status`: the server's own state, for the status bar."""

    state: ServerStatus
    message: str


class SpinLog(TypedDict):
    """`flowspin/log`: a chunk of a running spin's output."""

    uri: str
    step: str
    stream: str  # "stdout" | "stderr"
    text: str


class _SpinResultNote(TypedDict):
    uri: str
    flow: str
    step: str
    status: SpinStatus
    duration_ms: float
    spin_id: str
    summary: str  # one line for the user
    state_source: str  # "base run 17", "chained from spin ...", "no base run"


class SpinResultNote(_SpinResultNote, total=False):
    """`flowspin/spinResult`: a spin from the editor ended."""

    error: ErrorInfo


class DebugListening(TypedDict):
    """`flowspin/debugListening`: a debug spin's step waits for a debugger here."""

    uri: str
    step: str
    host: str
    port: int


class CursorParams(TypedDict):
    """`flowspin/cursor` (client to server): the cursor rests here; preload its step."""

    uri: str
    line: int  # 0-based


# -- flowspin/flowGraph ------------------------------------------------------------------------

StepKind = Literal["start", "linear", "split", "foreach", "switch", "join", "end"]
StepState = Literal["ok", "failed", "running", "never", "stale"]


class StepStatus(TypedDict):
    """A step's latest outcome as the flow panel shows it."""

    state: StepState
    source: Literal["spin", "run"] | None
    duration_ms: float | None
    error_line: int | None  # 1-based, in the flow file
    tasks_done: int | None
    tasks_total: int | None
    num_splits: int | None
    reason: str | None  # why it is stale


class FlowStep(TypedDict):
    name: str
    line: int  # 1-based line of the step's `def`
    kind: StepKind
    status: StepStatus


# `from` is a Python keyword: the functional form.
FlowEdge = TypedDict(
    "FlowEdge",
    {
        "from": str,
        "to": str,
        "label": str | None,  # a switch's case
        "back": bool,  # a recursive switch edge back to an earlier step
    },
)


class FlowGraphFlow(TypedDict):
    name: str
    steps: list[FlowStep]
    edges: list[FlowEdge]


class FlowGraph(TypedDict):
    """`flowspin/flowGraph`'s answer: every flow of the file, or why there is none."""

    uri: str
    flows: list[FlowGraphFlow]
    error: str | None  # a syntax error, no flow in the file...


# -- the Artifacts view ------------------------------------------------------------------------

ArtifactBadge = Literal["new", "changed", "inherited"]


class ArtifactsParams(UriParams, total=False):
    step: str
    line: int  # 0-based: the step there, when no `step` is given
    source: str  # "spin" (default) | "run" | "run:<run id>"


class ArtifactRow(TypedDict):
    name: str
    type: str | None
    shape: list[int] | None
    len: int | None
    size: int | None  # bytes
    size_text: str
    badge: ArtifactBadge | None  # a spin's artifact against its base run's
    summary: str
    expandable: bool
    table: bool


class ValueSource(TypedDict, total=False):
    """Where the values came from: a spin or a run's task (unknown keys left out)."""

    kind: str  # "spin" | "run"
    step: str
    spin_id: str
    created: float  # epoch seconds
    run_id: str
    task_id: str
    pathspec: str


class _ArtifactAnswer(TypedDict):
    ok: bool


class ArtifactAnswer(_ArtifactAnswer, total=False):
    """What the three artifact requests share: a failure's `message`, the step read."""

    message: str
    flow: str
    step: str


class ArtifactListing(ArtifactAnswer, total=False):
    """`flowspin/artifacts`: the step's artifacts."""

    source: ValueSource
    label: str
    source_key: str  # what the rows' children and pages are read from
    note: str | None
    artifacts: list[ArtifactRow]


class _ArtifactPathParams(TypedDict):
    uri: str
    step: str
    path: list[str]  # the artifact's name, then keys below it


class ArtifactChildrenParams(_ArtifactPathParams, total=False):
    source: str


class _ArtifactChild(TypedDict):
    key: str
    label: str
    type: str
    summary: str
    expandable: bool
    table: bool


class ArtifactChild(_ArtifactChild, total=False):
    info: bool  # a fact about the value (an array's shape), not a value below it


class ArtifactChildren(ArtifactAnswer, total=False):
    """`flowspin/artifactChildren`: one level below a value."""

    children: list[ArtifactChild]
    total: int
    more: int  # left out


class PageSort(TypedDict):
    column: str
    descending: bool


class ArtifactPageParams(_ArtifactPathParams, total=False):
    source: str
    offset: int
    limit: int
    sort: PageSort | None


class PageColumn(TypedDict):
    name: str
    dtype: str
    numeric: bool


class ArtifactPage(ArtifactAnswer, total=False):
    """`flowspin/artifactPage`: rows of a table-like value, or a value as text."""

    kind: Literal["table", "text"]
    text: str
    columns: list[PageColumn]
    index: list[Any]
    rows: list[list[Any]]
    total: int
    offset: int
    limit: int
    sort: PageSort | None


# -- cards -------------------------------------------------------------------------------------

CardSource = Literal["auto", "spin", "run"]


class CardForParams(UriParams, total=False):
    step: str
    line: int
    source: CardSource


class _CardEntry(TypedDict):
    type: str
    path: str


class CardEntry(_CardEntry, total=False):
    id: str | None
    error: str | None
    data: Any  # a run card's latest data update ({reload_token, data, created_on})


class _CardSet(TypedDict):
    cards: list[CardEntry]


class CardSet(_CardSet, total=False):
    """Cards and where they came from (`flowspin.cards.lookup.FoundCards.as_dict`)."""

    source: Literal["spin", "run"]
    label: str
    created: float | None  # epoch seconds
    base_run: str | None  # a spin's base run
    run_id: str | None  # a run card's run and task
    task_id: str | None
    live: bool  # a run card of a task still running


class _CardAnswer(CardSet):
    ok: bool


class CardAnswer(_CardAnswer, total=False):
    """`flowspin/cardFor`: the step's cards from the source asked for, or what to do."""

    message: str
    flow: str
    step: str
    has_card_decorator: bool
    cards_root: str
    asked: CardSource
    how_to: str


class _CardChanged(CardSet):
    flow: str
    step: str
    path: str
    kind: Literal["html", "data"]


class CardChanged(_CardChanged, total=False):
    """`flowspin/cardChanged`: a card file of a step was written."""

    data: Any  # kind "data": the update the card applies in place
    spin_id: str | None


# -- runs --------------------------------------------------------------------------------------

RunState = Literal["running", "ok", "failed", "cancelled"]


class RunLog(TypedDict):
    """`flowspin/runLog`: one line of a run from the editor."""

    uri: str
    flow: str
    text: str


class RunStatus(TypedDict):
    """`flowspin/runStatus`: a run from the editor, for the status bar."""

    uri: str
    flow: str
    run_id: str | None
    state: RunState
    text: str


class FlowParams(UriParams, total=False):
    """`flowspin/flowInfo`, `flowspin/listRuns`: the flow at `line` (else the file's first)."""

    line: int | None
    step: str


class ParameterPrompt(TypedDict):
    name: str  # as Metaflow's CLI takes it
    attr: str
    default: str | None  # as written in the source
    help: str | None
    type: str | None


class FlowInfo(TypedDict):
    """`flowspin/flowInfo`: the flow at the cursor, for the run and resume prompts."""

    ok: Literal[True]
    flow: str
    steps: list[str]
    step: str | None
    parameters: list[ParameterPrompt]


FlowInfoAnswer = FlowInfo | Refusal


class RunSummary(TypedDict):
    """A past run (`flowspin.runs.RunInfo.as_dict`)."""

    run_id: str
    flow: str
    status: str  # ok | running | failed | cancelled | orphaned | unfinished
    created_at: str | None
    finished_at: str | None
    user: str | None
    tags: list[str]
    parameters: dict[str, str]
    pathspec: str
    launch: dict[str, Any] | None  # flowspin's record of the launch


class _RunList(TypedDict):
    ok: bool
    message: str
    runs: list[RunSummary]


class RunList(_RunList, total=False):
    """`flowspin/listRuns`: the flow's past runs, newest first."""

    flow: str
    pinned: str | None  # the base run chosen with Select Base Run


# -- the method map ----------------------------------------------------------------------------

# method -> (params, result)
REQUESTS: dict[str, tuple[Any, Any]] = {
    STEP_AT: (StepAtParams, StepAt | None),
    FLOW_GRAPH: (UriParams, FlowGraph),
    ARTIFACTS: (ArtifactsParams, ArtifactListing),
    ARTIFACT_CHILDREN: (ArtifactChildrenParams, ArtifactChildren),
    ARTIFACT_PAGE: (ArtifactPageParams, ArtifactPage),
    CARD_FOR: (CardForParams, CardAnswer),
    FLOW_INFO: (FlowParams, FlowInfoAnswer),
    LIST_RUNS: (FlowParams, RunList),
}

# server -> client
NOTIFICATIONS: dict[str, Any] = {
    STATUS: StatusParams,
    LOG: SpinLog,
    SPIN_RESULT: SpinResultNote,
    DEBUG_LISTENING: DebugListening,
    FLOW_GRAPH_CHANGED: UriParams,
    CARD_CHANGED: CardChanged,
    RUN_LOG: RunLog,
    RUN_STATUS: RunStatus,
}

# client -> server
CLIENT_NOTIFICATIONS: dict[str, Any] = {CURSOR: CursorParams}
