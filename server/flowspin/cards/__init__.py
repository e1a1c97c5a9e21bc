"""Cards for spins (rendered with Metaflow's own card classes), notebook cards, card files.

Public surface: `SpinCards` (built per spun step in the spin child; `.collector` becomes
`current.card`, `.render(...)` writes the HTML) and `files` (where card files live).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SpinCards"]


def __getattr__(name: str) -> Any:
    if name == "SpinCards":
        from flowspin.cards.spincards import SpinCards

        return SpinCards
    raise AttributeError(name)
