"""Warm spins vs `metaflow spin` on steps that read, mutate and ignore a big parent DataFrame.

Why: flowspin promises that a warm spin's cost does not grow with the data the step touches.
A step that never looks at its parent's state flatters that promise, so this benchmark spins
three sibling steps whose only parent (`start`) holds a random float64 DataFrame of N rows x
2 columns ("c0", "v"), i.e. 16 bytes a row:

    read:    self.m = float(self.df["c0"].mean())   (reads the frame, stores a float)
    mutate:  self.df["v"] *= 2                     (changes a column in place)
    ignore:  self.x = 1                            (never touches the frame)

For each parent state size (16 MB, 160 MB, 1.6 GB; a real `run` in its own temp workspace)
it measures, per step:

- in-process warm: `SpinService(workspace, env=env).spin(flow, step)` (the editor's path),
  median of N spins ~0.1 s apart (editor cadence): wall time until `spin()` returns (for
  `mutate` that is when the result is visible) and the worker's own `duration_ms`;
- cold first: a new `SpinService`, its first spin (worker start and state load included);
- shell warm: `python -m flowspin.cli spin flow.py STEP --json` and the `flowspin` script,
  through the warm daemon (`flowspin daemon stop` before and after each size);
- `metaflow spin Flow/run/step/task` of the same task, last (it rewrites Metaflow's
  latest_run);

To tell the engine's cost from the step's own, the table also gives the step function's time
inside the spin (`timings.step_ms`) and the step body alone in a plain process on a hot frame
(the floor), and, for `mutate`, the time until its changed frame is written
(`Store.wait_written`, when the engine has it; the result's `persist` info is printed).

And, with FLOWSPIN_MEASURE_MEMORY=1, the spin child's private memory as a share of the state
size and the worker's RSS before and after 200 warm spins of `read` (at the smallest size
asked for, or at every size with --leak-check).

It prints one table of milliseconds against state size, the speed-up over `metaflow spin` and
the budgets: warm read/ignore in-process overhead (the spin's wall time less the step
function's own time, which grows with the data the step reads) <= 25 ms (goal 10); mutate at 160 MB
result visible <= 50 ms; shell warm read >= 15x faster than `metaflow spin` (goal 30x); cold
first spin of read <= 1.0x `metaflow spin`. Benchmarks assert nothing.

Run (from the repository root):

    .venv/bin/python benchmarks/bench_spin.py                        # 16 MB, 160 MB, 1.6 GB
    .venv/bin/python benchmarks/bench_spin.py --sizes 16,160 --quick --json-out /tmp/spin.json

The 1.6 GB size needs ~8 GB of free memory, ~10 GB of disk under $TMPDIR and several
minutes (most of it Metaflow's own `run` and `metaflow spin`); run it on a quiet machine.
`--quick` takes fewer repetitions; `--keep` keeps the temp workspaces (worker logs in
.flowspin/logs). Each size runs in its own temp workspace, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS = ("read", "mutate", "ignore")
DEFAULT_SIZES_MB = (16, 160, 1600)
FLOW_NAME = "SpinBenchFlow"
PAUSE_S = 0.1  # editor cadence between warm spins
LEAK_SPINS = 200

BUDGET_WARM_MS = 25.0  # read / ignore, in-process warm
GOAL_WARM_MS = 10.0
BUDGET_MUTATE_160_MS = 50.0  # mutate at 160 MB, result visible
BUDGET_SPEEDUP = 15.0  # metaflow spin / shell warm, read
GOAL_SPEEDUP = 30.0
BUDGET_COLD_RATIO = 1.0  # cold first spin / metaflow spin, read

BENCH_FLOW = """
import os

import numpy as np
import pandas as pd
from metaflow import FlowSpec, step

# Parent state size in MB (1e6 bytes): float64 x 2 columns = 16 bytes a row.
MB = float(os.environ.get("FLOWSPIN_BENCH_MB", "{mb}"))


