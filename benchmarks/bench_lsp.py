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
        out += ["    @card(type='blank')" if i % 10 == 0 else "", "    @step",
                f"    def {name}(self):"]
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
    version = 1
    opened = client.protocol.wait_for_notification_async(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text=text)
        )
    )
    await asyncio.wait_for(opened, 30)

    async def timed(change: types.TextDocumentContentChangeEvent) -> float:
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
                return (time.perf_counter() - started) * 1000
            future = client.protocol.wait_for_notification_async(
                types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
            )

    results: dict[str, list[float]] = {"incremental: type one character": [],
                                       "incremental: break / fix a line": [],
                                       "full text: replace document": []}
    col = lines[middle].index("+ 1") + 2  # the digit "1"
    for i in range(edits):
        digit = str(i % 9 + 1)
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=middle, character=col),
                              end=types.Position(line=middle, character=col + 1)),
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
            range=types.Range(start=types.Position(line=next_line, character=0),
                              end=types.Position(line=next_line, character=len(current))),
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


def parse_lint_ms(steps: int, repeats: int = 30) -> list[float]:
    from flowspin.analysis import check_source

    text = generate_flow(steps)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        check_source(text, "flow.py")
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args()
    results = asyncio.run(run(args.steps, args.edits))
    results = {"in-process parse + lint (reference)": parse_lint_ms(args.steps), **results}
    print(f"flowspin lsp: didChange -> publishDiagnostics, {args.steps}-step flow, "
          f"{args.edits} edits each (budget {BUDGET_MS:.0f} ms median)")
    print(f"{'edit':<38} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}  budget")
    for label, times in results.items():
        ordered = sorted(times)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        median = statistics.median(times)
        verdict = "" if label.startswith("in-process") else (
            "ok" if median <= BUDGET_MS else "OVER")
        print(f"{label:<38} {median:8.1f} {p90:8.1f} {ordered[0]:8.1f} {ordered[-1]:8.1f}"
              f"  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
