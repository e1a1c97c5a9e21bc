"""The language server on big flows, over a real `flowspin lsp` session: completion stays
complete and exact on a 2,000-step flow, a small file is answered while a 10,000-step one is
being analysed, and an answer for a text the user has since replaced is never sent.

No timing here (budgets are measured by `benchmarks/bench_lsp.py`): what is asserted is what
the editor receives, and in which order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio
import pytest_lsp
from lsp_support import SERVER, TIMEOUT, TRAIN_FLOW, Doc, big_flow, start_session
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

COMPLETE_STEPS = 2000
HUGE_STEPS = 10_000
ANALYSIS_TIMEOUT = 120.0  # a 10,000-step flow on a loaded machine: an upper bound, not a wait


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    await start_session(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def small(client: LanguageClient, root: Path) -> Doc:
    doc = Doc(client, root / "small_flow.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    return doc


def _send(client: LanguageClient, method: str, params: object, msg_id: str | None = None):
    """Send a request now (pytest-lsp's `*_async` methods send when first awaited, which
    would let a later notification overtake them); the answer's future."""
    return asyncio.wrap_future(client.protocol.send_request(method, params, msg_id=msg_id))


def _names(steps: int) -> list[str]:
    return ["start"] + [f"step_{i:04d}" for i in range(1, steps - 1)] + ["end"]


async def _complete(client: LanguageClient, doc: Doc, position: types.Position) -> list[str]:
    result = await asyncio.wait_for(
        client.text_document_completion_async(
            types.CompletionParams(text_document=doc.ident(), position=position)
        ),
        ANALYSIS_TIMEOUT,
    )
    return [item.label for item in result.items]


async def test_completion_on_a_big_flow_is_complete(client: LanguageClient, root: Path) -> None:
    text = big_flow(COMPLETE_STEPS)
    doc = Doc(client, root / "big_complete.py", text)
    await asyncio.wait_for(doc.wait_diagnostics(lambda d: True), ANALYSIS_TIMEOUT)
    last = COMPLETE_STEPS - 1
    # Mid-name in the last step (the text parses): every artifact upstream, the Parameter
    # and the step's own, each once, sorted by name.
    read = f"= self.value_{last - 1}"
    labels = await _complete(client, doc, doc.position(read, offset=len("= self.value_")))
    expected = sorted(["alpha"] + [f"value_{i}" for i in range(COMPLETE_STEPS)])
    assert labels == expected
    # `self.next(self.` in the middle step: every step but itself and start, in source order.
    middle = COMPLETE_STEPS // 2
    call = f"self.next(self.{_names(COMPLETE_STEPS)[middle + 1]})"
    labels = await _complete(client, doc, doc.position(call, offset=len("self.next(self.")))
    names = _names(COMPLETE_STEPS)
    assert labels == [n for n in names if n not in ("start", names[middle])]
    # Typed on a new line of the last step: the text no longer parses, completion still
    # offers everything upstream (the half-typed line is read as `pass`).
    typed = text.replace(read, read + "\n        x = self.")
    doc.replace(typed)
    doc.text = typed
    labels = await _complete(client, doc, doc.position("x = self.", offset=len("x = self.")))
    assert labels == expected


async def test_a_small_file_is_answered_while_a_huge_one_is_analysed(
    client: LanguageClient, root: Path, small: Doc
) -> None:
    answered: list[str] = []
    huge = Doc(client, root / "huge.py", big_flow(HUGE_STEPS))
    # Right after the open: the huge flow's parse has begun (diagnostics), its lenses wait
    # for it, and the small file's hover is asked last.
    lenses = _send(
        client, types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensParams(text_document=huge.ident())
    )
    hover = _send(
        client,
        types.TEXT_DOCUMENT_HOVER,
        types.HoverParams(
            text_document=small.ident(), position=small.position("self.train", offset=6)
        ),
    )
    lenses.add_done_callback(lambda _: answered.append("huge lenses"))
    hover.add_done_callback(lambda _: answered.append("small hover"))
    await asyncio.wait_for(asyncio.gather(lenses, hover), ANALYSIS_TIMEOUT)
    assert answered == ["small hover", "huge lenses"]
    assert "step `train`" in hover.result().contents.value
    spins = [lens for lens in lenses.result() if lens.command.title.startswith("▶ Spin")]
    assert len(spins) == HUGE_STEPS


async def test_an_answer_for_replaced_text_is_never_sent(
    client: LanguageClient, root: Path
) -> None:
    doc = Doc(client, root / "replaced.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    # A huge text: its lenses cannot be ready before the next edit is read...
    doc.replace(big_flow(HUGE_STEPS))
    lenses = _send(
        client, types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensParams(text_document=doc.ident())
    )
    # ...which replaces it by the small flow again: the huge text's lenses are dropped.
    doc.replace(TRAIN_FLOW)
    try:
        result = await asyncio.wait_for(lenses, ANALYSIS_TIMEOUT)
    except JsonRpcException as exc:
        assert exc.code == types.LSPErrorCodes.ContentModified
    else:  # the request was read after the edit: then it is answered for the new text
        assert [
            lens.command.arguments[0]["step"] for lens in result if "Spin" in lens.command.title
        ] == [
            "start",
            "train",
            "join",
            "end",
        ]
    # The small flow is what the server checks in the end (no findings).
    assert await asyncio.wait_for(doc.wait_diagnostics(lambda d: d == []), TIMEOUT) == []


async def test_a_cancelled_request_is_dropped(client: LanguageClient, root: Path) -> None:
    doc = Doc(client, root / "cancelled.py", TRAIN_FLOW)
    await doc.wait_diagnostics(lambda d: True)
    doc.replace(big_flow(HUGE_STEPS))  # its lenses wait for the huge text's parse
    lenses = _send(
        client,
        types.TEXT_DOCUMENT_CODE_LENS,
        types.CodeLensParams(text_document=doc.ident()),
        msg_id="lenses-to-cancel",
    )
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="lenses-to-cancel"))
    with pytest.raises(JsonRpcException) as raised:
        await asyncio.wait_for(lenses, ANALYSIS_TIMEOUT)
    assert raised.value.code == types.LSPErrorCodes.RequestCancelled
    # The server goes on: the file's next request is answered, for the text as it is.
    found = await asyncio.wait_for(
        client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc.ident())
        ),
        ANALYSIS_TIMEOUT,
    )
    assert len(found[0].children) == HUGE_STEPS
