"""What an artifact holds, in one line, for hover, completion and `flowspin diff`.

Two sources, newest first: a step's latest spin, whose record already carries each artifact's
type, repr and size (the spin child wrote them), so nothing is unpickled; and the latest
Metaflow run's task of the step, whose `data.json` gives each artifact's type and stored size
without a load. A run's value is read only when it is small (`LOAD_CAP` bytes as stored), and
then with an unpickler that resolves classes from a short list of standard and data-library
modules only: the language server never imports user code, and a pickled instance of a
workspace class would otherwise import its module. Anything else shows its type and size.

Run lookups go through Metaflow's Client (the datastore that run wrote to, as
`flowspin.cards.lookup` finds it) and are cached: a task's summaries per (flow, run, step),
the list of latest runs for `RUNS_TTL_S` seconds, so a hover after the first is a dict read.
"""

from __future__ import annotations

import io
import pickle
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOAD_CAP = 1_000_000  # bytes as stored: a run's artifact up to this size is read for its repr
REPR_CAP = 200  # characters of a repr in a summary
RUNS_TTL_S = 3.0  # how long the list of a flow's latest runs is trusted
RUNS_LOOKED_AT = 5  # the latest runs searched for a task of the step

# Modules whose classes a run's small artifact may be rebuilt from (no user code).
_SAFE_MODULES = (
    "builtins",
    "copyreg",
    "collections",
    "datetime",
    "decimal",
    "fractions",
    "uuid",
    "pathlib",
    "_codecs",
    "numpy",
    "pandas",
    "pyarrow",
    "zoneinfo",
    "pytz",
    "dateutil",
)
# Of `builtins`, the value types only (no callables such as eval, getattr or open).
_SAFE_BUILTINS = {
    "bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list",
    "object", "range", "set", "slice", "str", "tuple", "NoneType", "Ellipsis",
}  # fmt: skip
RUN_WAIT_S = 0.5  # how long a request waits for a run lookup (it goes on in the background)


@dataclass
class Source:
    """Where the values came from: a spin or a run's task."""

    kind: str  # "spin" | "run"
    step: str
    spin_id: str | None = None
    created: float | None = None  # epoch seconds (a spin's record)
    run_id: str | None = None  # a spin's base run, or the run
    task_id: str | None = None
    pathspec: str | None = None  # a run's task

    def label(self, now: float | None = None) -> str:
        if self.kind == "spin":
            age = ""
            if self.created:
                age = f" {_ago((now or time.time()) - self.created)}"
            return f"spin{age} of `{self.step}`"
        return f"run {_short(self.run_id)}/task {self.task_id} of `{self.step}`"

    def as_dict(self) -> dict[str, Any]:
        keys = ("kind", "step", "spin_id", "created", "run_id", "task_id", "pathspec")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass
class StepValues:
    source: Source
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> summary


def _short(run_id: str | None) -> str:
    text = str(run_id or "?")
    return text if len(text) <= 6 else text[:4] + "…"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 129600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


_ROWS_COLS = re.compile(r"\[(\d+) rows x (\d+) columns\]\s*$")


def _shape_from_repr(type_name: str, text: str) -> list[int] | None:
    """A DataFrame's shape from its repr's footer (pandas prints it when it truncates)."""
    if "DataFrame" in type_name:
        found = _ROWS_COLS.search(text or "")
        if found:
            return [int(found.group(1)), int(found.group(2))]
    return None


def from_record_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A spin record's artifact entry as a summary (no unpickling: the child stored these)."""
    type_name = str(entry.get("type") or "")
    text = str(entry.get("repr") or "")
    summary: dict[str, Any] = {"type": type_name, "size": entry.get("size")}
    if text and not text.startswith("<not loaded"):
        summary["repr"] = text[:REPR_CAP]
    shape = _shape_from_repr(type_name, text)
    if shape:
        summary["shape"] = shape
    if entry.get("changed") is not None:
        summary["changed"] = bool(entry.get("changed"))
    return summary


