"""Logging of the engine's long-lived processes to their stderr: the spin worker's goes to
`.flowspin/logs/worker-<flow>.log`, the daemon's to `.flowspin/logs/daemon.log`. The language
server routes the same `flowspin` loggers to the editor instead (lsp/logs.py).

The warm shell spin path (`flowspin spin --json`, daemon/client.py) never imports this
module, nor `logging`: each import there costs milliseconds (tests/test_daemon_cli.py).
"""

from __future__ import annotations

import logging
import os
import sys

ENV_LEVEL = "FLOWSPIN_LOG_LEVEL"  # e.g. DEBUG; INFO when unset or not a level name


def log_to_stderr(process: str) -> None:
    """Write the `flowspin` loggers' records to stderr, one line each:
    `2026-12-02 14:03:24,123 flowspin worker 4242 WARNING flowspin.spin.records: ...`.
    Idempotent."""
    logger = logging.getLogger("flowspin")
    if any(getattr(h, "flowspin_stderr", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.flowspin_stderr = True  # type: ignore[attr-defined]
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s flowspin {process} %(process)d %(levelname)s %(name)s: %(message)s"
        )
    )
    logger.addHandler(handler)
    level = logging.getLevelName(os.environ.get(ENV_LEVEL, "INFO").upper())
    logger.setLevel(level if isinstance(level, int) else logging.INFO)
