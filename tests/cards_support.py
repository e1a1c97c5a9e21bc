"""Helpers for the card suites: read what a rendered card shows."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

_MF_DATA = re.compile(r'window\.__MF_DATA__\[[^\]]*\]\s*=\s*"([A-Za-z0-9+/=\s]*)"')


def card_content(path: str | Path) -> str:
    """The card's content as text: the decoded component JSON of a Metaflow card, else HTML."""
    html = Path(path).read_text(encoding="utf-8")
    found = _MF_DATA.search(html)
    if not found:
        return html
    return json.dumps(json.loads(base64.b64decode(found.group(1))))
