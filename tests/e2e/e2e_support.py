"""What both real-editor tests need: where scripts/setup-e2e.sh put code-server, Node 24 and
chromium, a clear failure (CI) or skip (a machine without them) when they are missing, and
starting code-server on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO

CACHE = Path(os.environ.get("FLOWSPIN_E2E_CACHE", Path.home() / ".cache" / "flowspin-e2e"))
NODE = CACHE / "node" / "bin" / "node"
CODE_SERVER = CACHE / "code-server" / "out" / "node" / "entry.js"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"


def missing_prerequisites() -> list[str]:
    missing = []
    if not NODE.is_file() or not CODE_SERVER.is_file():
        missing.append(f"code-server and Node 24 in {CACHE}")
    if not CHROMIUM.is_file():
        missing.append(str(CHROMIUM))
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        missing.append("node_modules/playwright-core (scripts/setup-node.sh)")
    return missing


def require_prerequisites(what: str) -> None:
    """In CI a missing prerequisite is a failure (setup-e2e.sh must have installed it); on a
    developer machine without root/apt the test is skipped with what to run."""
    missing = missing_prerequisites()
    if not missing:
        return
    message = (
        f"{what} needs {', '.join(missing)}; "
        "run `bash scripts/setup-e2e.sh` as root (it uses apt-get and npm)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"code-server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling interval of a readiness check, not a wait for an outcome
    raise AssertionError(f"code-server did not answer {url} within {timeout} s:\n{log.read_text()}")
