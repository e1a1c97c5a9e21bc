"""From an edit to the flow panel's new graph, on the server's side: `didChange` ->
`flowspin/flowGraphChanged` -> `flowspin/flowGraph` answered, for 20- and 200-step flows.

Why: the panel redraws on that notification (after its own 100 ms debounce; the redraw itself
is `bench_flow_panel.py`'s figure), so this is the part of "edit to panel update" the server
owns. A real language-server session over stdio, as the editor runs it.

Run: `.venv/bin/python benchmarks/bench_flow_update.py [--sizes 20,200] [--edits 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pytest_lsp import make_test_lsp_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lsp import generate_flow  # noqa: E402
from lsp_session import open_session  # noqa: E402


async def measure(steps: int, edits: int) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix="flowspin-bench-flowupdate-"))
    try:
        path = work / "flow.py"
        text = generate_flow(steps)
        path.write_text(text)
        uri = path.as_uri()
        middle = next(
            i for i, line in enumerate(text.splitlines()) if f"self.value_{steps // 2} =" in line
        )
        col = text.splitlines()[middle].index("+ 1") + 2
        changed: asyncio.Queue[str] = asyncio.Queue()
        client = make_test_lsp_client()
        # This client calls a handler with the params only.
        client.feature("flowspin/flowGraphChanged")(lambda p: changed.put_nowait(p.uri))
        client, _ = await open_session(
            work, path, watch=("flowspin/flowGraphChanged",), client=client
        )
        await client.protocol.send_request_async("flowspin/flowGraph", {"uri": uri})
        times = []
        for i in range(edits):
            while not changed.empty():
                changed.get_nowait()
            started = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=i + 2),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(
                                start=types.Position(line=middle, character=col),
                                end=types.Position(line=middle, character=col + 1),
                            ),
                            text=str(i % 8 + 2),
                        )
                    ],
                )
            )
            while await asyncio.wait_for(changed.get(), 60) != uri:
                pass
            await client.protocol.send_request_async("flowspin/flowGraph", {"uri": uri})
            times.append((time.perf_counter() - started) * 1000)
        await client.shutdown_session()
        return times
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,200")
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    print("edit -> flowGraphChanged -> flowGraph answered (ms), real LSP session")
    print(f"{'steps':>6} {'median':>8} {'min':>8} {'max':>8}")
    for steps in [int(s) for s in args.sizes.split(",") if s]:
        times = asyncio.run(measure(steps, args.edits))
        print(f"{steps:>6} {statistics.median(times):8.1f} {min(times):8.1f} {max(times):8.1f}")
    print(
        "the panel then waits its 100 ms debounce and redraws (bench_flow_panel.py: about 28 ms "
        "at 20 steps, 105 ms at 200)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
