"""An agent's spin over MCP: round trip of the `spin` tool, cold and warm, beside `metaflow spin`.

Runs the bundled demo flow once in a scratch folder, starts `flowspin mcp` with the SDK's stdio
client, and times `spin train` as an agent sees it (request to parsed result: server, daemon,
worker, summaries). Then the same spin and a `check` as VS Code's agent mode makes them: one
`python -m flowspin.mcp.call` process per call (what extension/lmTools.ts spawns), on the same
warm daemon. Prints a table; asserts nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
WARM_SPINS = 10


def env_for(folder: Path) -> dict[str, str]:
    return {
        "METAFLOW_USER": "bench",
        "USERNAME": "bench",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(folder),
        "FLOWSPIN_DAEMON_IDLE_S": "60",
    }


async def spin_times(folder: Path) -> tuple[float, list[float], float]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "flowspin", "mcp"],
        env=env_for(folder),
        cwd=str(folder),
    )
    started = time.perf_counter()
    async with Client(params, read_timeout_seconds=300) as client:
        connect = time.perf_counter() - started
        times = []
        for _ in range(WARM_SPINS + 1):
            t0 = time.perf_counter()
            result = await client.call_tool("spin", {"file": "flow.py", "step": "train"})
            times.append(time.perf_counter() - t0)
            data = json.loads(result.content[0].text)
            if data["status"] != "ok":
                raise SystemExit(f"spin failed: {data.get('error')}")
    return connect, times, data["duration_ms"]


def bridge_times(folder: Path, tool: str, args: dict[str, str], n: int) -> list[float]:
    """Seconds per call of the VS Code tools' bridge, process start included."""
    env = dict(os.environ, **env_for(folder))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "flowspin.mcp.call", tool],
            input=json.dumps(args),
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        times.append(time.perf_counter() - t0)
        if not json.loads(proc.stdout)["ok"]:
            raise SystemExit(f"{tool} through the bridge failed: {proc.stdout[:500]}")
    return times


def metaflow_spin(folder: Path) -> float:
    env = dict(os.environ, **env_for(folder))
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "flow.py", "--no-pylint", "spin", "train"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="flowspin-bench-mcp-"))
    try:
        shutil.copyfile(REPO / "examples" / "demo" / "flow.py", folder / "flow.py")
        env = dict(os.environ, **env_for(folder))
        subprocess.run(
            [sys.executable, "flow.py", "--no-pylint", "run"],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
        )
        connect, times, in_worker = anyio.run(spin_times, folder)
        spin_args = {"file": "flow.py", "step": "train"}
        bridge_spin = statistics.median(bridge_times(folder, "spin", spin_args, WARM_SPINS))
        bridge_check = statistics.median(
            bridge_times(folder, "check", {"file": "flow.py"}, WARM_SPINS)
        )
        try:
            mf = metaflow_spin(folder)
        except subprocess.CalledProcessError as exc:
            print(f"metaflow spin failed: {exc.stderr.decode()[-500:]}")
            mf = float("nan")
        warm = statistics.median(times[1:])
        print(f"{'what':<48} {'ms':>10}")
        print(f"{'MCP server start + initialize':<48} {connect * 1e3:>10.1f}")
        print(f"{'first spin over MCP (cold worker)':<48} {times[0] * 1e3:>10.1f}")
        print(f"{f'warm spin over MCP, median of {WARM_SPINS}':<48} {warm * 1e3:>10.1f}")
        print(f"{'  of which inside the worker (last spin)':<48} {in_worker:>10.1f}")
        print(f"{'warm spin, VS Code tool bridge, median':<48} {bridge_spin * 1e3:>10.1f}")
        print(f"{'check, VS Code tool bridge, median':<48} {bridge_check * 1e3:>10.1f}")
        print(f"{'metaflow spin (same step, shell)':<48} {mf * 1e3:>10.1f}")
        print(f"{'speed-up, warm MCP spin vs metaflow spin':<48} {mf / warm:>9.1f}x")
    finally:
        try:
            from flowspin.daemon import client

            list(client.request(folder, {"type": "stop"}))
        except Exception:
            pass
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
