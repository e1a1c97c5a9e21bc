"""The Artifacts view's requests: a step's artifacts, one level below an artifact, and a page
of a table-like artifact. The answers come from `flowspin.agents.preview` (values read with
the safe unpickler, size-capped, the last few kept for paging); they run on the file's worker
thread, never the event loop, and a value never travels whole to the client.

- `flowspin/artifacts {uri, step? | line?, source?}` -> `{ok, message?, flow, step, source,
  label, artifacts: [{name, type, shape, len, size, size_text, badge, summary, expandable,
  table}]}`
- `flowspin/artifactChildren {uri, step, source?, path: [name, key...]}` -> `{ok, children:
  [{key, label, type, summary, expandable, table}], total, more}`
- `flowspin/artifactPage {uri, step, source?, path, offset?, limit?, sort?: {column,
  descending}}` -> `{ok, kind: "table", columns: [{name, dtype, numeric}], index, rows, total,
  offset, limit, sort}` or `{ok, kind: "text", text}`

`source` is "spin" (the step's latest successful spin; the default), "run" (that spin's base
run, else the latest run) or "run:<run id>".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowspin import protocol
from flowspin.lsp.documents import DocSnapshot, looks_like_flow

if TYPE_CHECKING:
    from flowspin.lsp.server import FlowspinServer

log = logging.getLogger(__name__)

ARTIFACTS = protocol.ARTIFACTS
CHILDREN = protocol.ARTIFACT_CHILDREN
PAGE = protocol.ARTIFACT_PAGE


def _get(params: Any, name: str) -> Any:
    if isinstance(params, dict):
        return params.get(name)
    return getattr(params, name, None)


def _source(params: Any) -> str:
    source = _get(params, "source")
    if source == "run" or (isinstance(source, str) and source.startswith("run:")):
        return source[:80]
    return "spin"


def _path(params: Any) -> list[str] | None:
    path = _get(params, "path")
    if not isinstance(path, list) or not path or len(path) > 64:
        return None
    if not all(isinstance(p, (str, int)) for p in path):
        return None
    return [str(p) for p in path]


def _target(ls: FlowspinServer, doc: DocSnapshot, params: Any, check: Callable[[], None]) -> Any:
    """(flow file, flow name, step) or an error answer."""
    if not doc.path or not looks_like_flow(doc.source):
        return {"ok": False, "message": "not a flow file"}
    view = ls.state.models.view(doc, check=check)
    if view is None or not view.model.flows:
        return {"ok": False, "message": "no flow in this file"}
    step, line = _get(params, "step"), _get(params, "line")
    if isinstance(step, str):
        for flow in view.model.flows:
            if step in flow.steps:
                return Path(doc.path).resolve(), flow.name, step
        return {"ok": False, "message": f"no step {step!r} in this file"}
    if isinstance(line, int):
        located = view.index.step_at(line + 1)
        if located is not None:
            return Path(doc.path).resolve(), located[0].name, located[1].name
        return {"ok": False, "message": "the cursor is not in a step"}
    return {"ok": False, "message": "which step? pass a step or a line"}


def _answer(
    ls: FlowspinServer, params: Any, work: Callable[[Path, str, str], dict[str, Any]]
) -> Callable[[DocSnapshot, Callable[[], None]], dict[str, Any]]:
    def feature(doc: DocSnapshot, check: Callable[[], None]) -> dict[str, Any]:
        from flowspin.agents.preview import PreviewError

        target = _target(ls, doc, params, check)
        if isinstance(target, dict):
            return target
        flow_file, flow_name, step = target
        try:
            answer = work(flow_file, flow_name, step)
        except PreviewError as exc:
            return {"ok": False, "message": str(exc), "flow": flow_name, "step": step}
        except Exception as exc:  # a store or datastore that cannot be read: say so
            log.info("artifact preview of %s failed", step, exc_info=True)
            return {"ok": False, "message": f"{type(exc).__name__}: {exc}", "step": step}
        return {"ok": True, "flow": flow_name, "step": step, **answer}

    return feature


def list_answer(flow_file: Path, flow_name: str, step: str, source: str) -> dict[str, Any]:
    from flowspin.agents.preview import list_artifacts

    return list_artifacts(flow_file, flow_name, step, source)


def children_answer(
    flow_file: Path, flow_name: str, step: str, source: str, path: list[str]
) -> dict[str, Any]:
    from flowspin.agents.preview import children, descend, read_value

    value = read_value(flow_file, flow_name, step, source, path[0])
    return children(descend(value, path[1:]))


def page_answer(
    flow_file: Path,
    flow_name: str,
    step: str,
    source: str,
    path: list[str],
    offset: int,
    limit: int,
    sort: dict[str, Any] | None,
) -> dict[str, Any]:
    from flowspin.agents.preview import descend, page, read_value

    value = read_value(flow_file, flow_name, step, source, path[0])
    inner = descend(value, path[1:])
    # A column of a frame pages as its own table, its order kept with the artifact.
    return page(inner, offset, limit, sort)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def register(server: FlowspinServer) -> None:
    @server.feature(ARTIFACTS)
    async def on_artifacts(ls: FlowspinServer, params: Any) -> dict[str, Any]:
        uri = _get(params, "uri")
        if not isinstance(uri, str):
            return {"ok": False, "message": 'expected {"uri": ..., "step" or "line"}'}
        source = _source(params)
        work = lambda f, n, s: list_answer(f, n, s, source)  # noqa: E731
        return await ls.work.request(uri, _answer(ls, params, work), drop_stale=False)

    @server.feature(CHILDREN)
    async def on_children(ls: FlowspinServer, params: Any) -> dict[str, Any]:
        uri, path = _get(params, "uri"), _path(params)
        if not isinstance(uri, str) or path is None:
            return {"ok": False, "message": 'expected {"uri", "step", "path": [name, ...]}'}
        source = _source(params)
        work = lambda f, n, s: children_answer(f, n, s, source, path)  # noqa: E731
        return await ls.work.request(uri, _answer(ls, params, work), drop_stale=False)

    @server.feature(PAGE)
    async def on_page(ls: FlowspinServer, params: Any) -> dict[str, Any]:
        uri, path = _get(params, "uri"), _path(params)
        if not isinstance(uri, str) or path is None:
            return {"ok": False, "message": 'expected {"uri", "step", "path": [name, ...]}'}
        source = _source(params)
        offset = _int(_get(params, "offset"), 0)
        limit = _int(_get(params, "limit"), 100)
        sort = _get(params, "sort")
        if hasattr(sort, "_asdict"):  # pygls hands nested JSON objects over as namedtuples
            sort = sort._asdict()
        sort = sort if isinstance(sort, dict) else None

        def work(f: Path, n: str, s: str) -> dict[str, Any]:
            return page_answer(f, n, s, source, path, offset, limit, sort)

        return await ls.work.request(uri, _answer(ls, params, work), drop_stale=False)
