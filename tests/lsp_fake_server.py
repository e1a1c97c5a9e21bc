"""`flowspin lsp` with a light fake for its spin engine (`create_server(spin_engine=...)`): for
tests of what the editor does with spin results (lens status, spin-error diagnostics,
notifications) where real Metaflow workers add nothing but seconds.

The fake "spins" a step by reading the saved file: a step whose body holds `1 / 0` fails with
ZeroDivisionError at that line; any other step succeeds, setting `x`. Run as a script (the
test's server command)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowspin.lsp import create_server
from flowspin.results import SpinResult


class FakeEngine:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.count = 0

    def spin(
        self,
        flow_file: Path,
        step: str,
        options: dict[str, Any] | None = None,
        on_log: Callable[[str, str], None] | None = None,
    ) -> SpinResult:
        self.count += 1
        if on_log is not None:
            on_log("stdout", f"fake spin {self.count} of {step}\n")
        lines = Path(flow_file).read_text().splitlines()
        start = next(i for i, line in enumerate(lines) if f"def {step}(" in line)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("@")),
            len(lines),
        )
        boom = next((i for i in range(start, end) if "1 / 0" in lines[i]), None)
        if boom is not None:
            return SpinResult.failure(
                str(flow_file),
                step,
                "ZeroDivisionError",
                "division by zero",
                spin_id=f"fake-{self.count}",
                file=str(flow_file),
                line=boom + 1,
            )
        return SpinResult(
            status="ok",
            flow="",
            step=step,
            spin_id=f"fake-{self.count}",
            mode="fake",
            duration_ms=1.0,
            artifacts={"x": {"repr": "1", "changed": True}},
            flow_file=str(flow_file),
        )

    def preload_state(
        self, flow_file: Path, step: str, base: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"ok": True, "run_id": "fake"}

    def cancel(self, flow_file: Path) -> None:
        pass

    def rebase(self, flow_file: Path) -> None:
        pass

    def restart_worker(self, flow_file: Path) -> None:
        pass

    def shutdown(self) -> None:
        pass


if __name__ == "__main__":
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout is the protocol
    create_server(spin_engine=FakeEngine, clock=lambda: 1_000_000.0).start_io(stdin, stdout)
