"""The result of one spin: the JSON contract shared by the CLI, the daemon, MCP and the LSP."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from flowspin.protocol import error_info


@dataclass
class SpinResult:
    status: str  # "ok" | "error" | "cancelled"
    flow: str
    step: str
    spin_id: str
    mode: str
    base: dict[str, Any] = field(
        default_factory=lambda: {"run_id": "", "tasks": [], "chained_from": []}
    )
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    next: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    duration_ms: float = 0.0
    cards: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None  # flowspin.protocol.ErrorInfo
    # Beyond the contract: useful to humans and the editor, ignored by strict consumers.
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    split_index: int | None = None
    splits: list[dict[str, Any]] = field(default_factory=list)  # --all-splits: one per split
    flow_file: str = ""
    # Changed artifacts' bytes: {"state": "writing"|"done"|"failed"|"off", "artifacts", "bytes"}.
    # "writing": the result came first and the bytes follow; readers of the spin wait for them.
    persist: dict[str, Any] = field(default_factory=dict)
    # Debug Step (`debug_port`): {"host", "port", "listen_ms", "attached_ms"}; empty otherwise.
    debug: dict[str, Any] = field(default_factory=dict)
    # What the output was made from: {step: code identity} for the step and every step whose
    # output fed it, "(parameters)" too (see `flowspin.analysis.staleness`); empty when the
    # file did not parse. The editor compares it with the current text to show stale steps.
    code: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=str, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpinResult:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def failure(
        cls,
        flow_file: str,
        step: str,
        err_type: str,
        message: str,
        *,
        flow: str = "",
        spin_id: str = "",
        mode: str = "",
        file: str = "",
        line: int = 0,
        traceback: str = "",
        status: str = "error",
    ) -> SpinResult:
        return cls(
            status=status,
            flow=flow,
            step=step,
            spin_id=spin_id,
            mode=mode,
            flow_file=flow_file,
            error=dict(error_info(err_type, message, traceback=traceback, file=file, line=line)),
        )

    def summary(self) -> str:
        """One human line: outcome, state source and timings."""
        base = self.base or {}
        source = f"run {base.get('run_id') or '?'}"
        if base.get("chained_from"):
            source += " + spin " + ", ".join(base["chained_from"])
        if self.status == "ok":
            changed = [n for n, a in self.artifacts.items() if a.get("changed")]
            head = f"✓ {self.step} ok in {self.duration_ms:.0f} ms"
            tail = f"changed: {', '.join(changed) or 'nothing'}"
        else:
            err = self.error or {}
            # Line 0 means "the file as a whole" (a setup error): `flow.py:0` reads as a bug.
            where = f" at {err.get('file')}" if err.get("file") else ""
            where += f":{err.get('line')}" if err.get("file") and err.get("line") else ""
            head = f"✗ {self.step} {self.status}: {err.get('type')}: {err.get('message')}{where}"
            tail = f"{self.duration_ms:.0f} ms"
        return f"{head} | state: {source} | {tail} | mode {self.mode} | spin {self.spin_id}"