class SpinBenchFlow(FlowSpec):
    @step
    def start(self):
        rows = int(MB * 1e6 / 16)
        rng = np.random.default_rng(0)
        self.df = pd.DataFrame(rng.random((rows, 2)), columns=["c0", "v"])
        self.next(self.read, self.mutate, self.ignore)

    @step
    def read(self):
        self.m = float(self.df["c0"].mean())
        self.next(self.join)

    @step
    def mutate(self):
        self.df["v"] *= 2
        self.next(self.join)

    @step
    def ignore(self):
        self.x = 1
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SpinBenchFlow()
"""

# The previous benchmark's flow (a ~160 MB parent and a trivial step `tiny`):
# bench_editor_spin.py imports it, with env_for.
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


def env_for(workdir: Path, mb: float | None = None) -> dict[str, str]:
    """Confine Metaflow to `workdir`: local metadata and datastore, a fixed user."""
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
    env.pop("FLOWSPIN_MEASURE_MEMORY", None)
    if mb is not None:
        env["FLOWSPIN_BENCH_MB"] = f"{mb:g}"
    return env


def size_label(mb: float) -> str:
    return f"{mb / 1000:g} GB" if mb >= 1000 else f"{mb:g} MB"


def state_mib(mb: float) -> float:
    """The DataFrame's data in MiB (what /proc reports), from its size in MB."""
    return int(mb * 1e6 / 16) * 16 / 2**20


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Workspace:
    """One temp workspace with the benchmark flow, run once at one state size."""

    def __init__(self, mb: float) -> None:
        self.mb = mb
        self.dir = Path(tempfile.mkdtemp(prefix=f"flowspin-bench-{mb:g}mb-"))
        (self.dir / ".git").mkdir()  # a workspace root, like a repository
        self.flow = self.dir / "flow.py"
        self.flow.write_text(textwrap.dedent(BENCH_FLOW).lstrip().replace("{mb}", f"{mb:g}"))
        self.env = env_for(self.dir, mb)
        self.tasks: dict[str, str] = {}

    def run(self) -> float:
        """A real `run` of the flow; fills `tasks` (step -> pathspec). Returns seconds."""
        started = time.perf_counter()
        proc = subprocess.run(
            # One task at a time: three siblings each loading the frame at once would triple
            # the peak memory at 1.6 GB.
            [
                sys.executable,
                "flow.py",
                "--no-pylint",
                "run",
                "--max-workers",
                "1",
                "--run-id-file",
                "run_id.txt",
            ],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            tail = proc.stdout[-2000:] + proc.stderr[-3000:]
            raise RuntimeError(f"the flow's run failed:\n{tail}")
        run_id = (self.dir / "run_id.txt").read_text().strip()
        # Local metadata: .metaflow/<Flow>/<run>/<step>/<task>/ (no client: its datastore root
        # is cached per process, and every size has its own workspace).
        run_dir = self.dir / ".metaflow" / FLOW_NAME / run_id
        for step in STEPS:
            ids = sorted(p.name for p in (run_dir / step).iterdir() if p.name.isdigit())
            if len(ids) != 1:
                raise RuntimeError(f"expected one task of {step} in {run_dir}, found {ids}")
            self.tasks[step] = f"{FLOW_NAME}/{run_id}/{step}/{ids[0]}"
        return time.perf_counter() - started

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


FLOOR = """
import json, statistics, sys, time
import numpy as np
import pandas as pd

rows = int(float(sys.argv[1]) * 1e6 / 16)
df = pd.DataFrame(np.random.default_rng(0).random((rows, 2)), columns=["c0", "v"])


def read():
    return float(df["c0"].mean())


def mutate():
    df["v"] *= 2


def ignore():
    return 1


out = {}
for name, fn in (("read", read), ("mutate", mutate), ("ignore", ignore)):
    fn()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def bench_floor(mb: float) -> dict[str, float]:
    """Each step's body alone, in a plain process on a hot in-memory frame: the floor."""
    proc = subprocess.run(
        [sys.executable, "-c", FLOOR, f"{mb:g}"], capture_output=True, text=True, timeout=900
    )
    if proc.returncode:
        log(f"  (no floor: {proc.stderr[-500:]})")
        return {}
    return json.loads(proc.stdout)


def checked(result: Any, what: str, ws: Workspace) -> Any:
    if not result.ok:
        err = result.error or {}
        msg = f"{what}: {result.status}: {err.get('type')}: {err.get('message')}"
        if err.get("traceback"):
            msg += "\n" + err["traceback"][-3000:]
        for path in sorted((ws.dir / ".flowspin" / "logs").glob("*.log")):
            msg += f"\n--- {path.name} (end) ---\n" + path.read_text(errors="replace")[-3000:]
        raise RuntimeError(msg)
    return result


def timed_spin(svc: Any, ws: Workspace, step: str) -> tuple[float, Any]:
    started = time.perf_counter()
    result = svc.spin(ws.flow, step)
    wall = (time.perf_counter() - started) * 1e3
    return wall, checked(result, f"spin of {step}", ws)


def persist_info(result: Any) -> dict[str, Any]:
    """Whatever the result says about persisting the spin (not part of the contract yet)."""
    out: dict[str, Any] = {}
    extra = getattr(result, "persist", None)
    if isinstance(extra, dict):
        out.update(extra)
    elif extra:
        out["persist"] = extra
    out.update({k: v for k, v in (result.timings or {}).items() if "persist" in k})
    return out


def bench_in_process(ws: Workspace, warm_n: int) -> dict[str, dict[str, Any]]:
    """Per step: a new service's first spin (cold), then warm spins ~0.1 s apart."""
    from flowspin.spin.service import SpinService

    out: dict[str, dict[str, Any]] = {}
    for step in STEPS:
        svc = SpinService(ws.dir, env=ws.env)
        try:
            cold, first = timed_spin(svc, ws, step)
            walls, durations, step_ms, persists = [], [], [], []
            last = first
            for _ in range(warm_n):
                time.sleep(PAUSE_S)
                wall, last = timed_spin(svc, ws, step)
                walls.append(wall)
                durations.append(last.duration_ms)
                if "step_ms" in last.timings:
                    step_ms.append(last.timings["step_ms"])
                info = persist_info(last)
                if info:
                    persists.append(info)
            persisted = until_persisted(svc, ws, 3) if step == "mutate" else []
        finally:
            svc.shutdown()
        out[step] = {
            "cold_ms": cold,
            "cold_duration_ms": first.duration_ms,
            "warm_wall_ms": med(walls),
            "warm_duration_ms": med(durations),
            "warm_step_ms": med(step_ms),
            "until_persisted_ms": med(persisted),
            "warm_wall_min_ms": min(walls) if walls else None,
            "warm_wall_max_ms": max(walls) if walls else None,
            "persist": persists[-1] if persists else None,
            "timings": {k: round(v, 2) for k, v in last.timings.items() if k.endswith("_ms")},
            "changed": sorted(n for n, a in last.artifacts.items() if a.get("changed")),
        }
        log(
            f"  in-process {step}: cold {cold:.0f} ms, warm median {med(walls) or 0:.1f} ms "
            f"wall / {med(durations) or 0:.1f} ms worker"
        )
    return out


def until_persisted(svc: Any, ws: Workspace, n: int) -> list[float]:
    """Spin, then wait until the spin's changed artifacts are written (`Store.wait_written`,
    where the engine has it): the time until a reader of the spin gets its bytes."""
    try:
        from flowspin.store.store import Store

        wait = Store(ws.dir).wait_written
    except (ImportError, AttributeError):
        return []
    out = []
    for _ in range(n):
        time.sleep(PAUSE_S)
        started = time.perf_counter()
        result = checked(svc.spin(ws.flow, "mutate"), "spin of mutate", ws)
        try:
            wait(str(ws.flow), "mutate", result.spin_id)
        except (TypeError, TimeoutError, OSError) as exc:
            log(f"  (no time until persisted: {exc})")
            return []
        out.append((time.perf_counter() - started) * 1e3)
    return out


def bench_memory(ws: Workspace, leak_spins: int) -> dict[str, Any]:
    """The spin child's private memory per step, and the worker's RSS over many spins."""
    from flowspin.spin.service import SpinService

    env = {**ws.env, "FLOWSPIN_MEASURE_MEMORY": "1"}
    svc = SpinService(ws.dir, env=env)
    out: dict[str, Any] = {"state_mib": state_mib(ws.mb), "child": {}}
    try:
        checked(svc.spin(ws.flow, "read"), "memory: first spin of read", ws)
        for step in STEPS:
            figures: dict[str, list[float]] = {}
            for _ in range(3):
                time.sleep(PAUSE_S)
                _, res = timed_spin(svc, ws, step)
                for k, v in res.timings.items():
                    if k.startswith("child_") and k.endswith("_mb"):
                        figures.setdefault(k.removeprefix("child_").removesuffix("_mb"), [])
                        figures[k.removeprefix("child_").removesuffix("_mb")].append(v)
            child = {k: statistics.median(v) for k, v in figures.items()}
            if "Private_Dirty" in child or "Private_Clean" in child:
                private = child.get("Private_Dirty", 0.0) + child.get("Private_Clean", 0.0)
                child["private"] = private
                child["private_pct_of_state"] = 100 * private / out["state_mib"]
            out["child"][step] = child
        pid = svc.worker_pid(ws.flow)
        out["worker_rss_before_mb"] = rss_mb(pid)
        if leak_spins:
            started = time.perf_counter()
            for _ in range(leak_spins):
                time.sleep(PAUSE_S)
                timed_spin(svc, ws, "read")
            out["leak_spins"] = leak_spins
            out["leak_seconds"] = time.perf_counter() - started
            out["worker_pid_same"] = svc.worker_pid(ws.flow) == pid
            out["worker_rss_after_mb"] = rss_mb(svc.worker_pid(ws.flow))
    finally:
        svc.shutdown()
    return out


def run_cmd(cmd: list[str], ws: Workspace, what: str, timeout: float = 900) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ws.dir, env=ws.env, capture_output=True, text=True, timeout=timeout
    )
    wall = (time.perf_counter() - started) * 1e3
    if proc.returncode:
        raise RuntimeError(
            f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
    return wall, proc.stdout


def daemon_stop(ws: Workspace) -> None:
    subprocess.run(
        [sys.executable, "-m", "flowspin.cli", "daemon", "stop"],
        cwd=ws.dir,
        env=ws.env,
        capture_output=True,
        timeout=120,
    )


def bench_shell(ws: Workspace, shell_n: int) -> dict[str, Any]:
    """`flowspin spin FILE STEP --json` from a shell, through the workspace's warm daemon."""
    py = sys.executable
    commands: dict[str, Callable[[str], list[str]]] = {
        "module": lambda step: [py, "-m", "flowspin.cli", "spin", "flow.py", step, "--json"]
    }
    script = Path(py).parent / "flowspin"
    if script.exists():
        commands["script"] = lambda step: [str(script), "spin", "flow.py", step, "--json"]
    out: dict[str, Any] = {"steps": {}}
    daemon_stop(ws)
    try:
        first, text = run_cmd(commands["module"]("read"), ws, "shell spin (daemon start)")
        out["first_call_ms"] = first
        out["first_status"] = json.loads(text)["status"]
        for step in STEPS:
            per: dict[str, Any] = {}
            for name, make in commands.items():
                cmd = make(step)
                run_cmd(cmd, ws, f"shell spin of {step}")  # warm-up: this step's first spin
                walls = []
                for _ in range(shell_n):
                    time.sleep(PAUSE_S)
                    wall, text = run_cmd(cmd, ws, f"shell spin of {step}")
                    walls.append(wall)
                answer = json.loads(text)
                if answer.get("status") != "ok":
                    raise RuntimeError(f"shell spin of {step}: {answer.get('error')}")
                per[name] = med(walls)
                if "persist" in answer:
                    per["persist"] = answer["persist"]
            out["steps"][step] = per
            log(
                f"  shell {step}: "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in per.items() if isinstance(v, float))
            )
    finally:
        daemon_stop(ws)
    return out


