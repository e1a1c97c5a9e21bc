"""Past runs of a flow, read with Metaflow's Client API in a subprocess.

The subprocess uses the flow's interpreter, folder and environment, so it sees the same
metadata provider and datastore the runs were written to (a local `.metaflow/` next to the
flow, or the user's configured service), and the server never imports Metaflow's client
state or user code. The Client's default namespace (the current user) applies, as for spins.

A run that did not succeed is told apart from Metaflow's own records and flowspin's launch
records (`flowspin.runs.launches`): running (a process of it is alive), cancelled, failed (a
task's attempt ended unsuccessfully, `attempt_ok` false in its metadata), orphaned (flowspin
started it, nothing of it is alive and nobody saw it end), or, for a run flowspin did not
start, unfinished. With Metaflow's metadata service, a run heartbeat younger than
HEARTBEAT_S also reads as running (the local metadata writes no heartbeats).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowspin.runs.flowinfo import load_target
from flowspin.runs.launches import launcher_alive, read_launches, status_of

_SCRIPT = r"""
import json, sys
try:  # a run in S3 whose endpoint is down: fail in seconds, not minutes (store/remote.py)
    from flowspin.store.remote import guard_reads
    guard_reads()
except ImportError:  # the flow's interpreter has no flowspin: Metaflow's own retries apply
    pass
from metaflow import Flow
from metaflow.exception import MetaflowNotFound
args = json.loads(sys.argv[1])
out = []
try:
    flow = Flow(args["flow"])
    runs = list(flow)
except MetaflowNotFound:
    runs = []
runs.sort(key=lambda r: r.created_at, reverse=True)
for run in runs[: args["limit"]]:
    tags = set(run.system_tags)
    user = next((t[5:] for t in tags if t.startswith("user:")), None)
    params = {}
    try:
        task = run["_parameters"].task
        for name in args["params"]:
            try:
                params[name] = repr(task[name].data)[:200]
            except Exception:
                pass
    except Exception:
        pass
    ok = run.successful
    failed_task = False
    if not ok:
        try:
            for step in run:
                for task in step:
                    if str(task.metadata_dict.get("attempt_ok", "")).lower() == "false":
                        failed_task = True
                        break
                if failed_task:
                    break
        except Exception:
            pass
    heartbeat = None
    try:
        heartbeat = (getattr(run, "_object", None) or {}).get("last_heartbeat_ts")
    except Exception:
        pass
    out.append({
        "run_id": run.id,
        "flow": args["flow"],
        "status": "ok" if ok else "unfinished",
        "failed_task": failed_task,
        "heartbeat": heartbeat,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if ok and run.finished_at else None,
        "user": user,
        "tags": sorted(run.user_tags),
        "parameters": params,
        "pathspec": run.pathspec,
    })
sys.stdout.write("\n@@flowspin-runs@@" + json.dumps(out) + "\n")
"""
_MARK = "@@flowspin-runs@@"


HEARTBEAT_S = 120.0  # a metadata service's run heartbeat (every ~10 s) younger than this: alive


class RunListError(Exception):
    """Metaflow's Client could not be asked (bad interpreter, broken config, ...)."""


@dataclass
class RunInfo:
    run_id: str
    flow: str
    status: str  # ok | running | failed | cancelled | orphaned | unfinished (see status_of)
    created_at: str | None
    finished_at: str | None
    user: str | None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)  # name -> repr of the value
    pathspec: str = ""
    # flowspin's record of the launch (None: not started by flowspin): {pid, launcher_pid,
    # launcher_alive, log, cancel_requested, ended}
    launch: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_runs(
    flow_file: str | Path,
    *,
    python: str | None = None,
    env: dict[str, str] | None = None,
    limit: int = 20,
    timeout: float = 60.0,
) -> list[RunInfo]:
    """The flow's runs, newest first (at most `limit`)."""
    target = load_target(flow_file)
    merged = dict(os.environ)
    merged.update(env or {})
    arg = json.dumps({"flow": target.flow, "params": target.parameters, "limit": limit})
    try:
        proc = subprocess.run(
            [python or sys.executable, "-c", _SCRIPT, arg],
            cwd=target.path.parent,
            env=merged,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RunListError(f"could not list runs of {target.flow}: {exc}") from exc
    payload = proc.stdout.rpartition(_MARK)[2].strip() if _MARK in proc.stdout else ""
    if proc.returncode != 0 or not payload:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RunListError(
            f"could not list runs of {target.flow} with {python or sys.executable}: "
            + ("\n".join(detail) or f"exit code {proc.returncode}")
        )
    launches = read_launches(target.path, target.flow)
    return [_classify(item, launches.get(item["run_id"])) for item in json.loads(payload)]


def _classify(item: dict[str, Any], record: dict[str, Any] | None) -> RunInfo:
    failed_task = bool(item.pop("failed_task", False))
    heartbeat = item.pop("heartbeat", None)
    status = status_of(record, item["status"] == "ok", failed_task)
    if status == "unfinished" and _fresh(heartbeat):
        status = "running"
    info = RunInfo(**item)
    info.status = status
    if record is not None:
        info.launch = {
            "pid": record.get("pid"),
            "launcher_pid": record.get("launcher_pid"),
            "launcher_alive": launcher_alive(record),
            "log": record.get("log"),
            "cancel_requested": bool(record.get("cancel_requested_at")),
            "ended": (record.get("finished") or {}).get("status"),
        }
    return info


def _fresh(heartbeat: Any) -> bool:
    """A metadata service's heartbeat (epoch seconds, or milliseconds) younger than
    HEARTBEAT_S."""
    if not isinstance(heartbeat, (int, float)) or heartbeat <= 0:
        return False
    seconds = heartbeat / 1000.0 if heartbeat > 1e11 else float(heartbeat)
    return time.time() - seconds < HEARTBEAT_S


def latest_successful_run(flow_file: str | Path, **kwargs: Any) -> RunInfo | None:
    """The newest run that finished successfully (a good base for spins and resumes)."""
    return next((r for r in list_runs(flow_file, **kwargs) if r.status == "ok"), None)
