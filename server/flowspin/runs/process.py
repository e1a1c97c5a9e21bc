"""Metaflow's own `run` and `resume`, as subprocesses in the flow's folder.

A run is exactly what the user would type (`python flow.py --no-pylint run ...`), so it lands
in the user's real datastore and metadata and honours `--with kubernetes` and friends. The
process gets its own session (process group): cancelling sends SIGINT to the whole group, as
Ctrl-C in a terminal would, so Metaflow's runtime stops its tasks and writes what a following
`resume` needs; SIGTERM and then SIGKILL follow only if it does not exit within the grace period.

A run outlives whoever launched it: Metaflow's console goes to a log file next to the run's
launch record (`flowspin.runs.launches`), which the launcher follows, rather than to a pipe.
Through a pipe, a launcher killed with `kill -9` took the run down with it at Metaflow's next
line (a broken pipe in its runtime) and left tasks half done; with the file, the run goes on
to its end, `flowspin runs` shows it running, and `flowspin run --cancel` can stop it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowspin.runs.flowinfo import FlowFileError, FlowTarget, load_target
from flowspin.runs.launches import LaunchRecord, launch_folder
from flowspin.runs.parse import Event, LineParser
from flowspin.runs.progress import RunProgress

GRACE_S = 10.0
EventCallback = Callable[[Event], None]


def metaflow_command(
    python: str,
    flow_file: Path,
    verb: str,
    params: dict[str, Any] | None = None,
    extra_args: list[str] | None = None,
    *,
    step: str | None = None,
    origin_run_id: str | None = None,
) -> list[str]:
    """The command line, as the user would type it in the flow's folder."""
    cmd = [python, flow_file.name, "--no-pylint", verb]
    if verb == "resume":
        if origin_run_id:
            cmd += ["--origin-run-id", str(origin_run_id)]
        if step:
            cmd.append(step)
    for name, value in (params or {}).items():
        if isinstance(value, bool):
            cmd += [f"--{name}", "True" if value else "False"]
        else:
            cmd += [f"--{name}", str(value)]
    return cmd + list(extra_args or [])