def bench_metaflow(ws: Workspace, reps: int) -> dict[str, float]:
    """`metaflow spin` of the same tasks. Last: it rewrites latest_run."""
    out = {}
    for step in STEPS:
        cmd = [sys.executable, "flow.py", "--no-pylint", "spin", ws.tasks[step]]
        walls = [run_cmd(cmd, ws, f"metaflow spin of {step}")[0] for _ in range(reps)]
        out[step] = med(walls)
        log(f"  metaflow spin {step}: {out[step]:.0f} ms (median of {reps})")
    return out


def bench_size(mb: float, args: argparse.Namespace, leak: bool) -> dict[str, Any]:
    big = mb >= 1000
    warm_n = 8 if args.quick else (10 if big else 20)
    shell_n = 4 if args.quick else (5 if big else 10)
    mf_reps = 1 if args.quick else (2 if big else 3)
    ws = Workspace(mb)
    data: dict[str, Any] = {"mb": mb, "workspace": str(ws.dir)}
    try:
        data["floor"] = bench_floor(mb)
        log(f"{size_label(mb)}: running the flow once in {ws.dir} ...")
        data["run_s"] = ws.run()
        log(f"{size_label(mb)}: run took {data['run_s']:.1f} s; tasks {ws.tasks}")
        data["in_process"] = bench_in_process(ws, warm_n)
        data["memory"] = bench_memory(ws, LEAK_SPINS if leak else 0)
        data["shell"] = bench_shell(ws, shell_n)
        data["metaflow"] = bench_metaflow(ws, mf_reps)
        data["reps"] = {"warm": warm_n, "shell": shell_n, "metaflow": mf_reps}
    finally:
        if args.keep:
            log(f"kept {ws.dir}")
        else:
            ws.cleanup()
    return data


