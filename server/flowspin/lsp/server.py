"""The flowspin language server: a pygls server whose features live one per module.

`create_server` assembles it: the engines (the spin engine, the run manager, the clock) come
in as parameters with the real ones as defaults, so a test can pass a light fake where real
Metaflow adds nothing; every tracker is a typed attribute set in `FlowspinServer.__init__`;
the commands are one frozen `CommandRegistry` built from the features' `COMMANDS`. One
shutdown path (`FlowspinServer.stop_engines`) stops what the features started.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from flowspin import __version__, protocol
from flowspin.lsp import (
    actions,
    artifacts,
    cards,
    completion,
    diagnostics,
    diffs,
    flowgraph,
    hover,
    lenses,
    logs,
    navigation,
    running,
    spinning,
    step_at,
    symbols,
)
from flowspin.lsp.cards import CardWatchers
from flowspin.lsp.commands import CommandRegistry
from flowspin.lsp.running import RunTracker
from flowspin.lsp.spin_host import EngineFactory, SpinHost, spin_service
from flowspin.lsp.spinning import SpinTracker
from flowspin.lsp.staleness import StaleTracker
from flowspin.lsp.state import ServerState
from flowspin.lsp.work import FileWork
from flowspin.runs import RunManager

log = logging.getLogger(__name__)

STATUS = protocol.STATUS
Clock = Callable[[], float]


class FlowspinServer(LanguageServer):
    def __init__(
        self,
        *,
        commands: CommandRegistry | None = None,
        spin_host: SpinHost | None = None,
        runs: RunTracker | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            "flowspin",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.clock = clock  # when spins and runs ended (which is newer), when a base was set
        self.commands = commands if commands is not None else CommandRegistry()
        self.state = ServerState()
        self.work = FileWork(self)  # parses and features off the event loop, per file
        self.diagnostics = diagnostics.DiagnosticsScheduler(self)
        self.cards = CardWatchers()  # card file watchers, started by the first cardFor
        self.spins = SpinTracker()  # spins in flight, spin errors, preloads (`spinning`)
        self.spin_host = spin_host if spin_host is not None else SpinHost()  # warm workers
        self.runs = runs if runs is not None else RunTracker()  # editor runs (`running`)
        self.stale = StaleTracker(self)  # stale steps (`staleness`)
        self.log_handler = logs.install(self)
        self._stopped = False
        self._stop_lock = threading.Lock()

    def send_status(self, state: str, message: str) -> None:
        """Tell the client what the server is doing (`ready`, `busy`, `error`)."""
        self.protocol.notify(STATUS, {"state": state, "message": message})

    def refresh_lenses(self) -> None:
        """Ask the client to re-request code lenses, when it supports being asked."""
        workspace = self.client_capabilities.workspace
        code_lens = workspace.code_lens if workspace else None
        if code_lens is not None and code_lens.refresh_support:
            self.workspace_code_lens_refresh(None)

    def set_step_status(self, uri: str, step: str, status: str | None) -> None:
        """Show `status` (e.g. "✓ 12 ms") after the step's Spin lens, or clear it."""
        if status:
            self.state.step_status[(uri, step)] = status
        else:
            self.state.step_status.pop((uri, step), None)
        self.refresh_lenses()

    def stop_engines(self) -> None:
        """The one shutdown path (the `shutdown` request, else the end of the IO loop on
        `exit` or a closed stdin), idempotent. In order: the card watchers, the files' worker
        threads, the spin workers and the sockets they are served on, the editor's runs (a
        run started from the editor ends with it), the pending diagnostics checks."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        steps: list[tuple[str, Callable[[], None]]] = [
            ("card watchers", self.cards.stop),
            ("file workers", self.work.shutdown),
            ("spin workers", self.spin_host.shutdown),
            ("runs", self.runs.shutdown),
            ("diagnostics", self.diagnostics.shutdown),
        ]
        for what, stop in steps:
            try:
                stop()
            except Exception:
                log.exception("stopping the %s failed", what)
        log.info("flowspin language server stopped")

    def shutdown(self) -> None:
        """pygls calls this when its IO loop ends: the client exited (or vanished)."""
        self.stop_engines()
        super().shutdown()


def _log_level(options: Any) -> int | None:
    level = options.get("logLevel") if isinstance(options, dict) else None
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        return value if isinstance(value, int) else None
    return None


def create_server(
    *,
    spin_engine: EngineFactory = spin_service,
    run_manager: RunManager | None = None,
    clock: Clock = time.time,
) -> FlowspinServer:
    """The language server. `spin_engine` makes the warm-worker engine from the workers'
    environment (default: a real `SpinService`, started on the first spin); `run_manager`
    drives the editor's Metaflow runs (default: `RunManager` on this interpreter); `clock`
    stamps spin and run results."""
    registry = CommandRegistry(spinning.COMMANDS, running.COMMANDS, cards.COMMANDS, diffs.COMMANDS)
    server = FlowspinServer(
        commands=registry,
        spin_host=SpinHost(spin_engine),
        runs=RunTracker(manager=run_manager) if run_manager is not None else RunTracker(),
        clock=clock,
    )
    for feature in (
        diagnostics,
        lenses,
        hover,
        navigation,
        completion,
        symbols,
        spinning,
        running,
        step_at,
        cards,
        actions,
        flowgraph,
        artifacts,
    ):
        feature.register(server)
    registry.register(server)

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: FlowspinServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        level = _log_level(options)
        if level is not None:
            logging.getLogger("flowspin").setLevel(level)
        if isinstance(options, dict) and isinstance(options.get("settings"), dict):
            ls.state.update_settings(options["settings"], options.get("folder_settings"))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_configuration(ls: FlowspinServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict):
            section = settings.get("flowspin", settings)
            if isinstance(section, dict):
                ls.state.update_settings(section, settings.get("folder_settings"))
                log.info("settings updated")

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: FlowspinServer, params: types.InitializedParams) -> None:
        ls.log_handler.loop = asyncio.get_running_loop()
        log.info("flowspin %s language server ready", __version__)
        ls.send_status("ready", f"flowspin {__version__}")

    @server.feature(types.SHUTDOWN)
    def on_shutdown(ls: FlowspinServer, params: Any) -> None:
        ls.stop_engines()

    return server
