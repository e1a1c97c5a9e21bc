"""What code a spin's output was made from (`code` in its result and record), the notice when
it chained on a stale parent, and Spin Downstream: a step and everything below it, re-spun
in order, each on the output of the one above.

`code` is `flowspin.analysis.staleness.produced_by` for the spun step: its own code identity
(from the static parse of the saved file the child ran) merged with its parents' — a parent
spin's recorded `code`, or for a parent task of the base run the identities the caller says
that run ran (`SpinOptions.code_base`, which the editor knows: the text each run started
from), else the saved file's current ones (a run is taken to match the file as saved). It is
what tells the editor, and later spins, which outputs are stale.

Spin Downstream (`spin_downstream`): the start step and every step below it in topological
order (`staleness.downstream`); a foreach body is spun over all its splits and the join
after it takes them (chaining picks each split's newest spin); the chain stops at the first
step that does not end `ok` (its result, with its error, is the last one returned).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flowspin.analysis.staleness import (
    PARAMETERS,
    downstream,
    produced_by,
    run_code,
    stale_reason,
    step_codes,
    with_overrides,
)

_CACHE: dict[str, tuple[tuple[float, int], Any, dict[str, dict[str, str]]]] = {}
_LOCK = threading.Lock()


def current_codes(flow_file: str) -> tuple[Any, dict[str, dict[str, str]]]:
    """(model, {flow name: step codes}) of the saved file, cached while it is unchanged."""
    from flowspin.analysis import parse_source

    st = os.stat(flow_file)
    stamp = (st.st_mtime, st.st_size)
    with _LOCK:
        hit = _CACHE.get(flow_file)
    if hit is not None and hit[0] == stamp:
        return hit[1], hit[2]
    with open(flow_file, encoding="utf-8", errors="replace") as fh:
        source = fh.read()
    model = parse_source(source, flow_file)
    codes = (
        {}
        if model.syntax_error is not None
        else {f.name: step_codes(f, model, source) for f in model.flows}
    )
    with _LOCK:
        _CACHE[flow_file] = (stamp, model, codes)
    return model, codes


def spin_code(
    flow_file: str,
    flow_name: str,
    step: str,
    parents: list[Any],
    params: Mapping[str, str] | None,
    code_base: Mapping[str, str] | None,
    store: Any,
) -> tuple[dict[str, str], list[str]]:
    """(`code` of a spin of `step` whose parents are `parents` (`plan.ParentSpec`), notices
    about stale parents). Empty when the file does not parse (the spin reports that)."""
    model, all_codes = current_codes(flow_file)
    codes = all_codes.get(flow_name)
    if codes is None or step not in codes:
        return {}, []
    flow = next(f for f in model.flows if f.name == flow_name)
    base_codes = dict(code_base) if code_base else codes
    inputs: list[Mapping[str, str]] = []
    notices: list[str] = []
    for spec in parents:
        if spec.step not in codes:
            continue  # `_parameters`, a missing split
        made: Mapping[str, str] | None = None
        if spec.source == "spin":
            try:
                record = store.read_record(flow_file, spec.step, spec.ident)
                made = (record.get("result") or {}).get("code")
            except (LookupError, OSError):
                made = None
            reason = stale_reason(flow, spec.step, made, codes) if made else None
            if reason:
                notices.append(
                    f"chained on spin {spec.ident} of '{spec.step}', which is stale ({reason}): "
                    f"spin '{spec.step}' again, or Spin Downstream from it"
                )
        if not made:
            made = run_code(flow, base_codes, spec.step)
            reason = stale_reason(flow, spec.step, made, codes) if code_base else None
            if reason:
                notices.append(
                    f"'{spec.step}' of the base run is stale ({reason}): spin it first, or "
                    "Spin Downstream from it"
                )
        inputs.append(made)
    params_code = None
    if params:
        params_code = with_overrides(codes[PARAMETERS], params)
    elif not inputs:
        params_code = base_codes.get(PARAMETERS, codes[PARAMETERS])
    return produced_by(step, codes[step], inputs, params_code), list(dict.fromkeys(notices))


def downstream_steps(flow_file: str, step: str) -> tuple[str, list[tuple[str, bool]]]:
    """(flow name, [(step, is a foreach body)]) to spin for Spin Downstream from `step`, in
    order. Raises ValueError when the file does not parse or has no such step."""
    model, _ = current_codes(flow_file)
    if model.syntax_error is not None:
        err = model.syntax_error
        raise ValueError(f"{flow_file}:{err.span.line}: syntax error: {err.message}")
    flow = next((f for f in model.flows if step in f.steps), None)
    if flow is None:
        raise ValueError(f"no step {step!r} in {flow_file}")
    bodies = {
        child
        for s in flow.steps.values()
        if s.node_type in ("foreach", "parallel_foreach")
        for child in s.out_steps
    }
    return flow.name, [(s, s in bodies) for s in downstream(flow, step)]


def spin_downstream(
    spin: Callable[[str, dict[str, Any]], Any],
    flow_file: str,
    step: str,
    options: Mapping[str, Any] | None = None,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    on_result: Callable[[Any], None] | None = None,
) -> list[Any]:
    """Spin `step` and every step below it in order with `spin(step, options)` (a
    `SpinService.spin` bound to the file); the results, stopping after the first that is not
    ok, or before the next step once `cancelled()`."""
    _, order = downstream_steps(flow_file, step)
    results = []
    for name, body in order:
        if cancelled():
            break
        opts = dict(options or {})
        if body and opts.get("split") is None:
            opts["all_splits"] = True
        if name != step:
            opts.pop("split", None)
            opts.pop("task", None)
        result = spin(name, opts)
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.status != "ok":
            break
    return results
