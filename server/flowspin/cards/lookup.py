"""Finding the latest card of a step: from the newest spin, or from a Metaflow run.

Spin cards are files under `.flowspin/cards/`. Run cards live in Metaflow's card datastore and
are read through Metaflow's own `get_cards`, so any datastore works: a card that is a local
file is returned where it is; one that is not (S3, GCS, Azure) is copied once into
`.flowspin/cards/<Flow>/<step>/runs/` so a viewer or a browser can open it.

A run still in flight counts: its task's card is Metaflow's runtime render (rewritten when the
step calls `current.card.refresh()` after changing the layout) plus the latest data update
(`runtime/*.data.json`), which the card's own JavaScript applies in place. `task_cards` reads
both straight from a local task folder without Metaflow's client, for the watcher's fast path.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowspin.cards import files


class CardLookupError(Exception):
    """No card where one was asked for; the message says what to do."""


SOURCES = ("auto", "spin", "run")
_LIVE_MARK = "This Card was Designed to be Realtime Updatable"  # Metaflow's runtime template
_FINAL_MARK = "window.metaflow_card_update = undefined"  # ... and its final one


@dataclass
class FoundCards:
    source: str  # "spin" | "run"
    label: str  # "spin 2026…" or "run 1795…, task 4"
    cards: list[dict[str, Any]] = field(default_factory=list)  # type, id, path (+ data)
    created: float | None = None  # epoch seconds: the spin's, or the run card's last write
    base_run: str | None = None  # a spin's base run
    run_id: str | None = None  # a run card's run and task
    task_id: str | None = None
    live: bool = False  # a run card of a task still running (more updates may come)

    def as_dict(self) -> dict[str, Any]:
        """The viewer's shape (`flowspin/cardFor` and `flowspin/cardChanged`)."""
        keys = ("type", "id", "path", "error", "data")
        return {
            "source": self.source,
            "label": self.label,
            "created": self.created,
            "base_run": self.base_run,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "live": self.live,
            "cards": [{k: c.get(k) for k in keys if k in c} for c in self.cards],
        }


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
        found = spin_index_cards(files.step_dir(root, name, step))
        if found is not None:
            return found
    store = Store(root)
    for spin_id in reversed(store.list_spins(flow_file, step)):
        try:
            record = store.read_record(flow_file, step, spin_id)
        except (LookupError, OSError, ValueError):
            continue
        cards = (record.get("result") or {}).get("cards") or []
        present = [c for c in cards if c.get("path") and Path(c["path"]).is_file()]
        if present:
            base = (record.get("base") or {}).get("run_id") or None
            return FoundCards(
                "spin", f"spin {spin_id}", present, created=record.get("created"), base_run=base
            )
    return None


def spin_index_cards(folder: Path, index: dict[str, Any] | None = None) -> FoundCards | None:
    """The cards a step folder's `index.json` names (the latest spin's), if their files exist
    (`index`: that file, when the caller has read it already)."""
    if index is None:
        index = files.read_index(folder) or {}
    cards = index.get("cards") or []
    present = [c for c in cards if c.get("path") and Path(c["path"]).is_file()]
    if not present:
        return None
    return FoundCards(
        "spin",
        f"spin {index.get('spin_id', '')}",
        present,
        created=index.get("created"),
        base_run=index.get("base_run"),
    )


def run_cards(
    flow_file: Path, step: str, run_id: str | None = None, with_data: bool = False
) -> FoundCards:
    """Cards of the newest task of `step` that succeeded or is still running, in run `run_id`
    (default: the latest runs). `with_data` adds each card's latest runtime data update."""
    if not _use_local_datastore_of(flow_file):
        raise CardLookupError(
            f"no run of the flow in {flow_file.name} yet (no .metaflow folder); run the flow "
            f"first (`python {flow_file.name} run`)"
        )
    from metaflow import namespace

    from flowspin.analysis import parse_file
    from flowspin.store.remote import DatastoreUnreachable, guard_reads

    guard_reads()  # a card in S3 whose endpoint is down: an error in seconds, not minutes
    namespace(None)
    names = [f.name for f in parse_file(flow_file).flows]
    if not names:
        raise CardLookupError(f"{flow_file} defines no FlowSpec class")
    try:
        return _run_cards(flow_file, step, names, run_id, with_data)
    except DatastoreUnreachable as exc:
        copied = _copied_run_cards(flow_file, names, step, run_id)
        if copied is not None:
            return copied
        raise CardLookupError(str(exc)) from None


