"""Another local user must not be able to run code as us or forge our results.

`.flowspin/` holds pickled objects a spin loads and the socket shell spins talk to; these
tests play the other user (uid 4242, via `setpriv`) planting a store in a shared folder and
answering on our daemon socket, and check that flowspin refuses both.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import metaflow_env, write_flow

OTHER = 4242
SETPRIV = shutil.which("setpriv")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to play another user"
)

FLOW = """
from metaflow import FlowSpec, step


class TrustFlow(FlowSpec):
    @step
    def start(self):
        self.n = 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TrustFlow()
"""


def as_other(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [SETPRIV, "--reuid", str(OTHER), "--regid", str(OTHER), "--clear-groups", *args],
        **kwargs,
    )


def plant_store(folder: Path) -> Path:
    """Another user's `.flowspin` with an object in it, as an attacker would leave it."""
    planted = folder / ".flowspin" / "objects" / "ab"
    planted.mkdir(parents=True)
    (planted / ("ab" + "0" * 62)).write_bytes(b"evil pickle")
    for path in [folder / ".flowspin", *(folder / ".flowspin").rglob("*")]:
        os.chown(path, OTHER, OTHER)
    return folder / ".flowspin"


@needs_root
def test_search_stops_at_a_shared_folder(workdir):
    from flowspin.store.root import find_root

    shared = workdir / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    plant_store(shared)
    project = shared / "victim"
    project.mkdir()
    flow = write_flow(project, FLOW)
    assert find_root(flow) == str(project)
    own = project / ".flowspin"
    assert own.is_dir() and stat.S_IMODE(own.stat().st_mode) == 0o700


def test_search_stops_at_a_group_writable_folder(workdir):
    from flowspin.store.root import find_root

    team = workdir / "team"
    (team / ".git").mkdir(parents=True)
    project = team / "mine"
    project.mkdir()
    flow = write_flow(project, FLOW)
    assert find_root(flow) == str(team)  # nobody else may write there: the repository
    (team / ".flowspin").rmdir()
    os.chmod(team, 0o775)  # the group may plant a .flowspin there now
    assert find_root(flow) == str(project)


@needs_root
def test_a_flowspin_of_another_user_is_refused(workdir):
    from flowspin.store.root import UnsafeWorkspace, find_root

    flow = write_flow(workdir, FLOW)
    plant_store(workdir)
    with pytest.raises(UnsafeWorkspace, match=f"belongs to uid {OTHER}"):
        find_root(flow)
    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "show", "flow.py"],
        cwd=workdir,
        env=metaflow_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and f"belongs to uid {OTHER}" in proc.stderr


def test_a_flowspin_others_may_write_is_refused(workdir):
    from flowspin.store.root import UnsafeWorkspace, find_root

    flow = write_flow(workdir, FLOW)
    (workdir / ".flowspin").mkdir()
    os.chmod(workdir / ".flowspin", 0o777)
    with pytest.raises(UnsafeWorkspace, match="chmod 700"):
        find_root(flow)


ATTACKER = r"""
import json, socket, sys
from flowspin.spin.protocol import recv_sock, send_sock
forged = {"status": "ok", "step": "start", "artifacts": {"forged": {"repr": "FORGED"}}}
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(sys.argv[1])
sock.listen(4)
print("ready", flush=True)
while True:
    conn, _ = sock.accept()
    try:
        msg = recv_sock(conn)
        if msg and msg.get("reply") == "json":
            send_sock(conn, {"type": "result", "status": "ok", "json": json.dumps(forged)})
        else:
            send_sock(conn, {"type": "result", "result": forged})
    except OSError:  # the victim hung up: wait for the next one
        pass
    conn.close()
"""