ROWS = [
    ("in-process warm, wall", ("in_process", "warm_wall_ms")),
    ("in-process warm, worker duration_ms", ("in_process", "warm_duration_ms")),
    ("in-process warm, step function (timings.step_ms)", ("in_process", "warm_step_ms")),
    ("in-process warm, overhead (wall - step function)", ("overhead", None)),
    ("step body alone, plain process, hot frame", ("floor", None)),
    ("shell warm, python -m flowspin.cli", ("shell", "module")),
    ("shell warm, flowspin script", ("shell", "script")),
    ("cold first (new SpinService)", ("in_process", "cold_ms")),
    ("metaflow spin", ("metaflow", None)),
]


def cell(data: dict[str, Any], step: str, where: tuple[str, str | None]) -> float | None:
    part, key = where
    if part == "in_process":
        return data["in_process"][step].get(key)
    if part == "shell":
        return data["shell"]["steps"].get(step, {}).get(key)
    if part == "floor":
        return data.get("floor", {}).get(step)
    if part == "overhead":
        return overhead(data, step)
    return data["metaflow"].get(step)


def table(results: dict[float, dict[str, Any]], sizes: list[float]) -> dict[str, Any]:
    rows = []
    for step in STEPS:
        for label, where in ROWS:
            rows.append(
                {
                    "step": step,
                    "what": label,
                    "ms": {
                        size_label(mb): cell(results[mb], step, where)
                        for mb in sizes
                        if mb in results
                    },
                }
            )
    rows.insert(
        len(ROWS) + 1,  # under mutate's "in-process warm, wall"
        {
            "step": "mutate",
            "what": "in-process warm, until persisted (wait_written)",
            "ms": {
                size_label(mb): results[mb]["in_process"]["mutate"].get("until_persisted_ms")
                for mb in results
            },
        },
    )
    rows.append(
        {
            "step": "read",
            "what": "shell first call (starts the daemon)",
            "ms": {size_label(mb): results[mb]["shell"].get("first_call_ms") for mb in results},
        }
    )
    return {"columns": [size_label(mb) for mb in sizes], "rows": rows}


