"""The flowspin language server: a pygls server whose features live one per module."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from flowspin import __version__
from flowspin.lsp import (
    actions,
    artifacts,
    cards,
    commands,
    completion,
    diagnostics,
    flowgraph,
    hover,
    lenses,
    logs,
    navigation,
    staleness,
    step_at,
    symbols,
)
from flowspin.lsp.state import ServerState
from flowspin.lsp.work import FileWork

if TYPE_CHECKING:
    from flowspin.lsp.running import RunTracker
    from flowspin.lsp.spin_host import SpinHost
    from flowspin.lsp.spinning import SpinTracker
    from flowspin.lsp.staleness import StaleTracker

log = logging.getLogger(__name__)

STATUS = "flowspin/status"


class FlowspinServer(LanguageServer):
    # Set by the features that own them, in their register(): spinning.py (spins, spin_host),
    # running.py (runs), staleness.py (stale).
    spins: SpinTracker
    spin_host: SpinHost
    runs: RunTracker
    stale: StaleTracker

    def __init__(self) -> None:
        super().__init__(
            "flowspin",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.state = ServerState()
        self.work = FileWork(self)  # parses and features off the event loop, per file
        self.diagnostics = diagnostics.DiagnosticsScheduler(self)
        self.log_handler = logs.install(self)

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


def _log_level(options: Any) -> int | None:
    level = options.get("logLevel") if isinstance(options, dict) else None
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        return value if isinstance(value, int) else None
    return None


def create_server() -> FlowspinServer:
    server = FlowspinServer()
    for feature in (diagnostics, lenses, hover, navigation, completion, symbols, commands, step_at):
        feature.register(server)
    cards.register(server)
    actions.register(server)
    flowgraph.register(server)
    artifacts.register(server)
    staleness.register(server)

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: FlowspinServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        level = _log_level(options)
        if level is not None:
            logging.getLogger("flowspin").setLevel(level)
        if isinstance(options, dict) and isinstance(options.get("settings"), dict):
            ls.state.settings = options["settings"]

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_configuration(ls: FlowspinServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict):
            section = settings.get("flowspin", settings)
            if isinstance(section, dict):
                ls.state.settings = section
                log.info("settings updated")

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: FlowspinServer, params: types.InitializedParams) -> None:
        ls.log_handler.loop = asyncio.get_running_loop()
        log.info("flowspin %s language server ready", __version__)
        ls.send_status("ready", f"flowspin {__version__}")

    return server
