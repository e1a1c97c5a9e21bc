"""Mutable state the language server keeps between requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowspin.lsp.documents import ModelStore


@dataclass
class ServerState:
    models: ModelStore = field(default_factory=ModelStore)
    # Last result per step, shown after the lens title ("▶ Spin  ✓ 12 ms"). The spin and run
    # engines fill it and then ask the client to refresh code lenses.
    step_status: dict[tuple[str, str], str] = field(default_factory=dict)
    # URIs we published non-empty diagnostics for (so we know what to clear).
    published: set[str] = field(default_factory=set)
    # The client's `flowspin` settings section (spin.timeout, run.args, ...), as last sent in
    # `initializationOptions.settings` or `workspace/didChangeConfiguration`.
    settings: dict[str, Any] = field(default_factory=dict)
