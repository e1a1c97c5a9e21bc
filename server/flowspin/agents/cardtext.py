"""The visible text of a card's HTML, for agents that cannot look at a rendered page.

Metaflow's built-in cards are a JavaScript app whose content travels as base64 JSON in
`window.__MF_DATA__[id] = "..."`; the HTML body itself is empty, so we decode that JSON and read
the components' text (titles, markdown, table cells, artifact reprs). Any other card (notebook
cards, custom types) is plain HTML, read with the standard parser.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from html.parser import HTMLParser
from typing import Any

from flowspin.agents.summary import cut

TEXT_LIMIT = 3000
LINE_LIMIT = 300  # one huge artifact repr must not crowd out the rest of the card
_MF_DATA = re.compile(r'window\.__MF_DATA__\[[^\]]*\]\s*=\s*"([A-Za-z0-9+/=\s]*)"')
_TEXT_KEYS = ("title", "subtitle", "text", "source", "label", "name", "value", "data")
_SKIP_KEYS = {"type", "id", "component_id", "metadata", "src", "spec", "options", "vega"}


def _walk(node: Any, out: list[str], key: str | None = None) -> None:
    if isinstance(node, str):
        text = node.strip()
        if text and (key in _TEXT_KEYS or key is None) and not text.startswith("data:"):
            out.append(text)
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and key in _TEXT_KEYS:
        out.append(str(node))
    elif isinstance(node, dict):
        if node.get("type") == "table" and isinstance(node.get("data"), list):
            headers = node.get("columns") or node.get("headers") or []
            if headers:
                out.append(" | ".join(str(h) for h in headers))
            for row in node["data"][:50]:
                cells = row if isinstance(row, list) else [row]
                out.append(" | ".join(_cell(c) for c in cells))
            return
        for k, v in node.items():
            if k in _SKIP_KEYS:
                continue
            _walk(v, out, k if isinstance(v, (str, int, float)) else None)
    elif isinstance(node, list):
        for item in node:
            _walk(item, out, key)


def _cell(cell: Any) -> str:
    if isinstance(cell, dict):
        parts: list[str] = []
        _walk(cell, parts)
        return " ".join(parts)
    return str(cell)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def card_text(html: str, limit: int = TEXT_LIMIT) -> str:
    """The card's readable content, one item per line, cut to `limit` characters."""
    lines: list[str] = []
    for match in _MF_DATA.finditer(html):
        try:
            data = json.loads(base64.b64decode(match.group(1)))
        except (binascii.Error, ValueError):
            continue
        _walk(data.get("components", data) if isinstance(data, dict) else data, lines)
    if not lines:
        parser = _Text()
        parser.feed(html)
        lines = parser.parts
    return cut("\n".join(cut(line, LINE_LIMIT) for line in lines), limit)
