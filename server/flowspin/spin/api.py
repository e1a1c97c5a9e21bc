"""`flowspin.spin(...)`: spin one step from Python (unit tests of single steps, notebooks)."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

from flowspin.spin.identity import caller_identity
from flowspin.spin.options import SpinOptions
from flowspin.spin.result import SpinResult
from flowspin.spin.service import LogCallback, SpinService

_services: dict[Path, SpinService] = {}
_lock = threading.Lock()


def _service(flow_file: Path) -> SpinService:
    from flowspin.store.layout import workspace_root

    root = workspace_root(flow_file)
    with _lock:
        svc = _services.get(root)
        if svc is None:
            svc = _services[root] = SpinService(root)
        return svc


def spin(
    flow_file: str | os.PathLike[str],
    step: str,
    *,
    on_log: LogCallback | None = None,
    options: SpinOptions | dict[str, Any] | None = None,
    **kwargs: Any,
) -> SpinResult:
    """Spin `step` of `flow_file` in a warm worker (kept for later calls in this process).

    Keyword options mirror the CLI: run, task, split, all_splits, params (dict or
    ["k=v"]), artifacts_module, reset, persist, timeout, mode.
    """
    path = Path(flow_file).resolve()
    opts = SpinOptions.coerce(options, **kwargs)
    # This process's user and Metaflow configuration now (a notebook may set METAFLOW_USER
    # after the first spin): each identity gets its own warm worker.
    return _service(path).spin(path, step, opts, on_log=on_log, env=caller_identity())


def shutdown() -> None:
    with _lock:
        services = list(_services.values())
        _services.clear()
    for svc in services:
        svc.shutdown()


atexit.register(shutdown)
