"""Where spin cards live and how they are written.

`.flowspin/cards/<Flow>/<step>/<card id or type>.html`, the newest one again as `latest.html`
(the file the viewer watches) and `index.json` naming the cards of the step's latest spin (so a
viewer can show tabs and say where the card came from). Every write is atomic: a viewer that
reloads mid-write sees the previous card, never half a page.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from flowspin.store.atomic import write_atomic
from flowspin.store.layout import DIRNAME

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


def write_index(folder: Path, spin_id: str, cards: list[dict[str, Any]]) -> None:
    data = {"spin_id": spin_id, "created": time.time(), "cards": cards}
    write_atomic(folder / INDEX, [json.dumps(data, indent=1).encode("utf-8")])


def read_index(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
