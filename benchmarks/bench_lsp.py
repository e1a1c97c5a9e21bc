"""Latency of `flowspin lsp` through a real session: diagnostics on a 200-step flow, and
completion, code lenses and a small file's hover on big flows.

A pygls client (pytest-lsp's LanguageClient) starts the real server over stdio. Nothing is
subtracted: every figure includes JSON-RPC both ways, the text sync and the server's work.

1. Diagnostics (budget 50 ms median): the client opens a 200-step flow, then makes ~30 edits
   one after another; each is timed from sending `didChange` to receiving the
   `publishDiagnostics` for that version. (The server checks an edit at once when no other
   check is pending, so a lone edit pays no debounce.)
2. Big flows (`--sizes`, default 500, 2,000, 4,000 and 10,000 steps; budget at 2,000 steps:
   completion <= 100 ms, lenses <= 200 ms), each in a fresh server with the flow and a small
   flow open and checked:
   - completion of `self.` (every upstream artifact, in the last step) and of `self.next(`
     (every step name, in the middle step), asked of the checked document;
   - code lenses of the checked document;
   - after typing: `self.` typed on a new line of the last step (the text no longer parses),
     then completion: didChange to answer; and a digit typed, then code lenses;
   - the other file: the big flow replaced (a new version to check), then code lenses of the
     big flow and right after them a hover on the small flow; both timed from the moment they
     are sent, with which answer came first.

Run: `.venv/bin/python benchmarks/bench_lsp.py [--steps 200] [--edits 30]
[--sizes 500,2000] [--samples 5] [--timeout 120] [--skip-diagnostics]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

BUDGET_MS = 50.0
BIG_BUDGET_STEPS = 2000
COMPLETION_BUDGET_MS = 100.0
LENSES_BUDGET_MS = 200.0


def generate_flow(steps: int) -> str:
    """A linear flow of `steps` steps, each reading its parent's artifact and writing one."""
    names = ["start"] + [f"step_{i:04d}" for i in range(1, steps - 1)] + ["end"]
    out = [
        "from metaflow import FlowSpec, Parameter, card, step",
        "",
        "",
        f"class Generated{steps}Flow(FlowSpec):",
        '    alpha = Parameter("alpha", default=0.5, help="a knob")',
        "",
    ]
    for i, name in enumerate(names):
        out += [
            "    @card(type='blank')" if i % 10 == 0 else "",
            "    @step",
            f"    def {name}(self):",
        ]
        out.append(f'        """Step {i}."""')
        if i == 0:
            out.append("        self.value_0 = self.alpha")
        else:
            out.append(f"        self.value_{i} = self.value_{i - 1} + 1")
        if i + 1 < len(names):
            out.append(f"        self.next(self.{names[i + 1]})")
        out.append("")
    out += ['if __name__ == "__main__":', f"    Generated{steps}Flow()", ""]
    return "\n".join(out)


