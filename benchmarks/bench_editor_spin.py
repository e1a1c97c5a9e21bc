"""Warm spin overhead through the language server (budget: 25 ms median).

A real Metaflow run of bench_spin's BigFlow (the parent step holds a ~160 MB DataFrame), then
a pygls client (pytest-lsp's) starts `flowspin lsp` over stdio, opens the flow, and spins the
trivial step `tiny` with `workspace/executeCommand flowspin.server.spin` ~20 times. Each round
trip is timed from sending the request to receiving the answer (logs, `$/progress`, lens
refresh and `flowspin/spinResult` included); the overhead is that round trip minus the step
function's own run time (`timings.step_ms` of the result).

Run: `.venv/bin/python benchmarks/bench_editor_spin.py [--spins 20]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spin import FLOW, env_for  # noqa: E402
from lsp_session import open_session  # noqa: E402

BUDGET_MS = 25.0


async def run(spins: int) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="flowspin-bench-editor-"))
    (work / ".git").mkdir()
    flow = work / "flow.py"
    flow.write_text(FLOW.lstrip())
    env = env_for(work)
    subprocess.run(
        [sys.executable, "flow.py", "--no-pylint", "run"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )

    client, uri = await open_session(work, flow, env)
    out: dict[str, list[float]] = {"round_trip": [], "overhead": [], "duration": [], "step": []}
    params = types.ExecuteCommandParams(
        command="flowspin.server.spin", arguments=[{"uri": uri, "step": "tiny"}]
    )
    try:
        cold_start = time.perf_counter()
        first = await client.workspace_execute_command_async(params)
        cold = (time.perf_counter() - cold_start) * 1e3
        assert first["ok"], first["message"]
        out["cold"] = [cold]
        for i in range(spins + 2):
            started = time.perf_counter()
            answer = await client.workspace_execute_command_async(params)
            elapsed = (time.perf_counter() - started) * 1e3
            assert answer["ok"], answer["message"]
            if i < 2:
                continue  # warm-up
            result = answer["result"]
            step_ms = float(result["timings"].get("step_ms", 0.0))
            out["round_trip"].append(elapsed)
            out["duration"].append(float(result["duration_ms"]))
            out["step"].append(step_ms)
            out["overhead"].append(elapsed - step_ms)
    finally:
        await client.shutdown_session()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spins", type=int, default=20)
    args = parser.parse_args()
    data = asyncio.run(run(args.spins))
    print(f"first spin through the editor (cold worker): {data['cold'][0]:8.1f} ms")
    print(f"{'warm spin via LSP (ms)':34} {'median':>8} {'min':>8} {'max':>8}")
    for key, label in (
        ("round_trip", "executeCommand round trip"),
        ("duration", "spin duration (worker)"),
        ("step", "step function itself"),
        ("overhead", "overhead (round trip - step)"),
    ):
        values = data[key]
        print(f"{label:34} {statistics.median(values):8.1f} {min(values):8.1f} {max(values):8.1f}")
    median = statistics.median(data["overhead"])
    verdict = "within" if median <= BUDGET_MS else "OVER"
    print(f"overhead median {median:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