def verdict(value: float | None, budget: float, goal: float | None, higher: bool) -> str:
    if value is None:
        return "n/a"
    ok = value >= budget if higher else value <= budget
    met_goal = goal is not None and (value >= goal if higher else value <= goal)
    return "goal met" if met_goal else ("ok" if ok else "OVER BUDGET")


def overhead(data: dict[str, Any], step: str) -> float | None:
    """What the spin costs beyond the step's own work: the budget is about this. The step's
    own time grows with the data it reads (a mean over 1.6 GB is the user's cost, not ours)."""
    ip = data["in_process"][step]
    wall, own = ip.get("warm_wall_ms"), ip.get("warm_step_ms")
    if wall is None:
        return None
    return wall - (own or 0.0)


def summary(results: dict[float, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mb, d in results.items():
        col = size_label(mb)
        mf_read = d["metaflow"].get("read")
        shell = d["shell"]["steps"].get("read", {})
        ip = d["in_process"]
        s: dict[str, Any] = {}
        for name in ("script", "module"):
            if shell.get(name) and mf_read:
                s[f"speedup_{name}"] = mf_read / shell[name]
        best = s.get("speedup_script", s.get("speedup_module"))
        s["speedup_verdict"] = verdict(best, BUDGET_SPEEDUP, GOAL_SPEEDUP, higher=True)
        for step in ("read", "ignore"):
            v = overhead(d, step)
            s[f"warm_{step}_verdict"] = verdict(v, BUDGET_WARM_MS, GOAL_WARM_MS, higher=False)
        if mb == 160:
            v = ip["mutate"]["warm_wall_ms"]
            s["mutate_visible_verdict"] = verdict(v, BUDGET_MUTATE_160_MS, None, higher=False)
        if mf_read:
            s["cold_ratio"] = ip["read"]["cold_ms"] / mf_read
            s["cold_verdict"] = verdict(s["cold_ratio"], BUDGET_COLD_RATIO, None, higher=False)
        out[col] = s
    return out


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def report(results: dict[float, dict[str, Any]], sizes: list[float]) -> dict[str, Any]:
    tab = table(results, sizes)
    summ = summary(results)
    cols = tab["columns"]
    width = max(len(r["what"]) for r in tab["rows"]) + 2
    line = "-" * (width + 12 * len(cols) + 8)
    print()
    print("milliseconds (medians) against the parent's state size")
    print(f"{'step':<8}{'what':<{width}}" + "".join(f"{c:>12}" for c in cols))
    print(line)
    previous = None
    for row in tab["rows"]:
        if previous is not None and row["step"] != previous or row["what"].startswith("shell f"):
            print()
        previous = row["step"]
        print(
            f"{row['step']:<8}{row['what']:<{width}}"
            + "".join(f"{fmt(row['ms'].get(c)):>12}" for c in cols)
        )
    print(line)

    def per_size(fn: Callable[[str], str]) -> str:
        return " | ".join(f"{c}: {fn(c)}" for c in cols if c in summ)

    def sp(c: str) -> str:
        s = summ[c]
        parts = [f"{s[k]:.1f}x" for k in ("speedup_script", "speedup_module") if k in s]
        return f"{' / '.join(parts) or 'n/a'} ({s['speedup_verdict']})"

    print(
        "speed-up, metaflow spin / shell warm, read (script / python -m; budget >= "
        f"{BUDGET_SPEEDUP:g}x, goal {GOAL_SPEEDUP:g}x):"
    )
    print("  " + per_size(sp))
    print(
        f"warm in-process overhead (wall - the step's own time), read / ignore (budget <= "
        f"{BUDGET_WARM_MS:g} ms, goal {GOAL_WARM_MS:g}):"
    )
    print(
        "  "
        + per_size(lambda c: f"{summ[c]['warm_read_verdict']} / {summ[c]['warm_ignore_verdict']}")
    )
    if "160 MB" in summ:
        v = results[160]["in_process"]["mutate"]["warm_wall_ms"]
        print(
            f"mutate at 160 MB, result visible (budget <= {BUDGET_MUTATE_160_MS:g} ms): "
            f"{fmt(v)} ms ({summ['160 MB']['mutate_visible_verdict']})"
        )
    else:
        print(f"mutate at 160 MB, result visible (budget <= {BUDGET_MUTATE_160_MS:g} ms): n/a")
    print(f"cold first spin of read / metaflow spin of read (budget <= {BUDGET_COLD_RATIO:g}x):")
    print(
        "  "
        + per_size(
            lambda c: (
                f"{summ[c]['cold_ratio']:.2f}x ({summ[c]['cold_verdict']})"
                if "cold_ratio" in summ[c]
                else "n/a"
            )
        )
    )

    print("memory (FLOWSPIN_MEASURE_MEMORY=1; child Private = Private_Dirty + Private_Clean):")
    for mb, d in results.items():
        m = d["memory"]
        parts = []
        for step in STEPS:
            child = m["child"].get(step, {})
            if "private" in child:
                parts.append(
                    f"{step} child private {child['private']:.1f} MiB "
                    f"({child['private_pct_of_state']:.1f}% of state)"
                )
            else:
                parts.append(f"{step} child: not reported")
        read, ignore = m["child"].get("read", {}), m["child"].get("ignore", {})
        if "private" in read and "private" in ignore:
            parts.append(f"read beyond ignore {read['private'] - ignore['private']:+.1f} MiB")
        print(f"  {size_label(mb)} (state {m['state_mib']:.0f} MiB): " + "; ".join(parts))
        rss = f"worker RSS {m['worker_rss_before_mb']:.0f} MiB"
        if "worker_rss_after_mb" in m:
            rss += (
                f" before, {m['worker_rss_after_mb']:.0f} MiB after {m['leak_spins']} warm spins "
                f"of read ({m['leak_seconds']:.0f} s"
                + ("" if m.get("worker_pid_same") else "; the worker was replaced!")
                + ")"
            )
        print(f"    {rss}")
    for mb, d in results.items():
        mut = d["in_process"]["mutate"]
        persist = mut.get("persist") or d["shell"]["steps"].get("mutate", {}).get("persist")
        print(
            f"mutate at {size_label(mb)}: persist "
            + (json.dumps(persist, default=str) if persist else "not reported by the result")
            + f"; changed {mut['changed']}; last warm timings {mut['timings']}"
        )
    return {"table": tab, "summary": summ}


def parse_sizes(text: str) -> list[float]:
    try:
        sizes = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"--sizes expects MB numbers, e.g. 16,160: {text}"
        raise argparse.ArgumentTypeError(msg) from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"--sizes expects positive MB numbers: {text}")
    return sorted(sizes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES_MB),
        help="parent state sizes in MB, comma separated (default 16,160,1600)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--leak-check",
        action="store_true",
        help=f"{LEAK_SPINS} warm spins at every size (default: at the smallest only)",
    )
    parser.add_argument("--json-out", type=Path, help="also write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp workspaces")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results: dict[float, dict[str, Any]] = {}
    for mb in args.sizes:
        leak = args.leak_check or mb == args.sizes[0]
        results[mb] = bench_size(mb, args, leak)
        log(f"{size_label(mb)} done after {time.perf_counter() - started:.0f} s")
    out = report(results, args.sizes)
    if args.json_out:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
        ).stdout.strip()
        doc = {
            "benchmark": "bench_spin",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "commit": commit,
            "quick": args.quick,
            "sizes_mb": args.sizes,
            **out,
            "budgets": {
                "warm_read_ignore_ms": BUDGET_WARM_MS,
                "warm_read_ignore_goal_ms": GOAL_WARM_MS,
                "mutate_160mb_visible_ms": BUDGET_MUTATE_160_MS,
                "speedup_min": BUDGET_SPEEDUP,
                "speedup_goal": GOAL_SPEEDUP,
                "cold_over_metaflow_max": BUDGET_COLD_RATIO,
            },
            "details": {size_label(mb): d for mb, d in results.items()},
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print(f"JSON written to {args.json_out}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