def _copied_run_cards(
    flow_file: Path, names: list[str], step: str, run_id: str | None
) -> FoundCards | None:
    """With the remote datastore unreachable: the copies `_card_entry` kept of a remote run's
    cards (`<run>-<task>-<card file>` under .flowspin/cards/<Flow>/<step>/runs/), newest
    task first."""
    from flowspin.store import workspace_root

    root = workspace_root(flow_file)
    for name in names:
        folder = files.step_dir(root, name, step) / "runs"
        found: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for path in sorted(folder.glob(f"{run_id or '*'}-*-*.html")):
            run, task, card_file = path.name.split("-", 2)
            pieces = card_file[: -len(".html")].split("-")
            card = {
                "type": pieces[0],
                "id": pieces[1] if len(pieces) == 3 else None,
                "path": str(path),
                "task": f"{name}/{run}/{step}/{task}",
            }
            found.setdefault((run, task), []).append(card)
        if found:
            key = max(found, key=lambda k: (int(k[0]) if k[0].isdigit() else 0, k[1]))
            cards = sorted(found[key], key=_card_order)
            return FoundCards(
                "run",
                f"run {key[0]}, task {key[1]} (a local copy: the datastore is unreachable)",
                cards,
                created=_newest_mtime(cards),
                run_id=key[0],
                task_id=key[1],
            )
    return None


def _run_cards(
    flow_file: Path, step: str, names: list[str], run_id: str | None, with_data: bool
) -> FoundCards:
    from metaflow import Flow, Run
    from metaflow.cards import get_cards
    from metaflow.exception import MetaflowNotFound
    from metaflow.plugins.cards.exception import CardNotPresentException

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
            finished = task.finished
            if finished and not task.successful:
                continue
            try:
                cards = [_card_entry(c, flow_file, task, with_data) for c in get_cards(task)]
            except CardNotPresentException:
                cards = []
            if cards:
                cards.sort(key=_card_order)
                return FoundCards(
                    "run",
                    f"run {run.id}, task {task.id}",
                    cards,
                    created=_newest_mtime(cards),
                    run_id=run.id,
                    task_id=task.id,
                    live=not finished,
                )
            if run_id:
                break
    where = f"run {run_id}" if run_id else "the latest runs"
    raise CardLookupError(
        f"step {step!r} has no card in {where}; add @card to the step and run the flow again"
    )


def cards_for(flow_file: Path, step: str, source: str = "auto") -> FoundCards:
    """The card viewer's rule: `spin` or `run` as asked; `auto` the newer of the two (a spin
    after a run shows the spin; a run writing its card after the last spin shows the run)."""
    if source not in SOURCES:
        raise CardLookupError(f"unknown card source {source!r}; use one of {', '.join(SOURCES)}")
    spun = spin_cards(flow_file, step) if source in ("auto", "spin") else None
    if source == "spin":
        if spun is None:
            raise CardLookupError(
                f"step {step!r} has no spin card yet: spin it (`flowspin spin {flow_file.name} "
                f"{step}`) with @card on the step"
            )
        return spun
    try:
        ran = run_cards(flow_file, step, with_data=True)
    except CardLookupError as exc:
        if spun is not None:
            return spun
        if source == "run":
            raise
        raise CardLookupError(
            f"step {step!r} has no card yet: spin it (`flowspin spin {flow_file.name} "
            f"{step}`) with @card on the step, or run the flow. ({exc})"
        ) from None
    except Exception:
        if spun is None:
            raise
        return spun  # a datastore that cannot be read must not hide the spin's card
    if spun is not None and (spun.created or 0) >= (ran.created or 0):
        return spun
    return ran