@needs_root
def test_the_shell_refuses_a_daemon_of_another_user(workdir):
    """Attack: the other user replaces our daemon.sock with theirs; `spin --json` must not
    print what they answer."""
    flow = write_flow(workdir, FLOW)
    from flowspin.store.root import find_root

    find_root(flow)  # creates .flowspin
    lair = Path(tempfile.mkdtemp(prefix="lair-"))
    os.chown(lair, OTHER, OTHER)
    attacker = as_other(
        sys.executable,
        "-c",
        ATTACKER,
        str(lair / "evil.sock"),
        stdout=subprocess.PIPE,
        text=True,
        cwd=lair,
    )
    try:
        assert attacker.stdout.readline().strip() == "ready"
        os.rename(lair / "evil.sock", workdir / ".flowspin" / "daemon.sock")
        proc = subprocess.run(
            [sys.executable, "-m", "flowspin", "spin", "flow.py", "start", "--json"],
            cwd=workdir,
            env=metaflow_env(workdir),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "FORGED" not in proc.stdout
        result = json.loads(proc.stdout)
        assert result["status"] == "error" and proc.returncode == 1
        assert f"uid {OTHER}" in result["error"]["message"]
    finally:
        attacker.kill()
        attacker.wait()
        shutil.rmtree(lair, ignore_errors=True)


CLIENT = r"""
import _socket, sys
from flowspin.spin.protocol import recv_sock, send_sock
sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
sock.connect(sys.argv[1])
send_sock(sock, {"type": "status"})
print(recv_sock(sock))
"""


@needs_root
def test_the_daemon_refuses_a_client_of_another_user(workdir):
    """Even with the socket file opened up (a lax umask, a copied folder), a process of
    another uid gets a refusal, not a spin."""
    from flowspin.daemon.server import host_socket
    from spin_helpers import make_service

    svc = make_service(workdir)
    server = host_socket(workdir, svc)
    assert server is not None
    door = Path(tempfile.mkdtemp(prefix="door-"))
    try:
        os.chmod(door, 0o755)
        os.link(server.path, door / "open.sock")
        os.chmod(door / "open.sock", 0o666)
        client = as_other(
            sys.executable,
            "-c",
            CLIENT,
            str(door / "open.sock"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=door,
        )
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        assert "'type': 'error'" in out and "refused" in out
        assert "workers" not in out
    finally:
        server.stop()
        svc.shutdown()
        shutil.rmtree(door, ignore_errors=True)


def test_a_malformed_request_gets_an_error_that_says_what(workdir):
    """A request the daemon cannot use is answered with an error frame naming the problem,
    not a silently closed connection (the client then said only "closed the connection")."""
    from flowspin.daemon import client
    from flowspin.daemon.server import host_socket
    from flowspin.spin.protocol import HEADER, recv_sock, send_sock
    from spin_helpers import make_service

    svc = make_service(workdir)
    server = host_socket(workdir, svc)
    assert server is not None
    try:
        answers = []
        for frame in (HEADER.pack(4) + b"\x81\xa1x\x01", {"type": "spin"}, {"type": 7}):
            sock = client.connect(workdir)
            if isinstance(frame, bytes):  # msgpack {"x": 1}: a frame without a type
                sock.sendall(frame)
            else:
                send_sock(sock, frame)
            answers.append(recv_sock(sock))
            sock.close()
        for answer in (answers[0], answers[2]):
            assert answer["type"] == "error" and answer["message"].strip(), answers
        # A spin is answered with a spin result (the one JSON object `spin --json` prints).
        error = answers[1]["result"]["error"]
        assert answers[1]["type"] == "result" and error["type"] == "InvalidRequest"
        assert "flow_file" in error["message"]
        frame = client._spin_reply(workdir, {"type": "spin"}, None)
        assert frame["result"]["error"]["type"] == "InvalidRequest"
    finally:
        server.stop()
        svc.shutdown()


@needs_root
def test_the_cli_refuses_a_planted_store_in_one_message(workdir):
    """No traceback, and under --json the one object every --json command promises."""
    write_flow(workdir, FLOW)
    plant_store(workdir)
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "flowspin", "spin", "flow.py", "start", *extra],
            cwd=workdir,
            env=metaflow_env(workdir),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        if extra:
            reply = json.loads(proc.stdout)
            assert reply["status"] == "error" and reply["error"]["type"] == "UnsafeWorkspace"
        else:
            assert f"belongs to uid {OTHER}" in proc.stderr
