"""What the worker tracks while it serves a spin request: the request (`Active`) and each
child process it forked for it (`Child`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowspin.spin.options import SpinOptions
from flowspin.spin.protocol import FrameBuffer


@dataclass
class Child:
    pid: int
    spin_id: str
    plan: Any
    fds: dict[int, str]
    mode: str
    started: float
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    logsize: int = 0
    frames: FrameBuffer = field(default_factory=FrameBuffer)
    report: dict[str, Any] | None = None
    status: int | None = None
    proc: Any = None
    report_at: float = 0.0
    step: str = ""
    done: bool = False  # its result is in (it may still be writing its changed artifacts)
    persist_refs: dict[str, Any] | None = None  # the "persisted" frame, once it came
    record: dict[str, Any] | None = None  # the spin's record, while its bytes are written
    # Set once the step is over (it reported, or its process died) but something it started
    # still holds its output open: output is read until then, not forever.
    drain_until: float | None = None
    notices: list[str] = field(default_factory=list)


@dataclass
class Active:
    req_id: Any
    step: str
    opts: SpinOptions
    started: float
    deadline: float | None
    children: list[Child] = field(default_factory=list)
    pending: list[tuple[Any, int | None]] = field(
        default_factory=list
    )  # (plan, split) not yet forked
    done: list[Child] = field(default_factory=list)
    cancelled: bool = False
    timed_out: bool = False
    sigint_at: float | None = None
    notices: list[str] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)
    parents: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    mode: str = "fork"
    setup_ms: float = 0.0

