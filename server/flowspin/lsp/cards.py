"""Cards in the editor: `flowspin/cardFor`, the `flowspin.server.showCard` command, and
`flowspin/cardChanged` notifications from watchers on spin and run card files.

The card viewer asks `flowspin/cardFor {uri, step?|line?, source?}` (`source`: "auto", the
default, the newer of the latest spin's and the latest run's cards; or "spin" or "run") and
gets the cards with where they came from (`source`, `label`, `created`, `base_run`, `run_id`,
`task_id`, `live`). The first such request starts watchers for that workspace's spin cards and
for the flow's local Metaflow card folder; every new card file then reaches the client as
`flowspin/cardChanged` with the same fields plus `flow`, `step`, `path` and `kind` ("html", or
"data" for a run's `current.card.refresh()` data update, whose payload the card applies in
place), so the viewer redraws without asking. Decisions (which card, which source) live in
`flowspin.cards`; this module only translates.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowspin import protocol
from flowspin.lsp import commands
from flowspin.lsp.commands import Command

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

CARD_FOR = protocol.CARD_FOR
CARD_CHANGED = protocol.CARD_CHANGED
HOW_TO = (
    'Add @card to the step (for example @card(type="blank") and '
    'current.card.append(Markdown("...")) in its body), then spin it or run the flow.'
)


class CardWatchers:
    """The server's card file watchers (one per workspace's spin cards, one per flow's run
    card folder) and the threads that read cards; `stop()` ends them all (at shutdown)."""

    def __init__(self) -> None:
        self.watchers: dict[Any, Any] = {}  # workspace root, or ("run-cards", folder)
        self.lock = threading.Lock()
        self.closed = False
        self._pool: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        with self.lock:
            if self.closed:
                raise RuntimeError("the language server is shutting down")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flowspin-cards")
            return self._pool

    def stop(self) -> None:
        """Stop every watcher and the card readers (idempotent); none start after this."""
        with self.lock:
            self.closed = True
            watchers = list(self.watchers.values())
            self.watchers.clear()
            pool, self._pool = self._pool, None
        for watcher in watchers:
            try:
                watcher.stop()
            except Exception:
                log.exception("stopping a card watcher failed")
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if watchers:
            log.info("stopped %d card watcher(s)", len(watchers))


def card_for(
    ls: FlowspinServer, argument: Any, loop: asyncio.AbstractEventLoop | None = None
) -> dict[str, Any]:
    from flowspin.cards import files
    from flowspin.cards.lookup import CardLookupError, cards_for
    from flowspin.store.layout import workspace_root

    target = commands.resolve(ls, argument, need_step=True)
    if target.error is not None or target.step is None or target.flow is None:
        return {"ok": False, "message": target.error or "no step here", "cards": []}
    doc = ls.workspace.get_text_document(target.uri)
    flow_file = Path(doc.path)
    root = workspace_root(flow_file)
    if loop is not None:
        _ensure_watcher(ls, root, loop)
        _ensure_run_watcher(ls, files.run_cards_root(flow_file), loop)
    source = (argument or {}).get("source") or "auto"
    answer: dict[str, Any] = {
        "ok": True,
        "flow": target.flow.name,
        "step": target.step.name,
        "has_card_decorator": bool(target.step.cards),
        "cards_root": str(files.cards_root(root)),
        "asked": source,
        "cards": [],
    }
    try:
        found = cards_for(flow_file, target.step.name, source)
    except CardLookupError as exc:
        answer.update(message=str(exc), how_to=HOW_TO)
        return answer
    except Exception as exc:  # a datastore that cannot be read must not break the viewer
        log.warning("card lookup for %s failed: %s", target.step.name, exc)
        answer.update(message=f"could not read the step's cards: {exc}", how_to=HOW_TO)
        return answer
    answer.update(found.as_dict())
    answer["message"] = f"{len(found.cards)} card(s) of step {target.step.name} ({found.label})"
    return answer


def show_card(ls: FlowspinServer, target: commands.Target) -> dict[str, Any]:
    """The palette command without a viewer (e.g. another editor): say where the card is."""
    arg = {"uri": target.uri, "step": target.step.name if target.step else None}
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    answer = card_for(ls, arg, loop)
    if answer.get("cards"):
        answer["message"] = f"{answer['message']}: {answer['cards'][0]['path']}"
    elif answer.get("ok"):
        answer["ok"] = False
        answer["message"] = f"{answer.get('message', 'no card yet')}. {HOW_TO}"
    return answer


def _ensure_watcher(ls: FlowspinServer, root: Path, loop: asyncio.AbstractEventLoop) -> None:
    from flowspin.cards import files
    from flowspin.cards.lookup import spin_index_cards
    from flowspin.cards.watch import CardWatcher

    cards = ls.cards
    with cards.lock:
        if root in cards.watchers or cards.closed:
            return

        def changed(flow: str, step: str, path: str) -> None:
            folder = Path(path).parent
            index = files.read_index(folder) or {}
            found = spin_index_cards(folder, index)
            params = {**(found.as_dict() if found else {"source": "spin", "cards": []})}
            params.update(flow=flow, step=step, path=path, kind="html")
            params["spin_id"] = index.get("spin_id")
            loop.call_soon_threadsafe(ls.protocol.notify, CARD_CHANGED, params)

        watcher = CardWatcher(root, changed)
        try:
            watcher.start()
        except Exception as exc:  # e.g. inotify limits: the viewer still works on request
            log.warning("cannot watch %s for card changes: %s", files.cards_root(root), exc)
            return
        cards.watchers[root] = watcher
        log.info("watching %s for new cards", files.cards_root(root))


def _ensure_run_watcher(
    ls: FlowspinServer, card_root: Path, loop: asyncio.AbstractEventLoop
) -> None:
    from flowspin.cards import files
    from flowspin.cards.lookup import task_cards
    from flowspin.cards.watch import RunCardEvent, RunCardWatcher

    key = ("run-cards", card_root)
    cards = ls.cards
    with cards.lock:
        if key in cards.watchers or cards.closed:
            return

        def changed(event: RunCardEvent) -> None:
            found = task_cards(event.task_dir)
            if found is None:
                return
            html = event.path
            if event.kind == "data":
                html = str(files.card_html_for(Path(event.path)))
            params = found.as_dict()
            params.update(flow=event.flow, step=event.step, path=html, kind=event.kind)
            if event.kind == "data":
                params["data"] = next(
                    (c.get("data") for c in found.cards if c["path"] == html), None
                )
            loop.call_soon_threadsafe(ls.protocol.notify, CARD_CHANGED, params)

        watcher = RunCardWatcher(card_root, changed)
        try:
            watcher.start()
        except Exception as exc:
            log.warning("cannot watch %s for run cards: %s", card_root, exc)
            return
        cards.watchers[key] = watcher


COMMANDS = (Command("flowspin.server.showCard", show_card, needs_step=True),)


def register(server: FlowspinServer) -> None:
    @server.feature(CARD_FOR)
    async def on_card_for(ls: FlowspinServer, params: Any) -> dict[str, Any]:
        argument = params if isinstance(params, dict) else _as_dict(params)
        loop = asyncio.get_running_loop()
        # Reading a run's cards imports Metaflow's client: off the event loop, on our own
        # thread (pygls's default executor is busy reading stdin).
        return await loop.run_in_executor(ls.cards.executor(), card_for, ls, argument, loop)


def _as_dict(params: Any) -> dict[str, Any]:
    keys = ("uri", "step", "line", "source")
    return {k: getattr(params, k, None) for k in keys} if params else {}
