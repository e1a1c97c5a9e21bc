"""Shared fixtures: real Metaflow flows in temporary folders, never the user's datastore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Tests press Ctrl+C on the CLI (SIGINT to a subprocess). A pytest started from a shell without
# job control (`make test &` in a script, some CI runners) inherits SIGINT ignored, and every
# subprocess with it, so the CLI would never see the key. Ignored is not what a user's terminal
# gives: the tests run with Python's default handler, which their subprocesses get as SIG_DFL.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def metaflow_env(workdir: Path) -> dict[str, str]:
    """Environment for a Metaflow subprocess confined to `workdir` (local metadata/datastore)."""
    env = dict(os.environ)
    env.update(
        METAFLOW_USER="tester",
        USER=env.get("USER", "tester"),
        USERNAME="tester",
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir),
        METAFLOW_HOME=str(workdir / ".metaflowconfig"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def write_flow(workdir: Path, source: str, name: str = "flow.py") -> Path:
    path = workdir / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def run_metaflow(
    flow_file: Path,
    *args: str,
    check: bool = True,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python flow.py ARGS...` in the flow's folder, as a user would type it (`env`: more
    environment on top of the test datastore's)."""
    workdir = flow_file.parent
    proc = subprocess.run(
        [sys.executable, flow_file.name, "--no-pylint", *args],
        cwd=workdir,
        env={**metaflow_env(workdir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"metaflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def run_flowspin(
    workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m flowspin ARGS...` in `workdir` against the test datastore, as a user would
    type `flowspin ARGS...` there."""
    return subprocess.run(
        [sys.executable, "-m", "flowspin", *args],
        cwd=workdir,
        env={**metaflow_env(workdir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# What a test module uses -> the marker that says what its tests need (`-m "not metaflow"`).
_NEEDS = {
    "metaflow": (
        "run_metaflow(",
        "run_flowspin(",
        "make_service(",
        "SpinService(",
        "runs_support",
        "mcp_session",
        "metaflow_env(",
    ),
    "lsp": ("lsp_support", "pytest_lsp"),
}
_module_marks: dict[str, list[str]] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if path not in _module_marks:
            try:
                source = Path(path).read_text(encoding="utf-8")
            except OSError:
                source = ""
            marks = [m for m, uses in _NEEDS.items() if any(u in source for u in uses)]
            if f"{os.sep}e2e{os.sep}" in path:
                marks += ["e2e", "metaflow"]
            _module_marks[path] = marks
        for mark in _module_marks[path]:
            item.add_marker(mark)


def wait_until(
    predicate: Callable[[], object], timeout: float = 60.0, what: str = "the condition"
) -> None:
    """Wait for observable state (a process gone, a file written, a line logged), polling;
    fail with `what` after `timeout` seconds. Never a fixed sleep."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh folder that acts as the user's workspace (flow files, .metaflow, .flowspin)."""
    return tmp_path
