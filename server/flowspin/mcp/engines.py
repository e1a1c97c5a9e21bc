"""Adapters from MCP tool calls to flowspin's engines (analysis, spin, store, cards; runs are in
`flowspin.mcp.run_tools`).

Each function returns a JSON-ready dict sized for a model's context, or raises `ToolProblem`
saying what happened, where and what to try next. An engine missing from this build raises
`NotAvailable`, never a made-up result. Heavy imports (Metaflow, the spin service) happen inside
the functions, on first use, so the server starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowspin.mcp.errors import NotAvailable, ToolProblem
from flowspin.mcp.shaping import shape_spin
from flowspin.mcp.workspace import (
    check_artifact_name,
    check_spin_id,
    check_step_name,
    display_path,
)

MAX_DIAGNOSTICS = 50
SEVERITY_ORDER = {"error": 0, "warning": 1, "information": 2, "hint": 3}

# --- static analysis -------------------------------------------------------------------------


def static_model(path: Path) -> Any:
    try:
        from flowspin.analysis import parse_file
    except ImportError as exc:
        raise NotAvailable("static analysis", str(exc)) from exc
    return parse_file(path)


def check(workspace: Path, path: Path) -> dict[str, Any]:
    try:
        from flowspin.analysis.report import check_files
    except ImportError as exc:
        raise NotAvailable("static checking", str(exc)) from exc
    entries, errors = check_files([path])
    if errors:
        raise ToolProblem(errors[0])
    shown = display_path(workspace, path)
    diagnostics = []
    for entry in entries:
        for diag in entry["diagnostics"]:
            diagnostics.append({"flow": entry["flow"], **diag})
    diagnostics.sort(key=lambda d: (SEVERITY_ORDER.get(d["severity"], 9), d["line"]))
    n_errors = sum(1 for d in diagnostics if d["severity"] == "error")
    n_warnings = sum(1 for d in diagnostics if d["severity"] == "warning")
    flows = [e["flow"] for e in entries if e["flow"]]
    if n_errors:
        hint = (
            f"fix the {n_errors} error(s) at the lines shown ({shown}:LINE), then `check` again; "
            "Metaflow will not run this flow until they are gone."
        )
    elif not flows:
        hint = f"{shown} defines no FlowSpec subclass; pass the file that defines the flow."
    else:
        hint = (
            "the graph is valid: `run` the flow once to create a base run, then `spin` the step "
            "you are writing."
        )
    data = {
        "file": shown,
        "ok": n_errors == 0 and bool(flows),
        "flows": flows,
        "errors": n_errors,
        "warnings": n_warnings,
        "diagnostics": diagnostics[:MAX_DIAGNOSTICS],
        "next": hint,
    }
    if len(diagnostics) > MAX_DIAGNOSTICS:  # errors sort first, so none is lost to the cut
        data["diagnostics_not_shown"] = len(diagnostics) - MAX_DIAGNOSTICS
    return data


def graph(workspace: Path, path: Path) -> dict[str, Any]:
    try:
        from flowspin.analysis.report import graph_json
    except ImportError as exc:
        raise NotAvailable("the flow graph", str(exc)) from exc
    data = graph_json(static_model(path))
    data["file"] = display_path(workspace, path)
    if "syntax_error" in data:
        err = data["syntax_error"]
        raise ToolProblem(
            f"{data['file']} has a syntax error: {err['message']}",
            where=f"{data['file']}:{err['line']}:{err['column']}",
            next_step="fix the syntax error, then call `graph` again (`check` lists every "
            "problem at once).",
        )
    if not data["flows"]:
        raise ToolProblem(
            f"{data['file']} defines no FlowSpec subclass",
            next_step="pass the file that defines the flow (a class deriving from FlowSpec).",
        )
    return data


def flow_names(path: Path) -> list[str]:
    return [flow.name for flow in static_model(path).flows]


def _known_step(workspace: Path, path: Path, step: str) -> None:
    """Fail early, with the valid names, when `step` is not a step of the file's flow."""
    check_step_name(step)
    try:
        model = static_model(path)
    except NotAvailable:
        return  # the spin engine reports it instead
    steps = [name for flow in model.flows for name in flow.steps]
    if model.syntax_error is not None or not steps or step in steps:
        return
    raise ToolProblem(
        f"{display_path(workspace, path)} has no step {step!r}",
        next_step=f"use one of: {', '.join(steps)}.",
    )


# --- spin ------------------------------------------------------------------------------------


