"""Warm spin vs `metaflow spin`, side by side, on a step whose parent holds a ~160 MB DataFrame.

Run: `.venv/bin/python benchmarks/bench_spin.py` (takes about a minute). Prints a table.
Budgets (DESIGN.md): in-process warm <= 25 ms median; shell warm >= 15x faster than
`metaflow spin`; first (cold) spin faster than `metaflow spin`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FLOW = """
import numpy as np
import pandas as pd
from metaflow import FlowSpec, step


class BigFlow(FlowSpec):
    @step
    def start(self):
        rng = np.random.default_rng(0)
        self.df = pd.DataFrame(rng.random((10_000_000, 2)), columns=["a", "b"])  # ~160 MB
        self.next(self.tiny)

    @step
    def tiny(self):
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BigFlow()
"""


def env_for(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        METAFLOW_USER="bench",
        USER=env.get("USER", "bench"),
        USERNAME="bench",
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir),
        METAFLOW_HOME=str(workdir / ".metaflowconfig"),
    )
    return env


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="flowspin-bench-"))
    (workdir / ".git").mkdir()  # a workspace root, like a repository
    flow = workdir / "flow.py"
    flow.write_text(textwrap.dedent(FLOW).lstrip())
    env = env_for(workdir)
    py = sys.executable
    print(f"workspace {workdir}; running the flow once...", flush=True)
    subprocess.run(
        [py, "flow.py", "--no-pylint", "run"], cwd=workdir, env=env, check=True, capture_output=True
    )
    os.environ.update(env)
    from metaflow import Flow, namespace

    namespace(None)
    run = Flow("BigFlow").latest_run
    task = next(iter(run["tiny"])).pathspec

    from flowspin.spin.service import SpinService

    # Cold start and memory, with the child measuring its own memory (costs a few ms).
    svc = SpinService(workdir, env={**env, "FLOWSPIN_MEASURE_MEMORY": "1"})
    cold = timed(lambda: svc.spin(flow, "tiny"))
    time.sleep(0.2)
    measured = svc.spin(flow, "tiny")
    assert measured.ok, measured.error
    worker_rss = rss_mb(svc.worker_pid(flow))
    child = {k: v for k, v in measured.timings.items() if k.startswith("child_")}
    svc.shutdown()

    svc = SpinService(workdir, env=env)
    first = svc.spin(flow, "tiny")
    assert first.ok, first.error
    warm = []
    overhead = []
    last = first
    b2b = [timed(lambda: svc.spin(flow, "tiny")) for _ in range(10)]  # no pause: fork on the path
    for _ in range(20):
        time.sleep(0.1)  # editor cadence: the worker forks the next child ahead meanwhile
        t = time.perf_counter()
        last = svc.spin(flow, "tiny")
        warm.append((time.perf_counter() - t) * 1e3)
        overhead.append(last.duration_ms)
        assert last.ok, last.error
    svc.shutdown()

    cli = [py, "-m", "flowspin.cli", "spin", "flow.py", "tiny", "--json"]
    subprocess.run(
        [py, "-m", "flowspin.cli", "daemon", "stop"], cwd=workdir, env=env, capture_output=True
    )
    shell_cold = timed(
        lambda: subprocess.run(cli, cwd=workdir, env=env, check=True, capture_output=True)
    )
    shell = []
    for _ in range(10):
        time.sleep(0.1)
        shell.append(
            timed(
                lambda: subprocess.run(cli, cwd=workdir, env=env, check=True, capture_output=True)
            )
        )
    out = subprocess.run(
        cli, cwd=workdir, env=env, check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out)["status"] == "ok"
    flowspin_bin = Path(py).parent / "flowspin"
    shell_bin = []
    if flowspin_bin.exists():
        cmd = [str(flowspin_bin), "spin", "flow.py", "tiny", "--json"]
        for _ in range(10):
            time.sleep(0.1)
            shell_bin.append(
                timed(
                    lambda: subprocess.run(
                        cmd, cwd=workdir, env=env, check=True, capture_output=True
                    )
                )
            )
    subprocess.run(
        [py, "-m", "flowspin.cli", "daemon", "stop"], cwd=workdir, env=env, capture_output=True
    )

    # Last: `metaflow spin` rewrites latest_run, which would change our base run.
    mf = []
    for _ in range(4):
        mf.append(
            timed(
                lambda: subprocess.run(
                    [py, "flow.py", "--no-pylint", "spin", task],
                    cwd=workdir,
                    env=env,
                    check=True,
                    capture_output=True,
                )
            )
        )
    mf_med = statistics.median(mf)

    rows = [
        ("metaflow spin (median of 4)", mf_med, ""),
        (
            "flowspin cold first spin (worker start + load)",
            cold,
            f"{mf_med / cold:.1f}x faster" if cold < mf_med else "SLOWER",
        ),
        (
            "flowspin warm, in-process SpinService (median of 20)",
            statistics.median(warm),
            f"budget <= 25 ms; worker-side {statistics.median(overhead):.1f} ms",
        ),
        (
            "flowspin warm, in-process, back-to-back (median of 10)",
            statistics.median(b2b),
            "no pause between spins: the fork is on the critical path",
        ),
        (
            "flowspin warm, shell `python -m flowspin.cli` (median of 10)",
            statistics.median(shell),
            f"{mf_med / statistics.median(shell):.1f}x faster (budget >= 15x)",
        ),
    ]
    if shell_bin:
        rows.append(
            (
                "flowspin warm, shell `flowspin` script (median of 10)",
                statistics.median(shell_bin),
                f"{mf_med / statistics.median(shell_bin):.1f}x faster",
            )
        )
    rows.append(("flowspin shell, first call (starts the daemon)", shell_cold, ""))
    print()
    print(f"{'what':<62} {'ms':>9}  note")
    print("-" * 110)
    for name, ms, note in rows:
        print(f"{name:<62} {ms:>9.1f}  {note}")
    print("-" * 110)
    print(f"worker RSS: {worker_rss:.0f} MB (parent state held once)")
    if child:
        print(
            "spin child: "
            + ", ".join(f"{k.removeprefix('child_')} {v:.1f}" for k, v in child.items())
            + "  (Private_* = what the child allocated or copied)"
        )
    print(
        "last warm spin timings (ms):",
        {k: round(v, 2) for k, v in last.timings.items() if k.endswith("_ms")},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
