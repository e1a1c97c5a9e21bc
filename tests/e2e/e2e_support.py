"""What both real-editor tests need: where scripts/setup-e2e.sh put code-server, Node 24 and
chromium, a clear failure (CI) or skip (a machine without them) when they are missing, and
starting code-server on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
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


def package_vsix(out: Path) -> Path:
    """The extension packaged as a user installs it (`npm run package`)."""
    run(["npm", "run", "--silent", "package", "--", "--out", str(out)], cwd=REPO, timeout=300)
    return out


@contextlib.contextmanager
def code_server(
    tmp_path: Path,
    workspace: Path,
    env: dict[str, str],
    vsixes: list[Path],
    settings: dict[str, object] | None = None,
) -> Iterator[str]:
    """A code-server on a free loopback port with `vsixes` installed in a fresh extensions
    folder and the workspace opened; yields its URL and stops it (and its children) after."""
    extensions, user_data = tmp_path / "extensions", tmp_path / "user-data"
    (user_data / "User").mkdir(parents=True, exist_ok=True)
    base_settings: dict[str, object] = {
        "security.workspace.trust.enabled": False,
        "workbench.startupEditor": "none",
        "chat.disableAIFeatures": True,
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
    }
    base_settings.update(settings or {})
    (user_data / "User" / "settings.json").write_text(json.dumps(base_settings))
    env = dict(env)
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg-config"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    base = [str(NODE), str(CODE_SERVER), "--extensions-dir", str(extensions)]
    base += ["--user-data-dir", str(user_data)]
    for vsix in vsixes:
        run([*base, "--install-extension", str(vsix)], env=env, timeout=120)
    port = free_port()
    log = tmp_path / "code-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*base, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}"]
            + ["--disable-telemetry", "--disable-update-check", "--disable-workspace-trust"]
            + [str(workspace)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def drive(script: str, config: dict[str, object], tmp_path: Path) -> list[dict[str, object]]:
    """Run a playwright driver beside this file with `config`; its checks, in order. Fails
    with the checks that passed and the driver's error when it exits non-zero."""
    path = tmp_path / f"{Path(script).stem}.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [str(NODE), str(Path(__file__).with_name(script)), str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    checks = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    print(json.dumps(checks, indent=1))
    assert proc.returncode == 0, f"after {[c['check'] for c in checks]}: {proc.stderr}"
    return checks