def from_value(value: Any, size: int | None = None) -> dict[str, Any]:
    """A loaded value's summary (shape of frames and arrays, length of containers)."""
    from flowspin.agents.summary import summarize

    full = summarize(value, REPR_CAP)
    summary: dict[str, Any] = {"type": full["type"], "size": size}
    for key in ("shape", "len", "repr"):
        if key in full:
            summary[key] = full[key]
    if "repr" not in summary and "head" in full:
        summary["repr"] = full["head"][:REPR_CAP]
    return summary


def one_line(summary: dict[str, Any], limit: int = 80) -> str:
    """`int = 42`, `DataFrame [100 x 3], 2.4 kB`, `list len 3 = [1, 2, 3]`."""
    type_name = str(summary.get("type") or "?").rsplit(".", 1)[-1]
    parts = [type_name]
    if summary.get("shape"):
        parts.append("[" + " x ".join(str(n) for n in summary["shape"]) + "]")
    elif summary.get("len") is not None:
        parts.append(f"len {summary['len']}")
    text = " ".join(parts)
    small_scalar = type_name in ("int", "float", "bool", "str", "NoneType", "complex")
    if summary.get("size") and not small_scalar:
        text += f", {human_size(summary['size'])}"
    value = summary.get("repr")
    if value and not summary.get("shape"):
        value = " ".join(str(value).split())
        room = max(10, limit - len(text) - 3)
        if len(value) > room:
            value = value[: room - 1] + "…"
        text += f" = {value}"
    return text


# --- spins ----------------------------------------------------------------------------------


def spin_values(flow_file: Path, step: str, spin_id: str | None = None) -> StepValues | None:
    """The summaries of `step`'s newest successful spin (or of `spin_id`); a record still
    being written already has them, so this never waits for its bytes."""
    from flowspin.store import Store, workspace_root

    store = Store(workspace_root(flow_file))
    ids = store.list_spins(flow_file, step)
    if spin_id is not None:
        ids = [spin_id] if spin_id in ids else []
    for sid in reversed(ids):
        try:
            record = store._load(flow_file, step, sid, wait=False)
        except Exception:  # a damaged record: the next older one
            continue
        if spin_id is None and record.get("status") != "ok":
            continue
        values = {
            name: from_record_entry(entry)
            for name, entry in record.get("artifacts", {}).items()
            if not name.startswith("_")
        }
        base = record.get("base") or {}
        source = Source(
            "spin", step, spin_id=sid, created=record.get("created"), run_id=base.get("run_id")
        )
        return StepValues(source, values)
    return None


# --- runs ------------------------------------------------------------------------------------

_lock = threading.Lock()
_tasks: dict[tuple[str, str, str], StepValues | None] = {}  # (flow, run id, step)
_runs: dict[str, tuple[float, list[str]]] = {}  # flow -> (when, newest run ids)


class SafeUnpickler(pickle.Unpickler):
    """Rebuilds only classes of the standard and data-library modules in `_SAFE_MODULES`."""

    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".", 1)[0]
        if root not in _SAFE_MODULES or (root == "builtins" and name not in _SAFE_BUILTINS):
            raise pickle.UnpicklingError(f"{module}.{name} is not read by the editor")
        return super().find_class(module, name)


def _type_of_info(text: str) -> str:
    """`<class 'pandas.core.frame.DataFrame'>` -> `pandas.core.frame.DataFrame`."""
    found = re.match(r"<class '([^']+)'>", text or "")
    name = found.group(1) if found else (text or "object")
    return name[len("builtins.") :] if name.startswith("builtins.") else name


def open_datastore(flow_file: Path) -> bool:
    from flowspin.cards.lookup import _use_local_datastore_of

    return _use_local_datastore_of(flow_file)


