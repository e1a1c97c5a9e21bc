"""The AGENTS.md / CLAUDE.md section that teaches a coding agent the incremental workflow.

The section names the project's real flow files, flows and steps, found by the static parser
(flow files are never imported: importing runs user code and needs its dependencies), so an agent
can copy the commands as they are.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "env",
    "node_modules",
    "__pycache__",
    ".metaflow",
    ".flowspin",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "site-packages",
    "build",
    "dist",
}
MAX_FILES_SCANNED = 2000
MAX_FLOWS_LISTED = 20

MCP_SNIPPET = """{
  "mcpServers": {
    "flowspin": {
      "command": "flowspin",
      "args": ["mcp"],
      "env": {"METAFLOW_USER": "<your name>"}
    }
  }
}"""


@dataclass
class FoundFlow:
    file: str  # relative to the scanned folder, with forward slashes
    flow: str
    steps: list[str] = field(default_factory=list)
    foreach_children: list[str] = field(default_factory=list)
    card_steps: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    start: str | None = None
    end: str | None = None


def _candidate_files(root: Path) -> Iterator[Path]:
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            seen += 1
            if seen > MAX_FILES_SCANNED:
                return
            yield Path(folder) / name


def find_flows(root: Path) -> list[FoundFlow]:
    """Flows defined in `.py` files under `root`, in path order, by static parsing only."""
    from flowspin.analysis import parse_file

    found: list[FoundFlow] = []
    for path in _candidate_files(root):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "FlowSpec" not in text:  # cheap filter: parse only files that can define a flow
            continue
        model = parse_file(path)
        rel = path.relative_to(root).as_posix()
        for flow in model.flows:
            if not flow.steps:
                continue
            children = [
                target
                for step in flow.steps.values()
                for tr in step.transitions
                if tr.kind == "foreach"
                for target in tr.targets
            ]
            found.append(
                FoundFlow(
                    file=rel,
                    flow=flow.name,
                    steps=list(flow.steps),
                    foreach_children=children,
                    card_steps=[s.name for s in flow.steps.values() if s.cards],
                    parameters=[p.name for p in flow.parameters if p.kind == "Parameter"],
                    start=flow.start_step,
                    end=flow.end_step,
                )
            )
    return found


def _example_step(flow: FoundFlow) -> str:
    """The step an agent would most likely be writing: the first one between start and end."""
    middle = [s for s in flow.steps if s not in (flow.start, flow.end)]
    if middle:
        return middle[0]
    return flow.start or flow.steps[0]


def has_command(name: str) -> bool:
    """Whether this build has `flowspin NAME` (the guide only names commands that exist)."""
    return importlib.util.find_spec(f"flowspin.commands.{name}") is not None


def _quote(path: str) -> str:
    return f'"{path}"' if any(c.isspace() for c in path) else path


def build_section(root: Path) -> str:
    """The Markdown section for the project at `root`."""
    flows = find_flows(root)
    if flows:
        # Teach with the richest flow: one with a foreach and a card shows every option.
        example = max(flows, key=lambda f: (bool(f.foreach_children), bool(f.card_steps)))
        file = _quote(example.file)
        step = _example_step(example)
        start = example.start or example.steps[0]
        end = example.end or example.steps[-1]
        card_step = example.card_steps[0] if example.card_steps else end
    else:
        example = None
        file, step, start, end, card_step = "flow.py", "train", "start", "end", "end"

    if has_command("run"):
        run_cmd = f"flowspin run {file}"
        run_note = f"(`python {file} run` works too."
    else:
        run_cmd = f"python {file} run"
        run_note = "(Metaflow's own run: it lands in your usual datastore."
    if has_command("runs"):
        run_note += f" `flowspin runs {file}` lists past runs.)"
    else:
        run_note += " The MCP `list_runs` tool lists past runs.)"

    lines: list[str] = ["## Developing Metaflow flows with flowspin", ""]
    lines += [
        "Build flows one step at a time, the way a notebook is used: run the flow once, then "
        "*spin* the step you are writing (run just that step, in a warm process that already "
        "holds its parent steps' artifacts) after every change, and run the whole flow again "
        "when the steps work. A spin takes milliseconds and never writes to Metaflow's "
        "datastore, so spin freely.",
        "",
    ]
    if flows:
        lines += ["Flows in this project:", ""]
        for found in flows[:MAX_FLOWS_LISTED]:
            extra = ""
            if found.parameters:
                extra = f"; parameters: {', '.join(f'`{p}`' for p in found.parameters)}"
            steps = " → ".join(f"`{s}`" for s in found.steps)
            lines.append(f"- `{found.file}`: `{found.flow}`, steps {steps}{extra}")
        if len(flows) > MAX_FLOWS_LISTED:
            lines.append(f"- … and {len(flows) - MAX_FLOWS_LISTED} more")
        lines.append("")
    else:
        lines += [
            "(No flow files were found when this section was generated; the commands below use "
            "`flow.py` and step names as placeholders.)",
            "",
        ]

    lines += [
        "### Workflow",
        "",
        "1. **Skeleton first.** Write every step with its `self.next(...)` and a body of "
        "`pass`, then check the graph statically (the file is parsed, never imported):",
        "",
        "   ```sh",
        f"   flowspin check {file}",
        f"   flowspin graph {file}",
        "   ```",
        "",
        "   Fix every error it reports (each names the file and line) before running anything.",
        "2. **Run once** so spins have parent artifacts to start from (a real Metaflow run):",
        "",
        "   ```sh",
        f"   {run_cmd}",
        "   ```",
        "",
        f"   {run_note}",
        "3. **Spin the step you are writing after each change:**",
        "",
        "   ```sh",
        f"   flowspin spin {file} {step} --json",
        "   ```",
        "",
        "   It prints one JSON object: `status` (`ok`/`error`), the step's `artifacts` "
        "(type, short repr, whether it changed), `stdout`/`stderr`, and on failure "
        "`error.file`, `error.line` and the traceback. Fix the code at that line and spin "
        "again. Then spin the next step: it starts from your spun output (chaining); "
        "`--reset` goes back to the base run.",
    ]
    options = ["`--run RUN_ID` picks the base run", "`--param name=value` overrides a parameter"]
    if example and example.foreach_children:
        child = example.foreach_children[0]
        options.insert(0, f"`--split N` picks the foreach split (e.g. `{child}`), "
                          "`--all-splits` runs every split")
    else:
        options.insert(0, "`--split N` picks the split of a foreach child step")
    lines += ["", "   Options: " + "; ".join(options) + ".", ""]
    lines += [
        "4. **Look at results** without re-running anything:",
        "",
        "   ```sh",
        f"   flowspin show {file} {step}            # artifacts of the latest spin",
        f"   flowspin show {file} {step} ARTIFACT   # one artifact",
        *(
            [f"   flowspin diff {file} {step}            # what the spin changed vs. the run"]
            if has_command("diff")
            else []
        ),
        *(
            [f"   flowspin card {file} {card_step}   # path of the step's latest card (@card)"]
            if has_command("card")
            else []
        ),
        "   ```",
        "",
        f"5. **Run again** from `{start}` to `{end}` when the steps work "
        f"(`{run_cmd}`), and spin on top of that run from then on. Run again "
        "also after changing a step whose artifacts later steps read.",
        "",
        "Do not edit or delete `.flowspin/` (spin results and the warm daemon's socket) or "
        "`.metaflow/` (Metaflow's local datastore).",
        "",
        "### MCP server",
        "",
        "The same tools are available over MCP (stdio): `check`, `graph`, `spin`, `run`, "
        "`list_runs`, `show_artifact`, `diff`, `card`. Spins made through it share the warm daemon "
        "with the editor, so the card the person is looking at updates too. Client config:",
        "",
        "```json",
        MCP_SNIPPET,
        "```",
        "",
        "Set `METAFLOW_USER` in the server's `env`: MCP clients start stdio servers with a "
        "minimal environment, and Metaflow refuses to run without a user name. Add any other "
        "`METAFLOW_*` variables your runs need (datastore, metadata service, profile).",
        "",
        "In VS Code's agent mode the flowspin extension offers `flowspin_check`, "
        "`flowspin_spin`, `flowspin_showArtifact` and `flowspin_run` (it asks before starting a "
        "run) as tools, with the same answers; no MCP configuration is needed there.",
        "",
    ]
    return "\n".join(lines)