def spin(
    workspace: Path,
    path: Path,
    step: str,
    *,
    run_id: str | None = None,
    split: int | None = None,
    params: dict[str, str] | None = None,
    timeout_s: float | None = None,
    reset: bool = False,
    on_log: Callable[[str, str], None] | None = None,
    downstream: bool = False,
) -> dict[str, Any]:
    _known_step(workspace, path, step)
    options: dict[str, Any] = {
        "run": run_id,
        "split": split,
        "params": dict(params or {}),
        "timeout": timeout_s,
        "reset": reset,
    }
    from flowspin.mcp import spinclient

    if downstream:
        return _spin_downstream(workspace, path, step, options, run_id, on_log)
    result, via = spinclient.spin(path, step, options, on_log)
    _locate_load_error(path, result)
    return shape_spin(workspace, path, result, via=via, run_id=run_id)


def _spin_downstream(
    workspace: Path,
    path: Path,
    step: str,
    options: dict[str, Any],
    run_id: str | None,
    on_log: Callable[[str, str], None] | None,
) -> dict[str, Any]:
    """`downstream: true`: the step and every step below it, in order, as `flowspin spin
    --downstream --json` (`flowspin.spin.downstream`): `{status, step, results: [...]}`."""
    from flowspin.mcp import spinclient
    from flowspin.spin.downstream import spin_downstream
    from flowspin.spin.result import SpinResult

    shaped: list[dict[str, Any]] = []

    def one(name: str, opts: dict[str, Any]) -> SpinResult:
        result, via = spinclient.spin(path, name, opts, on_log)
        _locate_load_error(path, result)
        shaped.append(shape_spin(workspace, path, result, via=via, run_id=run_id))
        return SpinResult.from_dict(result)

    try:
        results = spin_downstream(one, str(path), step, options)
    except ValueError as exc:
        return {"status": "error", "step": step, "results": [], "error": str(exc)}
    ok = bool(results) and all(r.status == "ok" for r in results)
    status = "ok" if ok else (results[-1].status if results else "error")
    return {"status": status, "step": step, "results": shaped}


def _locate_load_error(path: Path, result: dict[str, Any]) -> None:
    """A flow file that does not import because of a syntax error: add the line from the parse."""
    error = result.get("error") or {}
    if error.get("type") != "FlowLoadError" or error.get("line"):
        return
    try:
        model = static_model(path)
    except NotAvailable:
        return
    if model.syntax_error is not None:
        error["file"] = str(path)
        error["line"] = model.syntax_error.span.line


# --- artifacts and cards ---------------------------------------------------------------------


def _load_spin(path: Path, step: str, spin_id: str | None) -> Any | None:
    """The step's newest (or given) persisted spin, or None when it was never spun."""
    try:
        from flowspin.store import load_spin
    except ImportError:
        return None
    from flowspin.mcp.rundata import prepare_local_datastore

    prepare_local_datastore(path)  # inherited artifacts load from the run through Metaflow
    try:
        return load_spin(path, step, spin_id)
    except LookupError:
        if spin_id is not None:
            raise ToolProblem(
                f"there is no spin {spin_id!r} of step {step!r}",
                next_step="pass a spin_id from a `spin` result, or leave it out for the "
                "latest spin.",
            ) from None
        return None


def _below(value: Any, name: str, keys: list[str] | None) -> Any:
    """The value at `keys` below the artifact (dict key, list index, attribute, column)."""
    if not keys:
        return value
    from flowspin.agents.preview import PreviewError, children, descend

    try:
        return descend(value, keys)
    except PreviewError as exc:
        at = "".join(f"[{k!r}]" for k in keys)
        listed = [c["key"] for c in children(value).get("children", [])][:20]
        raise ToolProblem(
            f"{name}{at}: {exc}",
            next_step="pass keys from the artifact's `preview` (top level: "
            f"{', '.join(listed) or 'nothing below it'}).",
        ) from None


def _shown(value: Any) -> dict[str, Any]:
    """The summary and, for tables and containers, a preview sized for a model's context."""
    from flowspin.agents.preview import agent_preview
    from flowspin.agents.summary import summarize

    out: dict[str, Any] = {"value": summarize(value)}
    try:
        preview = agent_preview(value)
    except Exception:  # a preview never fails the tool: the summary stands
        preview = None
    if preview is not None:
        out["preview"] = preview
    return out


def _check_keys(keys: Any) -> list[str] | None:
    if keys is None:
        return None
    if not isinstance(keys, list) or len(keys) > 32 or not all(
        isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys
    ):
        raise ToolProblem(
            "path must be a list of keys, e.g. [\"params\", \"lr\"] or [\"rows\", 0]",
            next_step="leave it out to see the artifact itself.",
        )
    return [str(k) for k in keys]