def latest_run_ids(flow_file: Path, flow_name: str) -> list[str]:
    """The flow's newest run ids (cached `RUNS_TTL_S` s); [] when none can be read."""
    with _lock:
        cached = _runs.get(flow_name)
        if cached is not None and time.monotonic() - cached[0] < RUNS_TTL_S:
            return cached[1]
    ids: list[str] = []
    if open_datastore(flow_file):
        from metaflow import Flow, namespace
        from metaflow.exception import MetaflowNotFound

        namespace(None)
        try:
            for run in Flow(flow_name).runs():
                ids.append(run.id)
                if len(ids) >= RUNS_LOOKED_AT:
                    break
        except MetaflowNotFound:
            ids = []
    with _lock:
        _runs[flow_name] = (time.monotonic(), ids)
    return ids


def run_values(
    flow_file: Path, flow_name: str, step: str, run_id: str | None = None, load: bool = True
) -> StepValues | None:
    """Summaries of `step`'s task in `run_id` (default: the newest run where it finished);
    values under `LOAD_CAP` read with the safe unpickler when `load`."""
    candidates = [run_id] if run_id else latest_run_ids(flow_file, flow_name)
    for rid in candidates:
        key = (flow_name, str(rid), step)
        with _lock:
            if key in _tasks:
                found = _tasks[key]
                if found is not None:
                    return found
                continue
        found, final = _read_task(flow_file, flow_name, str(rid), step, load)
        if final:
            with _lock:
                _tasks[key] = found
        if found is not None:
            return found
    return None


def _read_task(
    flow_file: Path, flow_name: str, run_id: str, step: str, load: bool
) -> tuple[StepValues | None, bool]:
    """(summaries, whether they are final): a task still running is read again next time."""
    if not open_datastore(flow_file):
        return None, False
    from metaflow import Run, namespace
    from metaflow.exception import MetaflowNotFound

    from flowspin.store.mfload import open_task

    namespace(None)
    try:
        tasks = list(Run(f"{flow_name}/{run_id}")[step])
    except (MetaflowNotFound, KeyError):
        return None, True
    tasks.sort(key=lambda t: int(t.id) if t.id.isdigit() else 0)
    for task in tasks:
        if not task.finished:
            return None, False
        if not task.successful:
            continue
        opened = open_task(task.pathspec)
        info = dict(opened.tds._info)
        objects = dict(opened.tds._objects)
        values: dict[str, dict[str, Any]] = {}
        small: dict[str, str] = {}
        for name, meta in info.items():
            if name.startswith("_"):
                continue
            size = int(meta.get("size") or 0)
            values[name] = {"type": _type_of_info(str(meta.get("type", ""))), "size": size}
            encoding = str(meta.get("encoding", "gzip+pickle-v2"))
            if not load:
                continue
            if size > LOAD_CAP:
                values[name]["unread"] = f"over {human_size(LOAD_CAP)}"
            elif "pickle" in encoding and name in objects:
                small[name] = objects[name]
        loaded = load_safely(opened, small)
        for name in small:
            if name in loaded:
                values[name] = from_value(loaded[name], values[name]["size"])
            else:
                values[name]["unread"] = "its class is not one the editor may import"
        source = Source("run", step, run_id=run_id, task_id=task.id, pathspec=task.pathspec)
        return StepValues(source, values), True
    return None, True


def load_safely(opened: Any, wanted: dict[str, str]) -> dict[str, Any]:
    """name -> value of `wanted` (name -> blob key), each read with `SafeUnpickler`; a value
    that needs any other class is left out (its type and size still show)."""
    if not wanted:
        return {}
    by_key: dict[str, list[str]] = {}
    for name, key in wanted.items():
        by_key.setdefault(key, []).append(name)
    out: dict[str, Any] = {}
    from flowspin.store.remote import fail_fast, probe

    try:
        # As OpenTask.load reads them: an unreachable remote datastore fails in seconds.
        if opened.cache is not None and any(not opened.cache.has(k) for k in by_key):
            probe(opened.ds_type, opened.ds_root, f"an artifact of {opened.pathspec}")
        with fail_fast():
            blobs = list(opened.tds._ca_store.load_blobs(list(by_key)))
    except Exception:
        return out
    for item in blobs:
        key, blob = item[0], item[1]
        for name in by_key.get(key, []):
            try:
                out[name] = SafeUnpickler(io.BytesIO(blob)).load()
            except Exception:
                continue
    return out