def task_cards(task_dir: Path) -> FoundCards | None:
    """The cards of one local run task, read from its folder (no Metaflow import): the HTML
    Metaflow wrote last and each card's latest data update. None when it has no card yet."""
    parts = task_dir.parts
    flow, run_id, task_id = parts[-7], parts[-5], parts[-1]
    cards: list[dict[str, Any]] = []
    folder = task_dir / "cards"
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".html"))
    except OSError:
        names = []
    live = False
    for name in names:
        path = folder / name
        pieces = name[: -len(".html")].split("-")
        if len(pieces) not in (2, 3):
            continue  # not a Metaflow card name (TYPE-HASH or TYPE-ID-HASH)
        entry: dict[str, Any] = {
            "type": pieces[0],
            "id": pieces[1] if len(pieces) == 3 else None,
            "path": str(path),
            "task": f"{flow}/{run_id}/{parts[-3]}/{task_id}",
        }
        data = _read_data(files.data_file_for(path))
        if data is not None:
            entry["data"] = data
        live = live or _is_live(path)
        cards.append(entry)
    if not cards:
        return None
    cards.sort(key=_card_order)
    return FoundCards(
        "run",
        f"run {run_id}, task {task_id}",
        cards,
        created=_newest_mtime(cards),
        run_id=run_id,
        task_id=task_id,
        live=live,
    )


def _card_order(card: dict[str, Any]) -> tuple[str, str, str]:
    """One order for run cards whichever way they were listed, so a viewer's tab stays put."""
    return (str(card.get("type") or ""), str(card.get("id") or ""), Path(card["path"]).name)


def _newest_mtime(cards: list[dict[str, Any]]) -> float | None:
    times = []
    for card in cards:
        for path in (Path(card["path"]), files.data_file_for(Path(card["path"]))):
            try:
                times.append(path.stat().st_mtime)
            except OSError:
                pass
    return max(times) if times else None


def _read_data(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_live(card_html: Path) -> bool:
    """Metaflow's templates end a runtime render with a marker and a final one without it."""
    try:
        with card_html.open("rb") as f:
            f.seek(max(0, card_html.stat().st_size - 4096))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    return _LIVE_MARK in tail and _FINAL_MARK not in tail


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


def _card_entry(card: Any, flow_file: Path, task: Any, with_data: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": card.type, "id": card.id, "task": task.pathspec}
    if with_data:
        try:
            data = card.get_data()
        except Exception:  # a runtime data file is optional; the card shows without it
            data = None
        if isinstance(data, dict):
            entry["data"] = data
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


def _use_local_datastore_of(flow_file: Path) -> bool:
    """Read the local datastore next to (or above) the flow file, as a run from there would.

    Only when the environment names none and Metaflow is not imported yet: Metaflow reads its
    configuration once, at import. False when nothing can hold a run yet: the datastore is
    local and no `.metaflow` folder exists. Importing Metaflow then would fix this process on
    no datastore at all, and a run started later (which creates the folder) would stay unseen.
    """
    if "metaflow" in sys.modules or os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL"):
        return True
    for folder in (flow_file.parent, *flow_file.parent.parents):
        if (folder / files.METAFLOW_DIR).is_dir():
            os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(folder)
            return True
    return _configured_datastore() != "local"


def _configured_datastore() -> str:
    """METAFLOW_DEFAULT_DATASTORE from the environment or Metaflow's config file, as Metaflow
    reads it (its profile's config.json in METAFLOW_HOME, default ~/.metaflowconfig)."""
    named = os.environ.get("METAFLOW_DEFAULT_DATASTORE")
    if named:
        return named
    home = Path(os.environ.get("METAFLOW_HOME") or Path.home() / ".metaflowconfig")
    profile = os.environ.get("METAFLOW_PROFILE")
    config = home / (f"config_{profile}.json" if profile else "config.json")
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("METAFLOW_DEFAULT_DATASTORE")
    except (OSError, ValueError, AttributeError):
        value = None
    return str(value or "local")
