"""Launch records: what flowspin knows of the Metaflow processes it started, kept on disk so
that a run outlives whoever launched it.

Why: a run is Metaflow's runtime in a session of its own, so killing `flowspin run` (or the
editor) leaves it running, and Metaflow's local metadata cannot say whether an unfinished run
is in flight, was cancelled, or died (it writes no heartbeats; only the metadata service
does). So each launch writes `.flowspin/runs/<Flow>/<run_id>.json` at the workspace root: the
runtime's pid (it leads its own process group), the launcher's pid, the command, the log file
Metaflow's console goes to, whether a cancel was asked for, and how the run ended when the
launcher saw it end. Whoever asks later (`flowspin runs`, the editor, `flowspin run --cancel`)
looks at the process group itself to tell a live run from an orphaned one, and signals the
group as Ctrl-C would to cancel it.

A record is written under a provisional name (`launch-<stamp>.json`) the moment the process
starts and renamed to `<run_id>.json` (with its log) once Metaflow names the run, so a launcher
killed in between leaves a record of a live process rather than nothing; provisional records
whose processes are gone are removed when the folder is next read.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEEP = 50  # launch records (with their logs) kept per flow; older ones are pruned
PENDING = "launch-"


def launch_folder(flow_file: Path, flow: str) -> Path | None:
    """`.flowspin/runs/<flow>/` at the flow's workspace root, created when missing; None when
    the workspace has no usable `.flowspin` (another user's, read-only): the run then goes on
    without a record, as before."""
    from flowspin.store.root import UnsafeWorkspace, ensure_private_dir, find_root

    try:
        base = Path(ensure_private_dir(find_root(flow_file)))
        folder = base / "runs" / flow
        folder.mkdir(parents=True, exist_ok=True)
    except (UnsafeWorkspace, OSError):
        return None
    return folder


def existing_folder(flow_file: Path, flow: str) -> Path | None:
    """The flow's launch folder if there is one (reading never creates `.flowspin`)."""
    from flowspin.store.root import DIRNAME, UnsafeWorkspace, find_root

    try:
        folder = Path(find_root(flow_file)) / DIRNAME / "runs" / flow
    except (UnsafeWorkspace, OSError):
        return None
    return folder if folder.is_dir() else None


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class LaunchRecord:
    """The record of one launch, written by the process that started it."""

    def __init__(self, folder: Path, data: dict[str, Any]) -> None:
        self.folder = folder
        self.data = data
        stem = f"{PENDING}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{os.urandom(3).hex()}"
        self.path = folder / f"{stem}.json"
        self.log = folder / f"{stem}.log"
        self.data["log"] = str(self.log)
        self._lock = threading.Lock()  # the reader thread binds, a cancel may write at once

    @classmethod
    def create(
        cls, folder: Path, flow: str, flow_file: Path, verb: str, command: list[str]
    ) -> LaunchRecord:
        return cls(folder, {
            "flow": flow,
            "flow_file": str(flow_file),
            "verb": verb,
            "command": command,
            "run_id": None,
            "pid": None,
            "pgid": None,
            "launcher_pid": os.getpid(),
            "started_at": time.time(),
            "cancel_requested_at": None,
            "finished": None,
        })

    def started(self, pid: int) -> None:
        with self._lock:
            self.data["pid"] = self.data["pgid"] = pid  # it leads its own session and group
            _write(self.path, self.data)

    def bind(self, run_id: str) -> None:
        """Metaflow named the run: the record and its log take the run id as their name."""
        with self._lock:
            self._bind(run_id)
        prune(self.folder)

    def _bind(self, run_id: str) -> None:
        if not run_id or self.data.get("run_id"):
            return
        fresh = _read(self.path) or {}
        asked = fresh.get("cancel_requested_at") or self.data.get("cancel_requested_at")
        self.data["cancel_requested_at"] = asked
        self.data["run_id"] = run_id
        path, log = self.folder / f"{run_id}.json", self.folder / f"{run_id}.log"
        try:
            os.replace(self.log, log)  # the runtime keeps writing to the same file
            self.log = log
            self.data["log"] = str(log)
        except OSError:
            pass
        _write(path, self.data)
        try:
            self.path.unlink()
        except OSError:
            pass
        self.path = path

    def cancel_requested(self) -> bool:
        """Whether anyone (this launcher, or `flowspin run --cancel` elsewhere) asked."""
        if self.data.get("cancel_requested_at"):
            return True
        fresh = _read(self.path)
        return bool(fresh and fresh.get("cancel_requested_at"))

    def request_cancel(self) -> None:
        with self._lock:
            self.data["cancel_requested_at"] = time.time()
            _write(self.path, self.data)

    def finish(self, status: str, returncode: int) -> None:
        with self._lock:
            fresh = _read(self.path) or {}
            if fresh.get("cancel_requested_at"):
                self.data["cancel_requested_at"] = fresh["cancel_requested_at"]
            self.data["finished"] = {
                "status": status, "returncode": returncode, "at": time.time()
            }
            _write(self.path, self.data)


def prune(folder: Path) -> None:
    """Keep the newest KEEP records of ended runs (and their logs); drop provisional records
    whose processes are gone (their launcher died before Metaflow named the run)."""
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in records[KEEP:]:
        data = _read(path) or {}
        if data.get("pgid") and group_alive(data["pgid"], data.get("flow_file")):
            continue
        for gone in (path, path.with_suffix(".log")):
            try:
                gone.unlink()
            except OSError:
                pass
    for path in folder.glob(f"{PENDING}*.json"):
        data = _read(path) or {}
        pgid = data.get("pgid")
        if pgid and not group_alive(pgid, data.get("flow_file")) and not (
            data.get("launcher_pid") and process_alive(data["launcher_pid"])
        ):
            for gone in (path, path.with_suffix(".log")):
                try:
                    gone.unlink()
                except OSError:
                    pass


def read_launches(flow_file: Path, flow: str) -> dict[str, dict[str, Any]]:
    """run id -> launch record, for the flow's runs flowspin started."""
    folder = existing_folder(flow_file, flow)
    if folder is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for path in folder.glob("*.json"):
        if path.name.startswith(PENDING):
            continue
        data = _read(path)
        if data and data.get("run_id"):
            out[str(data["run_id"])] = {**data, "record": str(path)}
    return out


# --- processes ----------------------------------------------------------------------------

def _proc_stat(pid: str) -> tuple[str, int] | None:
    """(state, process group) of a process, from /proc (Linux)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[2])


def _cmdline(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace"
        )
    except OSError:
        return ""


def group_members(pgid: int, flow_file: str | None = None) -> list[int]:
    """Live (not zombie) processes of the group. On Linux, only those whose command line
    names the flow file, so a recycled group id of some other program never reads as the run
    being alive; elsewhere, whether the group can be signalled at all."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            return []  # not ours: a recycled id, not our run
        return [pgid]
    name = Path(flow_file).name if flow_file else None
    members: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(entry.name)
        if stat is None or stat[1] != pgid or stat[0] == "Z":
            continue
        if name is not None and name not in _cmdline(entry.name):
            continue
        members.append(int(entry.name))
    return members


def group_alive(pgid: int, flow_file: str | None = None) -> bool:
    return bool(group_members(pgid, flow_file))


def process_alive(pid: int) -> bool:
    if Path("/proc/self/stat").exists():
        stat = _proc_stat(str(pid))
        return stat is not None and stat[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(record: dict[str, Any]) -> bool:
    pgid = record.get("pgid")
    return pgid is not None and bool(pgid) and group_alive(int(pgid), record.get("flow_file"))


def launcher_alive(record: dict[str, Any]) -> bool:
    pid = record.get("launcher_pid")
    return pid is not None and bool(pid) and process_alive(int(pid))


# --- cancelling a run from any process ------------------------------------------------------

@dataclass
class CancelOutcome:
    ok: bool
    message: str
    run_id: str
    signals: list[str]
    record: dict[str, Any] | None = None


class NotCancellable(Exception):
    """The run is not one flowspin started, or it is not running."""


def cancel_launch(
    flow_file: Path,
    flow: str,
    run_id: str,
    *,
    grace_s: float = 10.0,
    on_signal: Callable[[str], None] | None = None,
) -> CancelOutcome:
    """Stop a run flowspin started, whoever launched it and whether or not its launcher is
    alive: SIGINT to the runtime's process group (what Ctrl-C in its terminal would send, so
    Metaflow stops its tasks and the run stays resumable), then SIGTERM and SIGKILL if the
    group lingers past `grace_s` each. Raises NotCancellable (with what to do instead) when
    there is no record of the run or nothing of it is alive."""
    launches = read_launches(flow_file, flow)
    record = launches.get(str(run_id))
    if record is None:
        raise NotCancellable(
            f"run {run_id} of {flow} was not started by flowspin here (no launch record in "
            f"{existing_folder(flow_file, flow) or '.flowspin/runs/' + flow}), so flowspin "
            "does not know its processes; stop it where it was started (Ctrl-C in its "
            "terminal)."
        )
    path = Path(record.pop("record"))
    if not is_alive(record):
        ended = (record.get("finished") or {}).get("status")
        why = f"it ended ({ended})" if ended else "no process of it is alive (orphaned)"
        raise NotCancellable(f"run {run_id} of {flow} is not running: {why}.")
    pgid = int(record["pgid"])
    if not record.get("cancel_requested_at"):
        record["cancel_requested_at"] = time.time()
    _write(path, record)
    sent: list[str] = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            break
        sent.append(sig.name)
        if on_signal is not None:
            on_signal(sig.name)
        if _wait_gone(pgid, record.get("flow_file"), grace_s):
            break
    gone = not is_alive(record)
    fresh = _read(path) or record
    if gone and not fresh.get("finished"):  # the launcher is gone too: the record ends here
        fresh["finished"] = {"status": "cancelled", "returncode": None, "at": time.time()}
        _write(path, fresh)
    how = " then ".join(sent) or "nothing (it had just ended)"
    if gone:
        message = (
            f"Cancelled run {run_id} of {flow} ({how}); its finished tasks stay in the "
            "datastore, so it can be resumed."
        )
    else:
        message = f"Run {run_id} of {flow} still has processes after {how}."
    return CancelOutcome(gone, message, str(run_id), sent, fresh)


def _wait_gone(pgid: int, flow_file: str | None, timeout: float) -> bool:
    """Whether the group emptied within `timeout` (checked every 50 ms: another process's
    group cannot be waited on)."""
    deadline = time.monotonic() + timeout
    while group_alive(pgid, flow_file):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def status_of(
    record: dict[str, Any] | None, successful: bool, failed_task: bool
) -> str:
    """A run's status from Metaflow's records and flowspin's launch record:

    - `ok`: Metaflow says the run succeeded (whoever launched it);
    - `running`: flowspin started it and a process of it is alive;
    - `cancelled`: a cancel was asked for (editor, Ctrl-C, `--cancel`) and it is gone;
    - `failed`: the launcher saw it fail, or Metaflow recorded a task that failed;
    - `orphaned`: flowspin started it, the launcher never saw it end, and no process of it is
      alive (killed along with or after its launcher);
    - `unfinished`: not started by flowspin and not successful: Metaflow's local metadata
      cannot tell in flight from killed.
    """
    if successful:
        return "ok"
    if record is None:
        return "failed" if failed_task else "unfinished"
    if is_alive(record):
        return "running"
    ended = (record.get("finished") or {}).get("status")
    if record.get("cancel_requested_at") or ended == "cancelled":
        return "cancelled"
    if ended == "failed" or failed_task:
        return "failed"
    if ended == "ok":  # the launcher saw exit 0 but Metaflow has no successful end: odd
        return "failed"
    return "orphaned"


__all__ = [
    "CancelOutcome",
    "LaunchRecord",
    "NotCancellable",
    "cancel_launch",
    "group_alive",
    "launch_folder",
    "launcher_alive",
    "read_launches",
    "status_of",
]

