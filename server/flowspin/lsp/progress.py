"""Cancellable `$/progress` for long work (spins, runs): created with the client, begun,
ended; the client's Cancel button calls `on_cancel`. A client without progress support still
gets its spin or run, only without the bar."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)


async def begin(
    ls: FlowspinServer,
    kind: str,
    title: str,
    message: str,
    on_cancel: Callable[[], None],
    still_wanted: Callable[[], bool] = lambda: True,
) -> str | None:
    """The progress token, or None when the client has no progress (or the work already
    ended while the client was asked, `still_wanted()` false)."""
    window = ls.client_capabilities.window
    if not (window and window.work_done_progress):
        return None
    token = f"flowspin-{kind}-{uuid.uuid4().hex}"
    try:
        await ls.work_done_progress.create_async(token)
    except Exception as exc:
        log.debug("no progress for the %s: %s", kind, exc)
        return None
    if not still_wanted():
        return None
    ls.work_done_progress.begin(
        token, types.WorkDoneProgressBegin(title=title, cancellable=True, message=message)
    )
    future = ls.work_done_progress.tokens.get(token)
    if future is not None:
        future.add_done_callback(lambda f: on_cancel() if f.cancelled() else None)
    return token


def report(ls: FlowspinServer, token: str | None, message: str) -> None:
    if token is not None:
        ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))


def end(ls: FlowspinServer, token: str | None) -> None:
    if token is not None:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
        ls.work_done_progress.tokens.pop(token, None)
