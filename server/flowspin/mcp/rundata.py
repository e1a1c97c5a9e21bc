"""Reading Metaflow runs through the Client API, for tools that fall back to a run's task when a
step was never spun (`show_artifact`, `card`).

The server is started in the workspace root, while Metaflow's local datastore (`.metaflow/`) is
found by walking up from the current folder. So before Metaflow is first imported here, a local
datastore next to (or above) the flow file is made the one the Client reads, unless the user's
environment already names one.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("flowspin.mcp")

MAX_RUNS_SCANNED = 20


def prepare_local_datastore(path: Path) -> None:
    if "metaflow" in sys.modules or os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL"):
        return
    if os.environ.get("METAFLOW_DEFAULT_DATASTORE", "local") != "local":
        return
    for folder in (path.parent, *path.parent.parents):
        if (folder / ".metaflow").is_dir():
            os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(folder)
            return


def _flow_names(path: Path) -> list[str]:
    from flowspin.analysis import parse_file

    return [flow.name for flow in parse_file(path).flows]


def latest_task(path: Path, step: str) -> Any | None:
    """The newest successful task of `step` among the flow's recent runs, or None."""
    prepare_local_datastore(path)
    from metaflow import Flow, default_namespace
    from metaflow.exception import MetaflowNotFound

    default_namespace()  # the spin worker's choice of base run reads this namespace too
    for name in _flow_names(path):
        try:
            flow = Flow(name)
        except MetaflowNotFound:
            continue
        for i, run in enumerate(flow):
            if i >= MAX_RUNS_SCANNED:
                break
            try:
                tasks = list(run[step])
            except (KeyError, MetaflowNotFound):
                continue
            for task in sorted(tasks, key=lambda t: int(t.id) if t.id.isdigit() else 0):
                if task.successful:
                    return task
    return None


def latest_cards(path: Path, step: str) -> list[dict[str, Any]]:
    """Cards of the newest successful task of `step`: type, id, task, path, html."""
    task = latest_task(path, step)
    if task is None:
        return []
    from metaflow.cards import get_cards

    out = []
    try:
        for found in get_cards(task):
            out.append(
                {
                    "type": found.type,
                    "id": found.id,
                    "task": task.pathspec,
                    "path": found.path,
                    "html": found.get(),
                }
            )
    except Exception as exc:  # no card storage, or a card that cannot be read
        log.info("cards of %s not readable: %s", task.pathspec, exc)
    return out


def _status(run: Any) -> str:
    if run.successful:
        return "ok"
    # A failed run never "finishes" in Metaflow's sense (its end step did not run).
    return "failed" if run.finished else "not finished (failed, killed or still running)"


def _user(run: Any) -> str | None:
    for tag in run.system_tags:
        if tag.startswith("user:"):
            return tag[len("user:"):]
    return None


def _params(run: Any, names: list[str]) -> dict[str, Any]:
    """Parameter values the run used (the start task holds them as artifacts)."""
    from flowspin.agents.summary import cut

    out: dict[str, Any] = {}
    if not names:
        return out
    try:
        task = run["start"].task
    except Exception:
        return out
    for name in names:
        try:
            value = task[name].data
        except Exception:
            continue
        out[name] = value if isinstance(value, (int, float, bool, str)) else cut(repr(value), 200)
    return out


def list_runs(path: Path, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` runs of the file's flows, in the current Metaflow namespace."""
    prepare_local_datastore(path)
    from metaflow import Flow, default_namespace
    from metaflow.exception import MetaflowNotFound

    from flowspin.analysis import parse_file

    # The user's own runs, as the spin worker sees them when it picks a base run (another tool
    # in this process may have switched to the global namespace).
    default_namespace()
    out: list[dict[str, Any]] = []
    for flow_def in parse_file(path).flows:
        try:
            flow = Flow(flow_def.name)
        except MetaflowNotFound:
            continue
        names = [p.name for p in flow_def.parameters if p.kind == "Parameter"]
        for i, run in enumerate(flow):
            if i >= limit:
                break
            out.append(
                {
                    "flow": flow_def.name,
                    "run_id": run.id,
                    "status": _status(run),
                    "started": run.created_at.isoformat(sep=" ", timespec="seconds")
                    if run.created_at
                    else None,
                    "finished": run.finished_at.isoformat(sep=" ", timespec="seconds")
                    if run.finished_at
                    else None,
                    "user": _user(run),
                    "params": _params(run, names),
                }
            )
    out.sort(key=lambda r: r["started"] or "", reverse=True)
    return out[:limit]
