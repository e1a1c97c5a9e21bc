"""Stale steps in the editor: which steps' latest outputs were made by code that changed since
(`flowspin.analysis.staleness` decides; this module only keeps what it needs per document).

- The base run's code: the text of the flow when the document was first analysed in this
  session (the run is taken to match the file as opened), replaced by the text an editor run
  starts from. Spins from the editor pass it as `code_base`, so their results' `code` is right
  even when a step above was edited and not spun since.
- Each step's latest successful spin's `code` (from its result) is newer than the run's
  until the next editor run.
- A step whose latest spin failed on the current code shows that failure, not "stale": it
  was tried since the edit.

The lenses ("stale: upstream 'clean' changed"), `flowspin/flowGraph` and Spin Downstream read
`stale_steps`, computed from the document's last text that parses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from flowspin.analysis import Flow
from flowspin.analysis.staleness import helper_files, stale_reason, stale_steps, step_codes
from flowspin.lsp.documents import snapshot
from flowspin.lsp.flowgraph import notify_changed
from flowspin.lsp.work import Stale

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)


class StaleTracker:
    def __init__(self, server: FlowspinServer) -> None:
        self.server = server
        # uri -> {flow name: codes} the base run ran (see the module's docstring)
        self.run_codes: dict[str, dict[str, dict[str, str]]] = {}
        self.run_at: dict[str, float] = {}
        # (uri, step) -> (time, code) of the step's latest successful spin
        self.spun: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        # (uri, step) -> code of its latest spin when that one failed: a failure of the
        # current code is what the step shows, not "stale" (it was tried since the edit)
        self.failed: dict[tuple[str, str], dict[str, str]] = {}
        self.summaries: dict[str, tuple[tuple[str, str, str], ...]] = {}  # uri -> stale steps
        self.lock = threading.Lock()

    def _parsed(self, uri: str) -> tuple[Any, str] | None:
        """The document's last model that parsed, with its text."""
        models = self.server.state.models
        with models.lock:
            model = models.last_good.get(uri)
            source = models.last_good_source.get(uri)
        if model is None or source is None:
            return None
        return model, source

    def codes(self, uri: str) -> dict[str, dict[str, str]]:
        parsed = self._parsed(uri)
        if parsed is None:
            return {}
        model, source = parsed
        return {
            f.name: step_codes(f, model, source, self.server.state.models.read) for f in model.flows
        }

    def analysed(self, uri: str) -> None:
        """An analysis of `uri` finished (on the event loop): on the file's worker thread, the
        first one sets the base run's code; later ones ask the client for new lenses when the
        stale steps changed (lenses asked right after typing in a step are answered from the
        last parse, before this one)."""
        asyncio.get_running_loop().create_task(self._after_analysis(uri))

    async def _after_analysis(self, uri: str) -> None:
        doc = snapshot(self.server, uri)
        try:
            summary = await self.server.work.run(doc, lambda check: self._settle(uri))
        except Stale:
            return
        except Exception:
            log.exception("stale steps of %s", uri)
            return
        if summary is None:  # not a flow: a helper module, maybe of open flows
            self._helper_changed(doc.path)
            return
        with self.lock:
            before = self.summaries.get(uri)
            self.summaries[uri] = summary
        if before is not None and before != summary:
            self.server.refresh_lenses()

    def _helper_changed(self, path: str | None) -> None:
        """A module edited in another tab: the flows that import it may have stale steps now
        (their lenses and graphs read the module's unsaved text)."""
        if not path:
            return
        real = os.path.realpath(path)
        with self.lock:
            flows = list(self.run_codes)
        users = []
        for uri in flows:
            parsed = self._parsed(uri)
            if parsed is not None and real in helper_files(parsed[1], parsed[0].path):
                users.append(uri)
        for uri in users:
            notify_changed(self.server, uri)
        if users:
            self.server.refresh_lenses()

    def _settle(self, uri: str) -> tuple[tuple[str, str, str], ...] | None:
        """The stale steps of `uri` (None when it is no flow), setting the base run's code on
        the first analysis."""
        with self.lock:
            known = uri in self.run_codes
        if not known:
            codes = self.codes(uri)
            if codes:
                with self.lock:
                    self.run_codes.setdefault(uri, codes)
                    self.run_at.setdefault(uri, self.server.clock())
        parsed = self._parsed(uri)
        if parsed is None or not parsed[0].flows:
            return None
        return tuple(
            (flow.name, step, reason)
            for flow in parsed[0].flows
            for step, reason in sorted(self.stale_steps(uri, flow).items())
        )

    def run_started(self, uri: str) -> None:
        """An editor run starts from the current text: it is the base now, spins are older."""
        codes = self.codes(uri)
        with self.lock:
            self.run_codes[uri] = codes
            self.run_at[uri] = self.server.clock()
            for known in (self.spun, self.failed):
                for key in [k for k in known if k[0] == uri]:
                    del known[key]

    def spin_ended(self, uri: str, step: str, result: Any) -> None:
        with self.lock:
            if result.status == "ok" and result.code:
                self.spun[(uri, step)] = (self.server.clock(), dict(result.code))
            if result.status == "error" and result.code:
                self.failed[(uri, step)] = dict(result.code)
            elif result.status == "ok":
                self.failed.pop((uri, step), None)

    def code_base(self, uri: str, flow: str) -> dict[str, str]:
        """The base run's code of `flow`, for a spin's `code_base` option."""
        with self.lock:
            return dict(self.run_codes.get(uri, {}).get(flow, {}))

    def stale_steps(self, uri: str, flow: Flow) -> dict[str, str]:
        """Stale steps of `flow` in `uri` with their reasons (empty when nothing is known)."""
        parsed = self._parsed(uri)
        if parsed is None:
            return {}
        model, source = parsed
        now = next((f for f in model.flows if f.name == flow.name), None)
        if now is None:
            return {}
        codes = step_codes(now, model, source, self.server.state.models.read)
        with self.lock:
            base = self.run_codes.get(uri, {}).get(flow.name)
            spun = {s: c for (u, s), (_, c) in self.spun.items() if u == uri}
            failed = {s: c for (u, s), c in self.failed.items() if u == uri}
        stale = stale_steps(now, codes, spun, base)
        for name, code in failed.items():
            if name in stale and name in now.steps and stale_reason(now, name, code, codes) is None:
                del stale[name]
        return stale
