"""Metaflow runs and resumes driven as subprocesses, their live progress, and past runs.

Public surface:

- `RunManager(python=None, env=None)`: `.start_run(flow_file, params, extra_args, env,
  on_event) -> RunHandle`, `.start_resume(flow_file, step, origin_run_id, ...)`
- `RunHandle`: `.cancel()`, `.wait(timeout) -> RunResult | None`, `.progress` (a live
  `RunProgress`), `.run_id`, `.pid`
- `RunProgress`: per-step status from events (also usable on its own)
- `LineParser`: Metaflow console lines -> events
- `list_runs(flow_file, python=, env=, limit=) -> list[RunInfo]`, `latest_successful_run`
- `FlowFileError`, `RunListError`
- `flowspin.runs.launches`: launch records of the runs flowspin started (pid, log, cancel,
  end), liveness of their process groups, `cancel_launch` from any process
"""

from flowspin.runs.flowinfo import FlowFileError, FlowTarget, load_target
from flowspin.runs.history import RunInfo, RunListError, latest_successful_run, list_runs
from flowspin.runs.parse import LineParser
from flowspin.runs.process import RunHandle, RunManager, RunResult, metaflow_command
from flowspin.runs.progress import RunProgress, StepProgress

__all__ = [
    "FlowFileError",
    "FlowTarget",
    "LineParser",
    "RunHandle",
    "RunInfo",
    "RunListError",
    "RunManager",
    "RunProgress",
    "RunResult",
    "StepProgress",
    "latest_successful_run",
    "list_runs",
    "load_target",
    "metaflow_command",
]
