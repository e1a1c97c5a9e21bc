"""The language server's warm workers, shared with the shell: one `SpinService` per server
process, served on each workspace's `.flowspin/daemon.sock`.

Why host the socket instead of being a daemon client: the editor is where spins happen most,
so its process should own the warm state without a hop, and `flowspin spin` / MCP from a
terminal in the same workspace then land on the very same workers (warm, same chained
state). When a detached daemon already serves the workspace, the server asks it to stop
(running spins finish) and takes the socket over in the background; spins never wait on that.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flowspin.daemon.server import SocketServer
    from flowspin.spin.result import SpinResult

log = logging.getLogger(__name__)

# A stopped daemon lets its running spins finish first (FLOWSPIN_DAEMON_DRAIN_S, 30 s, then
# a cancel and its grace): wait that out rather than give up on serving the shell.
TAKEOVER_S = 60.0


def setting(settings: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """`spin.timeout` from the nested section the extension sends (flat keys work too)."""
    if dotted in settings:
        return settings[dotted]
    node: Any = settings
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def worker_env(settings: dict[str, Any]) -> dict[str, str]:
    """The workers' environment: the server's, plus `flowspin.run.env`, the memory budget
    and the number of spins kept (read by the worker at start)."""
    env = dict(os.environ)
    extra = setting(settings, "run.env", {})
    if isinstance(extra, dict):
        env.update({str(k): str(v) for k, v in extra.items() if isinstance(v, (str, int, float))})
    budget = setting(settings, "worker.memoryBudgetMB")
    if isinstance(budget, (int, float)) and budget > 0:
        env["FLOWSPIN_STATE_BUDGET_MB"] = str(budget)
    keep = setting(settings, "store.keepSpins")
    if isinstance(keep, (int, float)) and keep >= 1:
        env["FLOWSPIN_KEEP_SPINS"] = str(int(keep))
    return env


class SpinEngine(Protocol):
    """What the language server asks of its warm workers: `flowspin.spin.service.SpinService`,
    or a light fake in tests of the editor features where real Metaflow adds nothing."""

    env: dict[str, str]

    def spin(
        self,
        flow_file: Path,
        step: str,
        options: dict[str, Any] | None = None,
        on_log: Callable[[str, str], None] | None = None,
    ) -> SpinResult: ...

    def preload_state(
        self, flow_file: Path, step: str, base: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    def cancel(self, flow_file: Path) -> None: ...

    def rebase(self, flow_file: Path) -> None: ...

    def restart_worker(self, flow_file: Path) -> None: ...

    def shutdown(self) -> None: ...


EngineFactory = Callable[[dict[str, str]], SpinEngine]  # the workers' environment -> engine


def spin_service(env: dict[str, str]) -> SpinEngine:
    """The real engine: warm Metaflow workers (imported on the first spin, not at start)."""
    from flowspin.spin.service import SpinService

    # No fixed root: each flow file's workspace root is found from its path.
    return SpinService(None, env=env)


class SpinHost:
    """The server's one engine, made on first use from the settings last synced, and the
    workspace sockets it serves (only a real `SpinService` is served to the shell)."""

    def __init__(self, factory: EngineFactory = spin_service) -> None:
        self._factory = factory
        self._service: SpinEngine | None = None
        self._sockets: dict[Path, SocketServer | None] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.settings: dict[str, Any] = {}

    def sync(self, settings: dict[str, Any]) -> None:
        """New settings reach workers started from now on (Restart Worker applies them)."""
        if settings is self.settings:
            return
        self.settings = settings
        with self._lock:
            if self._service is not None:
                env = worker_env(settings)
                env.setdefault("USER", env.get("METAFLOW_USER", "flowspin"))
                self._service.env = env

    def service(self) -> SpinEngine:
        with self._lock:
            if self._service is None:
                if self._closed:
                    raise RuntimeError("the language server is shutting down: no new workers")
                self._service = self._factory(worker_env(self.settings))
            return self._service

    def serve(self, flow_file: Path) -> None:
        """Serve the flow's workspace socket from this process (once per workspace)."""
        from flowspin.store.layout import workspace_root

        root = workspace_root(flow_file)
        with self._lock:
            if root in self._sockets or self._closed:
                return
            self._sockets[root] = None
        threading.Thread(
            target=self._take_socket, args=(root,), name="flowspin-socket-takeover", daemon=True
        ).start()

    def _take_socket(self, root: Path) -> None:
        from flowspin.daemon import client
        from flowspin.daemon.server import host_socket
        from flowspin.spin.service import SpinService
        from flowspin.store.root import UnsafeWorkspace

        service = self.service()
        if not isinstance(service, SpinService):
            return  # a fake engine in a test: the shell has nothing to share
        try:
            server = host_socket(root, service)
        except UnsafeWorkspace as exc:  # another user's or a shared .flowspin: never serve it
            log.warning("not serving shell spins for %s: %s", root, exc)
            return
        if server is None:
            # A detached daemon holds the workspace: ask it to stop, then take over.
            try:
                for _ in client.request(root, {"type": "stop"}):
                    pass
            except Exception as exc:
                log.info("stopping the daemon of %s: %s", root, exc)
            deadline = time.monotonic() + TAKEOVER_S
            while server is None and time.monotonic() < deadline:
                time.sleep(0.05)
                server = host_socket(root, service)
        with self._lock:
            closed = self._closed
            if not closed:
                self._sockets[root] = server
        if closed and server is not None:
            server.stop()  # the server shut down while this thread took the socket over
            return
        if server is None:
            log.warning(
                "could not serve %s: another flowspin process holds it; shell spins there "
                "use that process's workers",
                root / ".flowspin" / "daemon.sock",
            )
        else:
            log.info("serving warm spins for the shell on %s", server.path)

    def socket_for(self, root: Path) -> SocketServer | None:
        with self._lock:
            return self._sockets.get(root)

    def shutdown(self) -> None:
        """Stop serving the sockets and stop the workers (idempotent)."""
        with self._lock:
            self._closed = True
            sockets = [s for s in self._sockets.values() if s is not None]
            self._sockets.clear()
            service, self._service = self._service, None
        for server in sockets:
            server.stop()
        if service is not None:
            service.shutdown()