def load_value(flow_file: Path, pathspec: str, name: str, cap: int = LOAD_CAP) -> Any:
    """A run artifact's value for `flowspin diff` (a CLI process: any class may load), or
    LookupError when it is stored larger than `cap` bytes."""
    from flowspin.store.mfload import open_task

    open_datastore(flow_file)
    opened = open_task(pathspec)
    size = int((opened.tds._info.get(name) or {}).get("size") or 0)
    if size > cap:
        raise LookupError(f"{name} is {human_size(size)} stored, over the {human_size(cap)} cap")
    return opened.load([name])[0][1]


# (flow file, flow, step) -> (lookup, when it started)
_pending: dict[tuple[str, str, str], tuple[Future[StepValues | None], float]] = {}
_pool: ThreadPoolExecutor | None = None


def _run_values_waiting(flow_file: Path, flow_name: str, step: str) -> StepValues | None:
    """`run_values` on a background thread, waited for at most RUN_WAIT_S: a slow or hung
    metadata service costs a request half a second, never the file's worker thread for
    minutes; the lookup goes on, and a later request finds its answer (one lookup per step
    at a time)."""
    global _pool
    key = (str(flow_file), flow_name, step)
    with _lock:
        future, started = _pending.get(key, (None, 0.0))
        stale = future is not None and future.done() and time.monotonic() - started > RUNS_TTL_S
        if future is None or stale:  # a done lookup answers for RUNS_TTL_S, like the run list
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowspin-values")
            future = _pool.submit(run_values, flow_file, flow_name, step)
            _pending[key] = (future, time.monotonic())
    try:
        return future.result(timeout=RUN_WAIT_S)
    except FutureTimeout:
        return None
    except Exception:  # a datastore that cannot be read leaves the answer static
        return None


class ValueFinder:
    """Finds the step that holds an artifact, for one request: the steps with spins are listed
    once, each step's values read once, and runs asked about at most `max_runs` steps (on a
    10,000-step flow, completion must not look at every writer)."""

    def __init__(self, flow_file: Path, flow_name: str, max_runs: int = 4) -> None:
        from flowspin.store import Store, workspace_root

        self.flow_file = flow_file
        self.flow_name = flow_name
        self.spun = set(Store(workspace_root(flow_file)).list_steps(flow_file))
        self.runs_left = max_runs
        self._memo: dict[tuple[str, str], StepValues | None] = {}

    def spin(self, step: str) -> StepValues | None:
        key = ("spin", step)
        if key not in self._memo:
            self._memo[key] = spin_values(self.flow_file, step) if step in self.spun else None
        return self._memo[key]

    def run(self, step: str) -> StepValues | None:
        key = ("run", step)
        if key not in self._memo:
            found = None
            if self.runs_left > 0:
                self.runs_left -= 1
                found = _run_values_waiting(self.flow_file, self.flow_name, step)
            self._memo[key] = found
        return self._memo[key]

    def find(self, name: str, holders: list[str]) -> tuple[StepValues, dict[str, Any]] | None:
        """The first of `holders` (the step itself, then upstream writers) whose latest spin
        has `name`, else the first whose run task has it: a spin of an upstream writer is what
        a spin of this step would read (chaining), so it beats this step's older run."""
        for lookup in (self.spin, self.run):
            for step in holders:
                found = lookup(step)
                if found is not None and name in found.values:
                    return found, found.values[name]
        return None
