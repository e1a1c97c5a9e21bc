"""Finding the latest card of a step: from the newest spin, or from a Metaflow run.

Spin cards are files under `.flowspin/cards/`. Run cards live in Metaflow's card datastore and
are read through Metaflow's own `get_cards`, so any datastore works: a card that is a local
file is returned where it is; one that is not (S3, GCS, Azure) is copied once into
`.flowspin/cards/<Flow>/<step>/runs/` so a viewer or a browser can open it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowspin.cards import files


class CardLookupError(Exception):
    """No card where one was asked for; the message says what to do."""


@dataclass
class FoundCards:
    source: str  # "spin" | "run"
    label: str  # "spin 2026…" or "run 1795…, task 4"
    cards: list[dict[str, Any]] = field(default_factory=list)  # type, id, path


def spin_cards(flow_file: Path, step: str) -> FoundCards | None:
    """Cards of the newest spin of `step` that still has its card files, or None.

    The step's `index.json` comes first: the spin child writes it with the cards, before the
    worker saves the spin's record, so a viewer woken by the new card finds it at once.
    """
    from flowspin.analysis import parse_file
    from flowspin.store import Store, workspace_root

    root = workspace_root(flow_file)
    try:
        names = [f.name for f in parse_file(flow_file).flows]
    except (OSError, SyntaxError):
        names = []
    for name in names:
        index = files.read_index(files.step_dir(root, name, step))
        cards = (index or {}).get("cards") or []
        present = [c for c in cards if c.get("path") and Path(c["path"]).is_file()]
        if present:
            return FoundCards("spin", f"spin {index.get('spin_id', '')}", present)
    store = Store(root)
    for spin_id in reversed(store.list_spins(flow_file, step)):
        try:
            record = store.read_record(flow_file, step, spin_id)
        except (LookupError, OSError, ValueError):
            continue
        cards = (record.get("result") or {}).get("cards") or []
        present = [c for c in cards if c.get("path") and Path(c["path"]).is_file()]
        if present:
            return FoundCards("spin", f"spin {spin_id}", present)
    return None


def run_cards(flow_file: Path, step: str, run_id: str | None = None) -> FoundCards:
    """Cards of the newest successful task of `step` in run `run_id` (default: latest run)."""
    _use_local_datastore_of(flow_file)
    from metaflow import Flow, Run, namespace
    from metaflow.cards import get_cards
    from metaflow.exception import MetaflowNotFound
    from metaflow.plugins.cards.exception import CardNotPresentException

    from flowspin.analysis import parse_file

    namespace(None)
    names = [f.name for f in parse_file(flow_file).flows]
    if not names:
        raise CardLookupError(f"{flow_file} defines no FlowSpec class")
    runs: list[Any] = []
    for name in names:
        try:
            runs = [Run(f"{name}/{run_id}")] if run_id else list(Flow(name).runs())[:20]
        except MetaflowNotFound:
            continue
        if runs:
            break
    if not runs:
        what = f"run {run_id} of {', '.join(names)} not" if run_id else f"no run of {names[0]}"
        raise CardLookupError(
            f"{what} found in the Metaflow datastore; run the flow first "
            f"(`python {flow_file.name} run`) or check the run id with `flowspin runs`"
        )
    for run in runs:
        try:
            tasks = sorted(run[step], key=lambda t: int(t.id) if t.id.isdigit() else 0)
        except KeyError:
            continue
        for task in tasks:
            if not task.successful:
                continue
            try:
                cards = [_card_entry(c, flow_file, task) for c in get_cards(task)]
            except CardNotPresentException:
                cards = []
            if cards:
                return FoundCards("run", f"run {run.id}, task {task.id}", cards)
            if run_id:
                break
    where = f"run {run_id}" if run_id else "the latest runs"
    raise CardLookupError(
        f"step {step!r} has no card in {where}; add @card to the step and run the flow again"
    )


def latest_cards(flow_file: Path, step: str, run_id: str | None = None) -> FoundCards:
    """`flowspin card`'s rule: with a run id, that run; else the newest spin, else a run."""
    if run_id is None:
        found = spin_cards(flow_file, step)
        if found is not None:
            return found
    try:
        return run_cards(flow_file, step, run_id)
    except CardLookupError as exc:
        if run_id is None:
            raise CardLookupError(
                f"step {step!r} has no card yet: spin it (`flowspin spin {flow_file.name} "
                f"{step}`) with @card on the step, or run the flow. ({exc})"
            ) from None
        raise


def _card_entry(card: Any, flow_file: Path, task: Any) -> dict[str, Any]:
    entry = {"type": card.type, "id": card.id, "task": task.pathspec}
    local = None
    try:
        candidate = Path(card._card_ds.create_full_path(card.path))
        if candidate.is_file():
            local = candidate
    except Exception:
        local = None
    if local is None:  # a remote datastore: keep a copy where a viewer can read it
        from flowspin.store import workspace_root

        flow_name, run_id, step, task_id = task.pathspec.split("/")
        folder = files.step_dir(workspace_root(flow_file), flow_name, step) / "runs"
        local = folder / f"{run_id}-{task_id}-{Path(card.path).name}"
        if not local.is_file():
            files.write_html(local, card.get())
    entry["path"] = str(local)
    return entry


def _use_local_datastore_of(flow_file: Path) -> None:
    """Read the local datastore next to (or above) the flow file, as a run from there would.

    Only when the environment names none and Metaflow is not imported yet.
    """
    if "metaflow" in sys.modules or os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL"):
        return
    for folder in (flow_file.parent, *flow_file.parent.parents):
        if (folder / ".metaflow").is_dir():
            os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(folder)
            return
