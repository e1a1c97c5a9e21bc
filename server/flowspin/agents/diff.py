"""What a spin changed: the latest spin of a step against its base run's task of the same
step (or against another spin), artifact by artifact. Shared by `flowspin diff` and the MCP
`diff` tool, so both give the same JSON:

    {"step", "before": {source}, "after": {source},
     "artifacts": {name: {"change": "changed"|"added"|"removed"|"same",
                          "before": summary, "after": summary, "detail": ...}}}

Summaries come from `flowspin.agents.values` (a spin record's stored type/repr/size, a run
task's recorded type and size). Values are loaded only when both sides are stored under
`LOAD_CAP` bytes: then equality decides "same", and the detail is a number's delta, a
DataFrame's schema changes, row-count delta and a sample of changed cells, or a unified diff
of text and JSON-able values. Bigger values are compared by type and repr, and say so.
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any

from flowspin.agents.values import (
    LOAD_CAP,
    Source,
    StepValues,
    from_value,
    load_value,
    run_values,
    spin_values,
)

DIFF_LINES = 40  # lines of a unified diff kept
CELLS = 10  # changed DataFrame cells sampled


class DiffError(LookupError):
    """Nothing to compare (no spin, no base run task); the message says what to do."""


def flow_name_of(flow_file: Path, step: str) -> str:
    from flowspin.analysis import parse_file

    flows = parse_file(flow_file).flows
    for flow in flows:
        if step in flow.steps:
            return flow.name
    if not flows:
        raise DiffError(f"{flow_file} defines no FlowSpec class")
    raise DiffError(f"{flow_file.name} has no step {step!r}; steps: {', '.join(flows[0].steps)}")


def diff_step(
    flow_file: Path, step: str, against: str = "run", spin_id: str | None = None
) -> dict[str, Any]:
    """The diff of `step`'s latest spin (or `spin_id`) against its base run's task of the
    step (`against="run"`) or against the spin `against`."""
    flow_file = Path(flow_file).resolve()
    flow_name = flow_name_of(flow_file, step)
    after = spin_values(flow_file, step, spin_id)
    if after is None:
        raise DiffError(
            f"no successful spin of step {step!r} of {flow_file.name} to compare: "
            f"spin it first (`flowspin spin {flow_file.name} {step}`)"
        )
    if against == "run":
        run_id = after.source.run_id
        if not run_id:
            raise DiffError(f"spin {after.source.spin_id} has no base run; pass --against SPIN_ID")
        before = run_values(flow_file, flow_name, step, run_id=str(run_id), load=False)
        if before is None:
            # The step is new (or failed) in the base run: everything the spin has is added.
            before = StepValues(Source("run", step, run_id=str(run_id)), {})
    else:
        before = spin_values(flow_file, step, against)
        if before is None:
            raise DiffError(f"no spin {against!r} of step {step!r} of {flow_file.name}")
    artifacts: dict[str, Any] = {}
    for name in sorted(set(before.values) | set(after.values)):
        artifacts[name] = _compare(flow_file, name, before, after)
    return {
        "step": step,
        "flow": flow_name,
        "before": before.source.as_dict(),
        "after": after.source.as_dict(),
        "artifacts": artifacts,
    }


# --- one artifact ----------------------------------------------------------------------------


def _compare(flow_file: Path, name: str, before: StepValues, after: StepValues) -> dict[str, Any]:
    b, a = before.values.get(name), after.values.get(name)
    if b is None:
        return {"change": "added", "before": None, "after": _full(flow_file, name, after)}
    if a is None:
        return {"change": "removed", "before": _full(flow_file, name, before), "after": None}
    entry: dict[str, Any] = {"before": dict(b), "after": dict(a)}
    loaded = _load_pair(flow_file, name, before, after)
    if loaded is None:
        if b.get("repr") is not None and a.get("repr") is not None:
            same = b.get("type") == a.get("type") and b.get("repr") == a.get("repr")
            how = "type and repr (a value over the load cap)"
        else:  # a run's big value has no repr: the spin's own flag says if the step changed it
            same = b.get("type") == a.get("type") and a.get("changed") is False
            how = "type, and whether the spin changed it (a value over the load cap)"
        entry["change"] = "same" if same else "changed"
        entry["detail"] = {"compared": how}
        return entry
    old, new = loaded
    entry["before"] = {**from_value(old, b.get("size")), **_keep(b)}
    entry["after"] = {**from_value(new, a.get("size")), **_keep(a)}
    if _equal(old, new):
        entry["change"] = "same"
        return entry
    entry["change"] = "changed"
    detail = _detail(old, new)
    if detail:
        entry["detail"] = detail
    return entry


def _full(flow_file: Path, name: str, side: StepValues) -> dict[str, Any]:
    """A run's summary with the value's repr, shape or length when it loads under the cap (a
    spin's record has its repr already)."""
    summary = side.values[name]
    if side.source.kind != "run" or "repr" in summary:
        return summary
    try:
        return from_value(_load(flow_file, name, side), summary.get("size"))
    except Exception:
        return summary


def _keep(summary: dict[str, Any]) -> dict[str, Any]:
    return {"changed": summary["changed"]} if "changed" in summary else {}


def _load_pair(
    flow_file: Path, name: str, before: StepValues, after: StepValues
) -> tuple[Any, Any] | None:
    """Both values, when both are stored under the cap and load; else None."""
    try:
        return _load(flow_file, name, before), _load(flow_file, name, after)
    except Exception:
        return None


def _load(flow_file: Path, name: str, side: StepValues) -> Any:
    source = side.source
    size = side.values[name].get("size") or 0
    if size > LOAD_CAP:
        raise LookupError(f"{name} is over the load cap")
    if source.kind == "run":
        return load_value(flow_file, str(source.pathspec), name)
    from flowspin.store import load_spin

    return load_spin(flow_file, source.step, source.spin_id).artifacts[name]


def _equal(old: Any, new: Any) -> bool:
    if type(old) is not type(new):
        return False
    equals = getattr(old, "equals", None)  # pandas
    if callable(equals) and type(old).__module__.startswith("pandas"):
        try:
            return bool(equals(new))
        except Exception:
            return False
    if type(old).__module__ == "numpy":
        try:
            import numpy

            return bool(numpy.array_equal(old, new))
        except Exception:
            return False
    try:
        return bool(old == new)
    except Exception:
        return repr(old) == repr(new)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _detail(old: Any, new: Any) -> dict[str, Any] | None:
    if _is_number(old) and _is_number(new):
        delta = new - old
        out: dict[str, Any] = {"delta": delta}
        if old and math.isfinite(old) and math.isfinite(new):
            out["relative"] = round(delta / abs(old), 6)
        return out
    if _is_frame(old) and _is_frame(new):
        return _frame_detail(old, new)
    text_old, text_new = _as_text(old), _as_text(new)
    if text_old is not None and text_new is not None:
        lines = list(
            difflib.unified_diff(
                text_old.splitlines(), text_new.splitlines(), "before", "after", lineterm=""
            )
        )
        cut = len(lines) - DIFF_LINES
        out = {"unified_diff": "\n".join(lines[:DIFF_LINES])}
        if cut > 0:
            out["diff_lines_left_out"] = cut
        return out
    return None


def _as_text(value: Any) -> str | None:
    """Text to diff: a string as it is, a JSON-able value pretty-printed; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict, tuple, int, float, bool)) or value is None:
        try:
            return json.dumps(value, indent=1, sort_keys=True)
        except (TypeError, ValueError):
            return None
    return None


def _is_frame(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")


def _frame_detail(old: Any, new: Any) -> dict[str, Any]:
    old_types = {str(c): str(t) for c, t in old.dtypes.items()}
    new_types = {str(c): str(t) for c, t in new.dtypes.items()}
    detail: dict[str, Any] = {
        "rows": {"before": len(old), "after": len(new), "delta": len(new) - len(old)},
        "columns_added": [c for c in new_types if c not in old_types],
        "columns_removed": [c for c in old_types if c not in new_types],
        "dtypes_changed": {
            c: [old_types[c], new_types[c]]
            for c in old_types
            if c in new_types and old_types[c] != new_types[c]
        },
    }
    common = [c for c in old.columns if c in new.columns]
    rows = min(len(old), len(new))
    cells: list[dict[str, Any]] = []
    try:
        left = old[common].iloc[:rows].reset_index(drop=True)
        right = new[common].iloc[:rows].reset_index(drop=True)
        differs = (left != right) & ~(left.isna() & right.isna())
        for row, col in zip(*differs.to_numpy().nonzero(), strict=True):
            if len(cells) >= CELLS:
                break
            column = common[col]
            cells.append(
                {
                    "row": int(row),
                    "column": str(column),
                    "before": _cell(left.iat[row, col]),
                    "after": _cell(right.iat[row, col]),
                }
            )
        detail["changed_cells"] = int(differs.to_numpy().sum())
    except Exception as exc:  # incomparable columns: the schema and row counts still help
        detail["cells_error"] = f"{type(exc).__name__}: {exc}"
    detail["cells_sample"] = cells
    return detail


def _cell(value: Any) -> str:
    """A cell's repr as Python shows the value (`2`, not `np.int64(2)`)."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()
        except Exception:
            pass
    return repr(value)[:80]


# --- text ------------------------------------------------------------------------------------

MARKS = {"changed": "~", "added": "+", "removed": "-", "same": " "}


def human_lines(diff: dict[str, Any]) -> list[str]:
    """One line per artifact with a change mark (`~` changed, `+` added, `-` removed)."""
    from flowspin.agents.values import one_line

    def label(source: dict[str, Any]) -> str:
        if source.get("kind") == "spin":
            return f"spin {source.get('spin_id')}"
        task = f"/{source['task_id']}" if source.get("task_id") else " (no task of the step)"
        return f"run {source.get('run_id')}{task}"

    out = [f"{diff['step']}: {label(diff['before'])} -> {label(diff['after'])}"]
    for name, entry in diff["artifacts"].items():
        change = entry["change"]
        before = one_line(entry["before"], 50) if entry.get("before") else ""
        after = one_line(entry["after"], 50) if entry.get("after") else ""
        if change == "added":
            text = after
        elif change == "removed":
            text = before
        elif change == "same":
            text = after
        else:
            text = f"{before} -> {after}"
            delta = (entry.get("detail") or {}).get("delta")
            if delta is not None:
                text += f" ({'+' if delta >= 0 else ''}{delta:g})"
        out.append(f" {MARKS[change]} {name:<20} {text}")
    return out