async def run(steps: int, edits: int) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="flowspin-bench-lsp-"))
    path = work / "flow.py"
    text = generate_flow(steps)
    path.write_text(text)
    uri = path.as_uri()
    lines = text.splitlines()
    # The line that sets the middle step's artifact: edits toggle a digit there (stays valid),
    # or break the transition below it (a diagnostic appears).
    middle = next(i for i, line in enumerate(lines) if f"self.value_{steps // 2} =" in line)

    client = make_test_lsp_client()
    client.feature("flowspin/status")(lambda _client, _params: None)
    await client.start_io(sys.executable, "-m", "flowspin", "lsp")
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), root_uri=work.as_uri()
        )
    )
    opened = client.protocol.wait_for_notification_async(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    await asyncio.wait_for(opened, 30)

    from flowspin.analysis import check_source

    doc_lines = text.split("\n")
    version = 1

    def apply(change: types.TextDocumentContentChangeEvent) -> None:
        nonlocal doc_lines
        if isinstance(change, types.TextDocumentContentChangeWholeDocument):
            doc_lines = change.text.split("\n")
            return
        line = change.range.start.line  # the edits here stay on one line
        old = doc_lines[line]
        doc_lines[line] = (
            old[: change.range.start.character] + change.text + old[change.range.end.character :]
        )

    async def timed(change: types.TextDocumentContentChangeEvent) -> tuple[float, float]:
        """(didChange -> publishDiagnostics, in-process parse + lint of the same text) in ms."""
        nonlocal version
        version += 1
        future = client.protocol.wait_for_notification_async(
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
        )
        started = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[change],
            )
        )
        while True:
            params = await asyncio.wait_for(future, 30)
            if params.uri == uri and params.version == version:
                break
            future = client.protocol.wait_for_notification_async(
                types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
            )
        latency = (time.perf_counter() - started) * 1000
        apply(change)
        started = time.perf_counter()
        check_source("\n".join(doc_lines), str(path))
        return latency, (time.perf_counter() - started) * 1000

    results: dict[str, list[tuple[float, float]]] = {
        "incremental: type one character": [],
        "incremental: break / fix a line": [],
        "full text: replace document": [],
    }
    col = lines[middle].index("+ 1") + 2  # the digit "1"
    for i in range(edits):
        digit = str(i % 8 + 2)  # never the text already there: every edit is a real change
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=middle, character=col),
                end=types.Position(line=middle, character=col + 1),
            ),
            text=digit,
        )
        results["incremental: type one character"].append(await timed(change))
    next_line = middle + 1
    original = lines[next_line]
    broken = original.replace("self.next(self.", "self.next(self.missing_")
    current = original
    for i in range(edits + edits % 2):  # an even count: the line ends fixed
        replacement = broken if i % 2 == 0 else original
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=next_line, character=0),
                end=types.Position(line=next_line, character=len(current)),
            ),
            text=replacement,
        )
        current = replacement
        results["incremental: break / fix a line"].append(await timed(change))
    for i in range(edits):
        new_text = text.replace("default=0.5", f"default=0.{i % 9 + 1}")
        change = types.TextDocumentContentChangeWholeDocument(text=new_text)
        results["full text: replace document"].append(await timed(change))

    await client.shutdown_session()
    await client.stop()
    return results


SMALL_FLOW = generate_flow(5)


class Session:
    """A fresh `flowspin lsp` with the documents the measurements use."""

    def __init__(self, work: Path, timeout: float) -> None:
        self.work = work
        self.timeout = timeout
        self.client = make_test_lsp_client()
        self.client.feature("flowspin/status")(lambda _client, _params: None)
        self.versions: dict[str, int] = {}

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "flowspin", "lsp")
        await self.client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=self.work.as_uri(),
            )
        )

    async def stop(self) -> None:
        await self.client.shutdown_session()
        await self.client.stop()

    async def _diagnostics(self, uri: str, version: int) -> None:
        while True:
            future = self.client.protocol.wait_for_notification_async(
                types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
            )
            params = await asyncio.wait_for(future, self.timeout)
            if params.uri == uri and params.version == version:
                return

    async def open(self, name: str, text: str) -> str:
        path = self.work / name
        path.write_text(text)
        uri = path.as_uri()
        self.versions[uri] = 1
        checked = asyncio.ensure_future(self._diagnostics(uri, 1))
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )
        await checked
        return uri

    def change(self, uri: str, change: types.TextDocumentContentChangeEvent) -> int:
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[change],
            )
        )
        return self.versions[uri]

    async def set_text(self, uri: str, text: str) -> None:
        """Replace the text and wait until the server checked it."""
        version = self.versions[uri] + 1
        checked = asyncio.ensure_future(self._diagnostics(uri, version))
        self.change(uri, types.TextDocumentContentChangeWholeDocument(text=text))
        await checked

    async def timed(self, request: Awaitable[Any]) -> tuple[float, Any]:
        started = time.perf_counter()
        result = await asyncio.wait_for(request, self.timeout)
        return (time.perf_counter() - started) * 1000, result

    def completion(self, uri: str, line: int, character: int) -> Awaitable[Any]:
        return self.client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )

    def lenses(self, uri: str) -> Awaitable[Any]:
        return self.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def hover(self, uri: str, line: int, character: int) -> Awaitable[Any]:
        return self.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )


def _insert(line: int, text: str) -> types.TextDocumentContentChangePartial:
    at = types.Position(line=line, character=0)
    return types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)


async def measure_big(steps: int, samples: int, timeout: float) -> dict[str, Any]:
    """One size: each figure's samples in ms (None where a request timed out)."""
    work = Path(tempfile.mkdtemp(prefix=f"flowspin-bench-lsp-{steps}-"))
    text = generate_flow(steps)
    lines = text.split("\n")
    last_read = max(i for i, line in enumerate(lines) if "self.value_" in line and "+ 1" in line)
    read_col = lines[last_read].index("= self.value_") + len("= self.value_")
    middle = next(i for i, line in enumerate(lines) if f"self.value_{steps // 2} =" in line)
    next_line = middle + 1
    next_col = lines[next_line].index("self.next(self.") + len("self.next(self.")
    small_line = next(i for i, line in enumerate(SMALL_FLOW.split("\n")) if "self.next(" in line)
    small_col = SMALL_FLOW.split("\n")[small_line].index("self.next(self.") + 16

    session = Session(work, timeout)
    await session.start()
    figures: dict[str, Any] = {"steps": steps, "lines": len(lines)}

    async def sample(name: str, run: Callable[[], Awaitable[float]]) -> None:
        values: list[float | None] = []
        for _ in range(samples):
            try:
                values.append(await run())
            except asyncio.TimeoutError:
                values.append(None)
                break  # the server is still busy with it: the next samples would queue
        figures[name] = values

    try:
        small = await session.open("small.py", SMALL_FLOW)
        uri = await session.open("big.py", text)

        async def complete_artifacts() -> float:
            ms, result = await session.timed(session.completion(uri, last_read, read_col))
            figures["artifact items"] = len(result.items)
            return ms

        async def complete_steps() -> float:
            ms, result = await session.timed(session.completion(uri, next_line, next_col))
            figures["step items"] = len(result.items)
            return ms

        async def lenses() -> float:
            ms, result = await session.timed(session.lenses(uri))
            figures["lens count"] = len(result)
            return ms

        await sample("completion self.", complete_artifacts)
        await sample("completion self.next(", complete_steps)
        await sample("code lenses", lenses)

        async def typed_completion() -> float:
            started = time.perf_counter()
            session.change(uri, _insert(last_read + 1, "        x = self.\n"))
            result = await asyncio.wait_for(
                session.completion(uri, last_read + 1, len("        x = self.")), timeout
            )
            ms = (time.perf_counter() - started) * 1000
            figures["typed items"] = len(result.items)
            await session.set_text(uri, text)  # back to the checked text, untimed
            return ms

        async def typed_lenses() -> float:
            digit = lines[middle].rstrip()[-1]
            other = "2" if digit != "2" else "3"
            end = types.Position(line=middle, character=len(lines[middle]))
            start = types.Position(line=middle, character=len(lines[middle]) - 1)
            started = time.perf_counter()
            session.change(
                uri,
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=start, end=end), text=other
                ),
            )
            await asyncio.wait_for(session.lenses(uri), timeout)
            ms = (time.perf_counter() - started) * 1000
            await session.set_text(uri, text)
            return ms

        await sample("typed self. -> completion", typed_completion)
        await sample("typed digit -> code lenses", typed_lenses)

        order: list[str] = []

        async def other_file() -> float:
            edited = text.replace("default=0.5", "default=0.7")
            version = session.versions[uri] + 1
            checked = asyncio.ensure_future(session._diagnostics(uri, version))
            session.change(uri, types.TextDocumentContentChangeWholeDocument(text=edited))
            started = time.perf_counter()
            big_lenses = asyncio.ensure_future(session.lenses(uri))
            hover = asyncio.ensure_future(session.hover(small, small_line, small_col))
            finished: dict[str, float] = {}
            for name, future in (("big lenses", big_lenses), ("small hover", hover)):
                future.add_done_callback(
                    lambda _f, name=name: finished.setdefault(
                        name, (time.perf_counter() - started) * 1000
                    )
                )
            await asyncio.wait_for(asyncio.gather(big_lenses, hover), timeout)
            order.append(min(finished, key=finished.__getitem__))
            figures.setdefault("big lenses meanwhile", []).append(finished["big lenses"])
            await asyncio.wait_for(checked, timeout)
            await session.set_text(uri, text)
            return finished["small hover"]

        await sample("small hover while big re-checked", other_file)
        figures["answered first"] = order
    finally:
        await session.stop()
    return figures


