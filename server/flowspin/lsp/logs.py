"""Forward the server's own log records to the client (`window/logMessage`).

stdout is the protocol, so nothing may print; the extension shows these in its output
channel. Only the `flowspin` logger is forwarded: pygls logs every message it sends, and
forwarding those would loop forever.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from lsprotocol import types
from pygls.lsp.server import LanguageServer

_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class ClientLogHandler(logging.Handler):
    def __init__(self, server: LanguageServer) -> None:
        super().__init__()
        self.server = server
        self._local = threading.local()
        self.loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False) or self.server.protocol.writer is None:
            return
        try:
            message = self.format(record)
        except Exception:  # a bad log call must never take the server down
            return
        kind = next((t for lvl, t in _LEVELS.items() if record.levelno >= lvl), None)
        params = types.LogMessageParams(type=kind or types.MessageType.Log, message=message)
        loop = self.loop
        if loop is not None and threading.current_thread() is not threading.main_thread():
            loop.call_soon_threadsafe(self._send, params)
        else:
            self._send(params)

    def _send(self, params: types.LogMessageParams) -> None:
        self._local.busy = True
        try:
            self.server.window_log_message(params)
        except Exception:
            pass
        finally:
            self._local.busy = False


def install(server: LanguageServer, level: int = logging.INFO) -> ClientLogHandler:
    handler = ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("flowspin")
    for old in [h for h in logger.handlers if isinstance(h, ClientLogHandler)]:
        logger.removeHandler(old)  # one server per process talks to the client
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