@contextlib.contextmanager
def _ctrl_c_reaches_metaflow() -> Iterator[None]:
    """While starting Metaflow, SIGINT is handled rather than ignored, so that the runtime
    starts with the default disposition and a cancel's SIGINT stops it as Ctrl-C would.

    Why: a launcher started in the background (`flowspin run ... &` from a script, `nohup`)
    ignores SIGINT, and an ignored signal stays ignored across exec: Metaflow would then
    shrug off the cancel and only die of the SIGTERM a grace period later, not cleanly. A
    handled signal is reset to the default at exec. Only the main thread may change signal
    dispositions; elsewhere (a server's worker thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        before = signal.getsignal(signal.SIGINT)
    except ValueError:
        before = None
    if before != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class RunResult:
    status: str  # ok | failed | cancelled
    run_id: str | None
    returncode: int
    duration_ms: float
    steps: dict[str, dict[str, Any]]
    failures: list[Event] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)  # run-level lines, for errors


class RunHandle:
    """One running Metaflow `run`/`resume`. Events go to `on_event` from a reader thread."""

    def __init__(
        self,
        target: FlowTarget,
        cmd: list[str],
        env: dict[str, str],
        on_event: EventCallback | None,
        grace_s: float = GRACE_S,
        record: LaunchRecord | None = None,
    ) -> None:
        self.target = target
        self.command = cmd
        self.grace_s = grace_s
        self.progress = RunProgress(
            step_names=target.step_names, next_steps=target.foreach_children
        )
        self._on_event = on_event
        self._parser = LineParser(target.path, target.flow)
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._failures: list[Event] = []
        self._tail: list[str] = []
        self._result: RunResult | None = None
        self._started = time.monotonic()
        self.record = record
        log = open(record.log, "ab") if record is not None else None  # noqa: SIM115
        try:
            with _ctrl_c_reaches_metaflow():
                self.proc = subprocess.Popen(
                    cmd,
                    cwd=target.path.parent,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log if log is not None else subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    errors="replace",
                    bufsize=1,
                    start_new_session=True,
                )
        finally:
            if log is not None:
                log.close()  # the runtime holds its own descriptor
        if record is not None:
            self._record_safely(record.started, self.proc.pid)
        self._parser.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, name="flowspin-run", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def run_id(self) -> str | None:
        return self._parser.run_id

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _record_safely(self, action: Callable[..., None], *args: Any) -> None:
        """Launch-record bookkeeping never stops a run (a full disk, a removed folder)."""
        try:
            action(*args)
        except OSError:
            pass

    def _cancel_asked(self) -> bool:
        """Cancelled here, or by `flowspin run --cancel` from another process."""
        if self.cancelled:
            return True
        try:
            return self.record is not None and self.record.cancel_requested()
        except OSError:
            return False

    def _emit(self, event: Event) -> None:
        if event["event"] == "run_started" and self.record is not None:
            self._record_safely(self.record.bind, str(event.get("run_id") or ""))
        if event["event"] == "task_failed" and self._cancel_asked():
            # the task died of our SIGINT (KeyboardInterrupt): not a bug to show at a line
            event = {k: event[k] for k in ("step", "task_id", "run_id", "time", "duration_ms")}
            event = {"event": "task_cancelled", **event}
        self.progress.consume(event)
        if event["event"] == "task_failed":
            self._failures.append(event)
        elif event["event"] == "log" and event.get("step") is None:
            self._tail.append(event["line"])
            del self._tail[:-40]
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a broken listener must not stop the run's bookkeeping
                pass

    def _lines(self) -> Any:
        """Metaflow's console lines as it writes them: from the pipe, or by following the log
        file until the runtime exits (checked every 50 ms while nothing new was written)."""
        if self.record is None:
            assert self.proc.stdout is not None
            yield from self.proc.stdout
            return
        with open(self.record.log, encoding="utf-8", errors="replace") as fh:
            partial = ""
            exited = False
            while True:
                chunk = fh.readline()
                if chunk:
                    partial += chunk
                    if partial.endswith("\n"):
                        yield partial
                        partial = ""
                    continue
                if exited:
                    break
                try:
                    self.proc.wait(timeout=0.05)
                    exited = True  # one more pass reads what it wrote last
                except subprocess.TimeoutExpired:
                    pass
            if partial:
                yield partial

    def _read(self) -> None:
        try:
            for raw in self._lines():
                for event in self._parser.feed(raw):
                    self._emit(event)
        finally:
            returncode = self.proc.wait()
            if self._cancel_asked():
                status = "cancelled"
            else:
                status = "ok" if returncode == 0 else "failed"
            duration = round((time.monotonic() - self._started) * 1000.0, 1)
            # progress first, so the summary in the event shows tasks cut short
            self.progress.consume(
                {"event": "run_finished", "status": status, "time": time.time()}
            )
            final: Event = {
                "event": "run_finished",
                "status": status,
                "run_id": self.run_id,
                "flow": self._parser.flow,
                "returncode": returncode,
                "duration_ms": duration,
                "steps": self.progress.summary(),
            }
            if status == "failed" and not self._failures:
                final["message"] = "\n".join(t for t in self._tail if t.strip())[-2000:]
            self._result = RunResult(
                status, self.run_id, returncode, duration, final["steps"],
                list(self._failures), list(self._tail),
            )
            if self.record is not None:
                self._record_safely(self.record.finish, status, returncode)
            self._emit(final)
            self._done.set()

    def cancel(self, grace_s: float | None = None) -> None:
        """Stop the run as Ctrl-C would; escalate in the background if it lingers."""
        if self._done.is_set():
            return
        grace = self.grace_s if grace_s is None else grace_s
        if self._cancelled.is_set():  # asked again: escalate now, with the given grace
            self._signal(signal.SIGTERM)
            threading.Thread(target=self._escalate, args=(grace,), daemon=True).start()
            return
        self._cancelled.set()
        if self.record is not None:
            self._record_safely(self.record.request_cancel)
        self._signal(signal.SIGINT)
        threading.Thread(target=self._escalate, args=(grace,), daemon=True).start()

    def _escalate(self, grace: float) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self._done.wait(grace):
                return
            self._signal(sig)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout: float | None = None) -> RunResult | None:
        """The result once the run ended (None on timeout)."""
        if not self._done.wait(timeout):
            return None
        return self._result

    def done(self) -> bool:
        return self._done.is_set()


class RunManager:
    """Starts runs with one interpreter and base environment; remembers the active ones."""

    def __init__(self, python: str | None = None, env: dict[str, str] | None = None) -> None:
        self.python = python or sys.executable
        self.env = dict(env or {})
        self.active: dict[int, RunHandle] = {}

    def _env(self, env: dict[str, str] | None) -> dict[str, str]:
        merged = dict(os.environ)
        merged.update(self.env)
        merged.update(env or {})
        merged["PYTHONUNBUFFERED"] = "1"
        return merged

    def _start(
        self,
        flow_file: str | Path,
        verb: str,
        params: dict[str, Any] | None,
        extra_args: list[str] | None,
        env: dict[str, str] | None,
        on_event: EventCallback | None,
        **resume: Any,
    ) -> RunHandle:
        flow = resume.pop("flow", None)
        target = load_target(flow_file)
        if flow is not None and flow != target.flow:
            raise FlowFileError(
                f"{target.path.name} runs {target.flow} (the flow its __main__ block starts), "
                f"not {flow}: Metaflow runs one flow per file. To run {flow}, give it a file "
                f'of its own (ending with `if __name__ == "__main__": {flow}()`).'
            )
        step = resume.get("step")
        if step and target.step_names and step not in target.step_names:
            raise FlowFileError(
                f"{target.path}: {target.flow} has no step {step!r}; resume from one of "
                f"{', '.join(target.step_names)}."
            )
        cmd = metaflow_command(self.python, target.path, verb, params, extra_args, **resume)
        folder = launch_folder(target.path, target.flow)
        record = (
            LaunchRecord.create(folder, target.flow, target.path, verb, cmd)
            if folder is not None else None
        )
        handle = RunHandle(target, cmd, self._env(env), on_event, record=record)
        self.active = {pid: h for pid, h in self.active.items() if not h.done()}
        self.active[handle.pid] = handle
        return handle

    def start_run(
        self,
        flow_file: str | Path,
        params: dict[str, Any] | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        on_event: EventCallback | None = None,
        flow: str | None = None,
    ) -> RunHandle:
        """`python flow.py run --param value ... EXTRA` in the flow's folder. With `flow`, a
        file that runs another flow is refused (FlowFileError) before Metaflow starts."""
        return self._start(flow_file, "run", params, extra_args, env, on_event, flow=flow)

    def start_resume(
        self,
        flow_file: str | Path,
        step: str | None = None,
        origin_run_id: str | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        on_event: EventCallback | None = None,
        flow: str | None = None,
    ) -> RunHandle:
        """`python flow.py resume [--origin-run-id ID] [STEP]`: Metaflow clones what finished
        in the origin run (by default the latest local run) and reruns from STEP (by default
        the first step that did not finish). Parameters come from the origin run."""
        return self._start(
            flow_file, "resume", None, extra_args, env, on_event,
            step=step, origin_run_id=origin_run_id, flow=flow,
        )

    def cancel_all(self) -> None:
        for handle in list(self.active.values()):
            handle.cancel()
