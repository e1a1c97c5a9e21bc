"""Reading Metaflow runs through the Client API, for `show_artifact` when a step was never spun
(its newest successful task in a run), and for artifacts a spin inherited from its base run.

The server is started in the workspace root, while Metaflow's local datastore (`.metaflow/`) is
found by walking up from the current folder. So before Metaflow is first imported here, a local
datastore next to (or above) the flow file is made the one the Client reads, unless the user's
environment already names one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

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
                tasks: list[Any] = list(run[step])
            except (KeyError, MetaflowNotFound):
                continue
            for task in sorted(tasks, key=lambda t: int(t.id) if t.id.isdigit() else 0):
                if task.successful:
                    return task
    return None

