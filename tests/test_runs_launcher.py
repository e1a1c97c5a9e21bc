"""Runs outlive their launcher (issue 20, item 8): real Metaflow runs started by
`flowspin run`, whose launcher is then killed with SIGKILL. `flowspin runs` tells running,
cancelled, failed and orphaned runs apart; `flowspin run --cancel RUN_ID` stops a run from
another process as Ctrl-C would (it stays resumable), and refuses runs that are not running or
that flowspin did not start. The held step waits on a file flag, so the tests control when it
ends instead of timing it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import metaflow_env, run_flowspin, run_metaflow, write_flow
from flowspin.runs.launches import group_alive
from runs_support import HOLD_FLOW

pytestmark = pytest.mark.metaflow


DEADLINE = 120.0  # an upper bound for a hung run, not a wait


def launch_and_hold(workdir: Path, *, ignore_sigint: bool = False) -> tuple[Any, dict[str, Any]]:
    """`flowspin run flow.py --json` until the held step says it is holding; its
    `run_started` event. With `ignore_sigint`, the launcher starts as `cmd &` in a script or
    `nohup` would start it: with SIGINT ignored."""
    (workdir / "hold.flag").write_text("")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "run", "flow.py", "--json"],
        cwd=workdir, env=metaflow_env(workdir), stdout=subprocess.PIPE, text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if ignore_sigint else None,
    )
    assert launcher.stdout is not None
    started: dict[str, Any] = {}
    for line in launcher.stdout:
        event = json.loads(line)
        if event["event"] == "run_started":
            started = event
        if event["event"] == "log" and event["line"] == "holding":
            return launcher, started
        assert event["event"] != "run_finished", event
    raise AssertionError("the launcher ended before the held step started")


def kill_launcher(launcher: Any) -> None:
    launcher.kill()  # SIGKILL: no cleanup of any kind
    launcher.wait(DEADLINE)
    launcher.stdout.close()


def wait_gone(pgid: int) -> None:
    """Until no process of the run's group is alive (another process's group cannot be waited
    on: its state is polled, with a deadline)."""
    deadline = time.monotonic() + DEADLINE
    while group_alive(pgid, "flow.py"):
        assert time.monotonic() < deadline, "the run's processes never exited"
        time.sleep(0.05)


def runs_of(workdir: Path) -> dict[str, dict[str, Any]]:
    proc = run_flowspin(workdir, "runs", "flow.py", "--json")
    assert proc.returncode == 0, proc.stderr
    return {r["run_id"]: r for r in json.loads(proc.stdout)["runs"]}


def test_a_run_outlives_its_killed_launcher_and_finishes(workdir: Path) -> None:
    write_flow(workdir, HOLD_FLOW)
    launcher, started = launch_and_hold(workdir)
    run_id, pgid = started["run_id"], started["pid"]
    kill_launcher(launcher)

    run = runs_of(workdir)[run_id]
    assert run["status"] == "running"
    assert run["launch"]["pid"] == pgid and run["launch"]["launcher_alive"] is False
    human = run_flowspin(workdir, "runs", "flow.py")
    assert f"run {run_id} is running (its launcher is gone)" in human.stdout
    assert f"flowspin run flow.py --cancel {run_id}" in human.stdout

    # Before: Metaflow wrote its console to the dead launcher's pipe and died of it at its
    # next line, with `hold` done and `end` never run. Now the run goes on to its end.
    (workdir / "hold.flag").unlink()
    wait_gone(pgid)
    run = runs_of(workdir)[run_id]
    assert run["status"] == "ok", Path(run["launch"]["log"]).read_text()[-2000:]
    assert "y is 2" in Path(run["launch"]["log"]).read_text()


def test_cancel_stops_a_run_whose_launcher_was_killed_and_it_resumes(workdir: Path) -> None:
    write_flow(workdir, HOLD_FLOW)
    # started in the background by a script: SIGINT ignored, as `cmd &` leaves it
    launcher, started = launch_and_hold(workdir, ignore_sigint=True)
    run_id, pgid = started["run_id"], started["pid"]
    kill_launcher(launcher)
    assert runs_of(workdir)[run_id]["status"] == "running"

    cancel = run_flowspin(workdir, "run", "flow.py", "--cancel", run_id, "--json")
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    answer = json.loads(cancel.stdout)
    assert answer["ok"] is True and answer["status"] == "cancelled"
    # Ctrl-C's SIGINT alone stopped it (Metaflow did not inherit the launcher's ignored
    # SIGINT), so Metaflow wound down cleanly rather than being terminated
    assert answer["signals"] == ["SIGINT"]
    assert answer["resume"] == f"flowspin run flow.py --resume --origin-run-id {run_id}"
    assert not group_alive(pgid, "flow.py")
    run = runs_of(workdir)[run_id]
    assert run["status"] == "cancelled" and run["launch"]["cancel_requested"] is True

    again = run_flowspin(workdir, "run", "flow.py", "--cancel", run_id)
    assert again.returncode == 1
    assert f"run {run_id} of HoldFlow is not running: it ended (cancelled)" in again.stderr

    (workdir / "hold.flag").unlink()
    resumed = run_flowspin(workdir, "run", "flow.py", "--resume", "--origin-run-id", run_id,
                           "--json", timeout=DEADLINE)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    finished = json.loads(resumed.stdout.splitlines()[-1])
    assert finished["status"] == "ok"
    assert runs_of(workdir)[finished["run_id"]]["status"] == "ok"


def test_a_run_killed_with_its_launcher_is_orphaned(workdir: Path) -> None:
    write_flow(workdir, HOLD_FLOW)
    launcher, started = launch_and_hold(workdir)
    run_id, pgid = started["run_id"], started["pid"]
    kill_launcher(launcher)
    os.killpg(pgid, signal.SIGKILL)  # Metaflow and its task die too, mid-step
    wait_gone(pgid)

    run = runs_of(workdir)[run_id]
    assert run["status"] == "orphaned", run
    assert run["launch"]["ended"] is None
    cancel = run_flowspin(workdir, "run", "flow.py", "--cancel", run_id)
    assert cancel.returncode == 1
    assert "is not running: no process of it is alive (orphaned)" in cancel.stderr
    human = run_flowspin(workdir, "runs", "flow.py")
    assert f"{run_id}     orphaned" in human.stdout
    assert "resume with: flowspin run flow.py --resume --origin-run-id RUN_ID" in human.stdout


def test_cancel_from_another_terminal_while_the_launcher_is_alive(workdir: Path) -> None:
    write_flow(workdir, HOLD_FLOW)
    launcher, started = launch_and_hold(workdir)
    run_id = started["run_id"]
    cancel = run_flowspin(workdir, "run", "flow.py", "--cancel", run_id)
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert cancel.stdout.startswith(f"sent SIGINT to run {run_id} of HoldFlow")
    assert f"Resume it with: flowspin run flow.py --resume --origin-run-id {run_id}" in (
        cancel.stdout
    )
    # the launcher reads the cancel as one, not as a task that failed
    rest = [json.loads(line) for line in launcher.stdout]
    assert launcher.wait(DEADLINE) == 1
    launcher.stdout.close()
    assert rest[-1]["event"] == "run_finished" and rest[-1]["status"] == "cancelled"
    assert not [e for e in rest if e["event"] == "task_failed"]
    assert [e["step"] for e in rest if e["event"] == "task_cancelled"] == ["hold"]
    assert runs_of(workdir)[run_id]["status"] == "cancelled"


def test_runs_flowspin_did_not_start(workdir: Path) -> None:
    """Runs typed as `python flow.py run` have no launch record: a failed one reads as failed
    from Metaflow's own records (a task's attempt_ok), and --cancel refuses to guess."""
    write_flow(workdir, HOLD_FLOW)
    failed = run_metaflow(workdir / "flow.py", "run", "--fail", "True", check=False)
    assert failed.returncode != 0
    ok = run_metaflow(workdir / "flow.py", "run")
    assert ok.returncode == 0
    runs = runs_of(workdir)
    assert sorted((r["status"], r["launch"]) for r in runs.values()) == [
        ("failed", None), ("ok", None)
    ]
    failed_id = next(i for i, r in runs.items() if r["status"] == "failed")
    cancel = run_flowspin(workdir, "run", "flow.py", "--cancel", failed_id)
    assert cancel.returncode == 1
    assert f"run {failed_id} of HoldFlow was not started by flowspin here" in cancel.stderr


def test_status_rules_and_service_heartbeats() -> None:
    """The decision table of `status_of` and the heartbeat age rule, on their own (the
    metadata service's heartbeats cannot be produced here: only its age is checked)."""
    from flowspin.runs.history import _fresh
    from flowspin.runs.launches import status_of

    gone = {"pgid": None, "finished": None, "cancel_requested_at": None}
    assert status_of(None, True, False) == "ok"
    assert status_of(None, False, True) == "failed"
    assert status_of(None, False, False) == "unfinished"
    assert status_of(gone, False, False) == "orphaned"
    assert status_of({**gone, "cancel_requested_at": 1.0}, False, True) == "cancelled"
    assert status_of({**gone, "finished": {"status": "failed"}}, False, False) == "failed"
    assert status_of(gone, False, True) == "failed"
    now = time.time()
    assert _fresh(now - 5) and _fresh((now - 5) * 1000)  # seconds or milliseconds
    assert not _fresh(now - 600) and not _fresh(None) and not _fresh("x")
