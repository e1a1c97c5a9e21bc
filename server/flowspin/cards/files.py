"""Where spin cards live and how they are written.

`.flowspin/cards/<Flow>/<step>/<card id or type>.html`, the newest one again as `latest.html`
(the file the viewer watches) and `index.json` naming the cards of the step's latest spin (so a
viewer can show tabs and say where the card came from). Every write is atomic: a viewer that
reloads mid-write sees the previous card, never half a page.

Run cards are Metaflow's: a local run writes them under `<.metaflow>/mf.cards/<Flow>/runs/<run>/
steps/<step>/tasks/<task>/`, the HTML in `cards/` (rewritten by every runtime render and at task
end) and the data of `current.card.refresh()` in `runtime/` (`<same name>.data.json`).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from flowspin.store.atomic import write_atomic
from flowspin.store.root import DIRNAME

LATEST = "latest.html"
INDEX = "index.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def cards_root(workspace: str | os.PathLike[str]) -> Path:
    return Path(workspace) / DIRNAME / "cards"


def step_dir(workspace: str | os.PathLike[str], flow: str, step: str) -> Path:
    return cards_root(workspace) / _SAFE.sub("_", flow) / _SAFE.sub("_", step)


def card_stem(card_type: str, card_id: str | None, taken: set[str]) -> str:
    """The file name (without .html) of one card: its id, else its type; unique in the step."""
    base = _SAFE.sub("_", card_id or card_type or "card") or "card"
    if base in (LATEST[:-5], INDEX[:-5]):
        base = f"card_{base}"
    stem, n = base, 2
    while stem in taken:
        stem, n = f"{base}-{n}", n + 1
    taken.add(stem)
    return stem


def write_html(path: Path, html: str) -> None:
    write_atomic(path, [html.encode("utf-8")])


def write_index(
    folder: Path, spin_id: str, cards: list[dict[str, Any]], base_run: str | None = None
) -> None:
    data = {"spin_id": spin_id, "created": time.time(), "base_run": base_run, "cards": cards}
    write_atomic(folder / INDEX, [json.dumps(data, indent=1).encode("utf-8")])


def read_index(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# Metaflow's own names (metaflow_config.DATASTORE_LOCAL_DIR and CARD_SUFFIX), spelled out so
# that finding the folder does not import Metaflow in the language server.
METAFLOW_DIR = ".metaflow"
MF_CARDS = "mf.cards"
RUN_CARD_DEPTH = 9  # <Flow>/runs/<run>/steps/<step>/tasks/<task>/(cards|runtime)/<file>
DATA_SUFFIX = ".data.json"


def run_cards_root(flow_file: str | os.PathLike[str]) -> Path:
    """Where a local `python flow.py run` started in the flow's folder writes its cards.

    Metaflow's card datastore ignores METAFLOW_DATASTORE_SYSROOT_LOCAL: it uses
    METAFLOW_CARD_LOCALROOT, else the nearest `.metaflow` folder above the working directory
    (created there by the first run), plus `mf.cards`. The folder need not exist yet.
    """
    explicit = os.environ.get("METAFLOW_CARD_LOCALROOT")
    if explicit:
        return Path(explicit)
    folder = Path(flow_file).resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / METAFLOW_DIR).is_dir():
            return candidate / METAFLOW_DIR / MF_CARDS
    return folder / METAFLOW_DIR / MF_CARDS


def run_task_dir(root: Path, flow: str, run_id: str, step: str, task_id: str) -> Path:
    return root / flow / "runs" / run_id / "steps" / step / "tasks" / task_id


def data_file_for(card_html: Path) -> Path:
    """The runtime data file Metaflow writes beside a run card (same type, id and hash)."""
    return card_html.parent.parent / "runtime" / (card_html.name[: -len(".html")] + DATA_SUFFIX)


def card_html_for(data_file: Path) -> Path:
    return data_file.parent.parent / "cards" / (data_file.name[: -len(DATA_SUFFIX)] + ".html")
