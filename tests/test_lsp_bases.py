"""Flows built on a base flow from another file of the project, in a real `flowspin lsp`
session: the base's steps are part of the flow's graph, a finding in the base shows on the
flow's class with a link into the base, go-to-definition opens the base's file, and an
unsaved edit to the base re-checks the open flow that uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsp_support import SERVER, Doc, source, start_session
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE = source(
    """
    from metaflow import FlowSpec, step


    class BaseFlow(FlowSpec):
        @step
        def start(self):
            self.rows = [1, 2, 3]
            self.next(self.train)

        @step
        def end(self):
            print(self.model)
    """
)

FLOW = source(
    """
    from base import BaseFlow
    from metaflow import step


    class TrainFlow(BaseFlow):
        @step
        def train(self):
            self.model = sum(self.rows)
            self.next(self.end)


    if __name__ == "__main__":
        TrainFlow()
    """
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, root: Path):
    await start_session(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


async def test_an_edit_to_the_base_rechecks_the_flow(client: LanguageClient, root: Path) -> None:
    base = Doc(client, root / "base.py", BASE)
    # Alone (no subclass anywhere yet) it is a flow being written, going to a missing step.
    alone = await base.wait_diagnostics(lambda d: len(d) > 0)
    assert "unknown-transition" in {d.code for d in alone}
    flow = Doc(client, root / "flow.py", FLOW)
    assert await flow.wait_diagnostics(lambda d: d == []) == []
    # Now a subclass in another file completes it: the base is checked with it, not alone.
    assert await base.wait_diagnostics(lambda d: d == []) == []

    # Unsaved typo in the base's transition: the flow (another tab) is checked again.
    base.replace(BASE.replace("self.next(self.train)", "self.next(self.trian)"))
    found = await flow.wait_diagnostics(lambda d: len(d) > 0)
    assert [d.code for d in found] == ["unknown-transition"]
    (typo,) = found
    assert typo.range.start.line == flow.line_of("class TrainFlow")
    assert "base.py line" in typo.message
    assert typo.related_information
    here = typo.related_information[0].location
    assert here.uri == base.uri
    assert here.range.start == base.position("self.trian")

    base.replace(BASE)
    assert await flow.wait_diagnostics(lambda d: d == []) == []
    base.close()
    flow.close()


async def test_go_to_definition_opens_the_base_file(client: LanguageClient, root: Path) -> None:
    (root / "base.py").write_text(BASE)
    flow = Doc(client, root / "defs.py", FLOW)
    await flow.wait_diagnostics(lambda d: d == [])
    found = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=flow.ident(), position=flow.position("self.end", offset=6)
        )
    )
    assert found is not None
    (location,) = found if isinstance(found, list) else [found]
    assert location.uri == (root / "base.py").as_uri()
    assert location.range.start.line == BASE.splitlines().index("    def end(self):")
    flow.close()


async def test_hover_names_the_base_file_of_an_upstream_writer(
    client: LanguageClient, root: Path
) -> None:
    (root / "base.py").write_text(BASE)
    flow = Doc(client, root / "hover.py", FLOW)
    await flow.wait_diagnostics(lambda d: d == [])
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=flow.ident(), position=flow.position("self.rows", offset=6))
    )
    assert hover is not None
    text = hover.contents.value if hasattr(hover.contents, "value") else str(hover.contents)
    assert "written upstream by `start` (base.py line 7)" in text
    flow.close()


async def test_completion_offers_the_base_steps_and_artifacts(
    client: LanguageClient, root: Path
) -> None:
    (root / "base.py").write_text(BASE)
    flow = Doc(client, root / "complete.py", FLOW)
    await flow.wait_diagnostics(lambda d: d == [])
    typed = FLOW.replace("self.model = sum(self.rows)", "print(self.")
    flow.replace(typed)
    flow.text = typed

    async def labels(needle: str) -> list[str]:
        result = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=flow.ident(), position=flow.position(needle, offset=len(needle))
            )
        )
        assert result is not None
        items = result.items if hasattr(result, "items") else result
        return sorted(item.label for item in items)

    assert "rows" in await labels("print(self.")  # written by the base's start
    flow.close()
