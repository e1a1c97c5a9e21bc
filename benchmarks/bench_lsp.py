"""Diagnostics latency of `flowspin lsp` on a generated 200-step flow (budget: 50 ms).

A pygls client (pytest-lsp's LanguageClient) starts the real server over stdio, opens the
flow, then makes ~30 edits one after another; each is timed from sending `didChange` to
receiving the `publishDiagnostics` for that document version. Nothing is subtracted: the
time includes JSON-RPC both ways, the text sync, parse + lint and any debounce. (The server
checks an edit at once when no other check is pending, so a lone edit pays no debounce.)

Run: `.venv/bin/python benchmarks/bench_lsp.py [--steps 200] [--edits 30]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

BUDGET_MS = 50.0


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args()
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