def show_artifact(
    workspace: Path,
    path: Path,
    step: str,
    name: str,
    *,
    spin_id: str | None = None,
    keys: list[str] | None = None,
) -> dict[str, Any]:
    _known_step(workspace, path, step)
    check_artifact_name(name)
    check_spin_id(spin_id)
    keys = _check_keys(keys)
    shown = display_path(workspace, path)
    loaded = _load_spin(path, step, spin_id)
    if loaded is not None:
        names = sorted(loaded.artifacts)
        if name not in loaded.artifacts:
            failed = f" (that spin ended with {loaded.status!r})" if loaded.status != "ok" else ""
            raise ToolProblem(
                f"spin {loaded.spin_id} of {step!r} has no artifact {name!r}{failed}",
                next_step=f"use one of: {', '.join(names) or '(none)'}; or spin the step again.",
            )
        try:
            value = loaded.artifacts[name]
        except Exception as exc:
            raise ToolProblem(
                f"artifact {name!r} of spin {loaded.spin_id} could not be loaded: "
                f"{type(exc).__name__}: {exc}",
                next_step=f"spin {step!r} again to store a fresh copy.",
            ) from exc
        info = loaded.artifacts.info(name)
        return {
            "file": shown,
            "step": step,
            "name": name,
            "source": {"kind": "spin", "spin_id": loaded.spin_id, "status": loaded.status},
            "changed_in_spin": bool(info.get("changed")),
            **({"path": keys} if keys else {}),
            **_shown(_below(value, name, keys)),
        }
    from flowspin.mcp import rundata

    task = rundata.latest_task(path, step)
    if task is None:
        raise ToolProblem(
            f"step {step!r} of {shown} was never spun and has no finished task in any run",
            next_step="call `run` to run the flow (or `spin` the step), then ask again.",
        )
    names = sorted(artifact.id for artifact in task)
    if name not in names:
        raise ToolProblem(
            f"task {task.pathspec} has no artifact {name!r}",
            next_step=f"use one of: {', '.join(n for n in names if not n.startswith('_'))}.",
        )
    return {
        "file": shown,
        "step": step,
        "name": name,
        "source": {"kind": "run", "task": task.pathspec},
        **({"path": keys} if keys else {}),
        **_shown(_below(task[name].data, name, keys)),
    }


def card(workspace: Path, path: Path, step: str) -> dict[str, Any]:
    """The step's latest card, by `flowspin card`'s rule (newest spin, else a run)."""
    from flowspin.agents.cardtext import card_text

    _known_step(workspace, path, step)
    shown = display_path(workspace, path)
    no_card = ToolProblem(
        f"step {step!r} of {shown} has no card yet",
        next_step="add @card to the step (e.g. @card(type=\"blank\") with "
        "current.card.append(Markdown(...))), then `spin` it; or `run` the flow.",
    )
    try:
        from flowspin.cards.lookup import CardLookupError, latest_cards
    except ImportError as exc:
        raise NotAvailable("cards", str(exc)) from exc
    try:
        cards = latest_cards(path, step)
    except CardLookupError:
        raise no_card from None
    source = {"kind": cards.source, "label": cards.label}
    out = []
    for entry in cards.cards:
        card_path = Path(entry["path"])
        html = card_path.read_text(encoding="utf-8", errors="replace")
        out.append(
            {
                "type": entry.get("type"),
                "id": entry.get("id"),
                "path": str(card_path),
                "text": card_text(html),
            }
        )
    return {"file": shown, "step": step, "source": source, "cards": out}


# --- diff ------------------------------------------------------------------------------------

MAX_DIFF_ARTIFACTS = 60


def diff(
    workspace: Path, path: Path, step: str, *, against: str = "run", spin_id: str | None = None
) -> dict[str, Any]:
    """`flowspin diff --json`'s object, capped: changed, added and removed artifacts first,
    at most MAX_DIFF_ARTIFACTS (the rest counted in `artifacts_left_out`)."""
    from flowspin.agents.diff import DiffError, diff_step

    _known_step(workspace, path, step)
    check_spin_id(spin_id)
    if against != "run":
        check_spin_id(against)
    try:
        data = diff_step(path, step, against=against, spin_id=spin_id)
    except DiffError as exc:
        raise ToolProblem(
            str(exc), next_step="call `spin` on the step (after `run` if the flow never ran)."
        ) from None
    order = {"changed": 0, "added": 1, "removed": 2, "same": 3}
    names = sorted(data["artifacts"], key=lambda n: (order[data["artifacts"][n]["change"]], n))
    kept = names[:MAX_DIFF_ARTIFACTS]
    data["artifacts"] = {n: data["artifacts"][n] for n in kept}
    if len(names) > len(kept):
        data["artifacts_left_out"] = len(names) - len(kept)
    data["file"] = display_path(workspace, path)
    return data