def _cell(values: list[float | None] | None, timeout: float) -> str:
    if not values:
        return "-"
    done = [v for v in values if v is not None]
    if len(done) < len(values):
        return f">{timeout:.0f}s"
    return f"{statistics.median(done):.0f}"


def print_big(results: list[dict[str, Any]], timeout: float) -> None:
    rows = [
        "completion self.",
        "completion self.next(",
        "code lenses",
        "typed self. -> completion",
        "typed digit -> code lenses",
        "small hover while big re-checked",
        "big lenses meanwhile",
    ]
    print()
    print(
        f"flowspin lsp on big flows: median ms per request, sent to answer (budget at "
        f"{BIG_BUDGET_STEPS} steps: completion <= {COMPLETION_BUDGET_MS:.0f} ms, lenses <= "
        f"{LENSES_BUDGET_MS:.0f} ms, on the checked document)"
    )
    header = f"{'':<34}" + "".join(f"{r['steps']:>15} st" for r in results)
    print(header)
    for row in rows:
        print(f"{row:<34}" + "".join(f"{_cell(r.get(row), timeout):>18}" for r in results))
    counts = [
        f"{r.get('artifact items', '-')}/{r.get('step items', '-')}/{r.get('lens count', '-')}"
        for r in results
    ]
    print(f"{'items: self. / self.next( / lenses':<34}" + "".join(c.rjust(18) for c in counts))
    print(
        f"{'answered first (small hover?)':<34}"
        + "".join(
            f"{sum(1 for o in r.get('answered first', []) if o == 'small hover')}"
            f"/{len(r.get('answered first', []))}".rjust(18)
            for r in results
        )
    )
    for r in results:
        if r["steps"] == BIG_BUDGET_STEPS:
            completion = _median(r.get("completion self.")), _median(r.get("completion self.next("))
            lenses = _median(r.get("code lenses"))
            ok = (
                all(c is not None and c <= COMPLETION_BUDGET_MS for c in completion)
                and lenses is not None
                and lenses <= LENSES_BUDGET_MS
            )
            print(f"budget at {BIG_BUDGET_STEPS} steps: {'ok' if ok else 'OVER'}")


def _median(values: list[float | None] | None) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--sizes", default="500,2000,4000,10000", help="big flows' step counts")
    parser.add_argument("--samples", type=int, default=5, help="requests per big-flow figure")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--skip-diagnostics", action="store_true")
    parser.add_argument("--json-out", help="write the big-flow figures here as JSON")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    big = [asyncio.run(measure_big(n, args.samples, args.timeout)) for n in sizes]
    print_big(big, args.timeout)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(big, indent=2))
    if args.skip_diagnostics:
        return 0
    print()
    results = asyncio.run(run(args.steps, args.edits))
    print(
        f"flowspin lsp: didChange -> publishDiagnostics, {args.steps}-step flow, "
        f"{args.edits} edits each (budget {BUDGET_MS:.0f} ms median)"
    )
    print(
        "latency = the full round trip, nothing subtracted; parse+lint = the same text "
        "checked in this process right after (same machine load), for reference"
    )
    print(
        f"{'edit':<34} {'median':>7} {'p90':>7} {'min':>7} {'max':>7} "
        f"{'parse+lint':>11} {'budget':>7}"
    )
    for label, pairs in results.items():
        latency = sorted(p[0] for p in pairs)
        parse = statistics.median(p[1] for p in pairs)
        p90 = latency[min(len(latency) - 1, int(len(latency) * 0.9))]
        median = statistics.median(latency)
        verdict = "ok" if median <= BUDGET_MS else "OVER"
        print(
            f"{label:<34} {median:7.1f} {p90:7.1f} {latency[0]:7.1f} {latency[-1]:7.1f} "
            f"{parse:11.1f} {verdict:>7}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
