"""Which steps' latest outputs were made by code that has changed since: "stale" steps.

**A step's code identity** (`step_codes`) is a short hash of the step's own source, read from
the static parse (never imported): the lines from its first decorator through the end of its
body, each stripped of trailing blanks, blank lines dropped (so re-indenting a blank line or
saving with other line endings changes nothing), plus the text of every workspace helper
module the flow file imports whose imported name the step's source mentions (`from helpers
import clean` and a step calling `clean(...)`: editing helpers.py changes that step).
Parameters are one more entry, `PARAMETERS`: a hash of the Parameter and Config definitions,
with `:<hash>` of the overrides appended when a spin was given some (`--param`).

**What an output was made from** (`produced_by`): a mapping from step name to code identity
for the step itself and every step upstream of it whose output fed it (and `PARAMETERS`). A
spin merges its parents' mappings (the parent spin it chained from, or the base run's code)
and adds its own step's identity; spin results carry it as `code`. Comparing it with the
identities of the current text (`stale_reason`) says whether the output is stale and why:
the step itself changed ("edited"), Parameters did ("parameters changed"), or the nearest
step upstream whose code differs ("upstream 'clean' changed"). A step spun on a stale parent
stays stale: its mapping holds the parent's old identities.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence

from flowspin.analysis.model import Flow, FlowModel, Step
from flowspin.analysis.modules import read_disk, search_dirs

PARAMETERS = "(parameters)"

Reader = Callable[[str], "str | None"]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _normal(lines: Sequence[str]) -> str:
    return "\n".join(line.rstrip() for line in lines if line.strip())


def _import_lines(source: str) -> str:
    """The file's top-level import statements only (a parenthesised one whole): parsing these
    instead of the file keeps a 10,000-step flow's identities cheap."""
    out: list[str] = []
    unclosed, continued = 0, False
    for line in source.splitlines():
        if unclosed > 0 or continued or line.startswith(("import ", "from ")):
            out.append(line)
            unclosed += line.count("(") - line.count(")")
            continued = line.rstrip().endswith("\\")
    return "\n".join(out)


def _imports(source: str, path: str) -> dict[str, str]:
    """Names bound by the file's top-level imports of workspace modules -> module file."""
    try:
        tree = ast.parse(_import_lines(source))
    except (SyntaxError, ValueError):
        return {}
    here = os.path.dirname(os.path.abspath(path))
    dirs = search_dirs(path)
    found: dict[str, str] = {}

    def locate(module: str, level: int) -> str | None:
        parts = module.split(".") if module else []
        roots = [here] if level else dirs
        for root in roots:
            for _ in range(max(level - 1, 0)):
                root = os.path.dirname(root)
            base = os.path.join(root, *parts) if parts else root
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                if parts and os.path.isfile(candidate):
                    return candidate
        return None

    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                file = locate(alias.name, 0)
                if file:
                    found[alias.asname or alias.name.split(".")[0]] = file
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                # `from pkg import mod` names a module file; else a name inside `module`.
                file = locate(f"{module}.{alias.name}" if module else alias.name, node.level)
                file = file or locate(module, node.level)
                if file:
                    found[alias.asname or alias.name] = file
    return found


def helper_files(source: str, path: str) -> set[str]:
    """The workspace modules the file imports (real paths): an edit of one may make steps of
    the file stale."""
    return {os.path.realpath(file) for file in _imports(source, path).values()}


def _step_text(step: Step, lines: Sequence[str], read: Reader) -> list[str]:
    if step.file:
        text = read(step.file)
        lines = text.splitlines() if text is not None else []
    first = step.first_line or step.span.line
    return list(lines[first - 1 : step.span.end_line])


def step_codes(
    flow: Flow, model: FlowModel, source: str, read: Reader | None = None
) -> dict[str, str]:
    """Code identity of every step of `flow` (and `PARAMETERS`), from the file's text."""
    read = read or read_disk
    lines = source.splitlines()
    helpers = _imports(source, model.path) if model.path else {}
    helper_hash: dict[str, str] = {}
    codes: dict[str, str] = {}
    for name, step in flow.steps.items():
        text = _step_text(step, lines, read)
        parts = [_normal(text)]
        body = "\n".join(text)
        for bound, file in sorted(helpers.items()):
            if re.search(rf"\b{re.escape(bound)}\b", body):
                if file not in helper_hash:
                    helper_hash[file] = _digest(read(file) or "")
                parts.append(f"{bound}={helper_hash[file]}")
        codes[name] = _digest("\n\0".join(parts))
    params = []
    for p in flow.parameters:
        if p.file:
            ptext = read(p.file)
            plines = ptext.splitlines() if ptext is not None else []
        else:
            plines = lines
        params.append(_normal(plines[p.span.line - 1 : p.span.end_line]))
    codes[PARAMETERS] = _digest("\n".join(params))
    return codes


def with_overrides(params_code: str, overrides: Mapping[str, str] | None) -> str:
    """The `PARAMETERS` identity of a spin given Parameter overrides (`--param`)."""
    if not overrides:
        return params_code
    return f"{params_code}:{_digest(repr(sorted(overrides.items())))}"


def parents_of(flow: Flow) -> dict[str, list[str]]:
    """Each step's parents, from the static edges (a step's own loop edge left out)."""
    parents: dict[str, list[str]] = {name: [] for name in flow.steps}
    for name, step in flow.steps.items():
        for child in dict.fromkeys(step.out_steps):
            if child in parents and child != name and name not in parents[child]:
                parents[child].append(name)
    return parents


def upstream(flow: Flow, step: str, parents: dict[str, list[str]] | None = None) -> list[str]:
    """Steps upstream of `step`, nearest first (breadth-first up the edges)."""
    parents = parents if parents is not None else parents_of(flow)
    order: list[str] = []
    seen = {step}
    todo = list(parents.get(step, []))
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        order.append(name)
        todo.extend(parents.get(name, []))
    return order


