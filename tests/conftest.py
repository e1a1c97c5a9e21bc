"""Shared fixtures: real Metaflow flows in temporary folders, never the user's datastore."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh folder that acts as the user's workspace (flow files, .metaflow, .flowspin)."""
    return tmp_path