def downstream(flow: Flow, step: str) -> list[str]:
    """`step` and every step below it, in topological order (parents before children; the
    back edge of a recursive switch does not count)."""
    below = {step}
    todo = [step]
    while todo:
        for child in flow.steps[todo.pop()].out_steps:
            if child in flow.steps and child not in below:
                below.add(child)
                todo.append(child)
    parents = parents_of(flow)
    # Kahn over the steps below; a loop (a recursive switch) is broken in source order.
    waiting = {s: {p for p in parents[s] if p in below and p != step} for s in below}
    order = [step]
    pending = [s for s in flow.steps if s in below and s != step]  # source order breaks ties
    while pending:
        ready = next((s for s in pending if not waiting[s]), pending[0])
        order.append(ready)
        pending.remove(ready)
        for s in pending:
            waiting[s].discard(ready)
    return order


def run_code(flow: Flow, codes: Mapping[str, str], step: str) -> dict[str, str]:
    """What a run's task of `step` was made from, when the run ran `codes`."""
    made = {name: codes[name] for name in [step, *upstream(flow, step)] if name in codes}
    if PARAMETERS in codes:
        made[PARAMETERS] = codes[PARAMETERS]
    return made


def produced_by(
    step: str,
    own: str,
    inputs: Sequence[Mapping[str, str]],
    params: str | None = None,
) -> dict[str, str]:
    """What a spin of `step` made its output from: its parents' mappings (`inputs`: one per
    parent output it read), its own identity, and `params` when the spin set Parameters."""
    made: dict[str, str] = {}
    for parent in inputs:
        made.update(parent)
    made[step] = own
    if params is not None:
        made[PARAMETERS] = params
    return made


def stale_reason(
    flow: Flow,
    step: str,
    made: Mapping[str, str] | None,
    codes: Mapping[str, str],
    parents: dict[str, list[str]] | None = None,
) -> str | None:
    """Why the output `made` (see `produced_by`) of `step` is stale against `codes`, or
    None when it is current (or there is no output: nothing to be stale)."""
    if not made:
        return None
    if made.get(step) != codes.get(step):
        return "edited"
    params = made.get(PARAMETERS)
    if params is not None and params.split(":")[0] != codes.get(PARAMETERS):
        return "parameters changed"
    for name in upstream(flow, step, parents):
        if made.get(name) != codes.get(name):
            return f"upstream '{name}' changed"
    return None


def expected_codes(
    codes: Mapping[str, str], start_made: Mapping[str, str] | None
) -> dict[str, str]:
    """`codes` with the `PARAMETERS` entry the start step's latest output was made with, when
    that output used the current definitions (overrides included): a spin with `--param`
    sets the Parameters every step below should have seen."""
    expected = dict(codes)
    made = (start_made or {}).get(PARAMETERS)
    if made is not None and made.split(":")[0] == codes.get(PARAMETERS):
        expected[PARAMETERS] = made
    return expected


def _order(flow: Flow, parents: dict[str, list[str]]) -> list[str]:
    """Every step, parents first (Kahn; a loop, a recursive switch, broken in source order)."""
    names = list(flow.steps)
    indegree = {name: len(set(parents[name]) - {name}) for name in names}
    children: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for parent in set(parents[name]) - {name}:
            children[parent].append(name)
    ready = [n for n in reversed(names) if indegree[n] == 0]
    order: list[str] = []
    placed: set[str] = set()
    next_unplaced = 0
    while len(order) < len(names):
        if not ready:  # a loop: take the first step not placed yet
            while names[next_unplaced] in placed:
                next_unplaced += 1
            ready.append(names[next_unplaced])
        name = ready.pop()
        if name in placed:
            continue
        order.append(name)
        placed.add(name)
        for child in children[name]:
            indegree[child] -= 1
            if indegree[child] == 0 and child not in placed:
                ready.append(child)
    return order


def stale_steps(
    flow: Flow,
    codes: Mapping[str, str],
    made: Mapping[str, Mapping[str, str] | None],
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every stale step of `flow` with its reason, given each spun step's latest output's
    mapping (`made[step]`) and the code the base run ran (`base`), which every other step
    that ran (is in `base`) has its output from. Linear in the size of the graph for the run's
    outputs (a 10,000-step flow's lenses ask this on every edit); a spun step costs a walk of
    its ancestors."""
    parents = parents_of(flow)
    start = flow.start_step
    start_made = made.get(start) if start else None
    if start_made is None and base is not None and start in base:
        start_made = {PARAMETERS: base.get(PARAMETERS, "")}
    expected = expected_codes(codes, start_made)
    stale: dict[str, str] = {}
    if base is not None:
        params_changed = PARAMETERS in base and base[PARAMETERS] != expected.get(PARAMETERS)
        nearest: dict[str, str | None] = {}
        for name in _order(flow, parents):
            if name in base and base[name] != codes.get(name):
                nearest[name] = name
            else:
                nearest[name] = next((nearest[p] for p in parents[name] if nearest.get(p)), None)
            if name in made or name not in base:
                continue
            if nearest[name] == name:
                stale[name] = "edited"
            elif params_changed:
                stale[name] = "parameters changed"
            elif nearest[name]:
                stale[name] = f"upstream '{nearest[name]}' changed"
    for name, output in made.items():
        if not output or name not in flow.steps:
            continue
        reason = stale_reason(flow, name, output, codes, parents)
        if reason is None and output.get(PARAMETERS, expected.get(PARAMETERS)) != expected.get(
            PARAMETERS
        ):
            reason = "parameters changed"
        if reason is not None:
            stale[name] = reason
    return stale
