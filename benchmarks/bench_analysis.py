"""Static analysis speed: flowspin parse + lint vs `python flow.py --no-pylint check`.

Generates flows of ~200 and ~2,000 steps mixing linear steps, static splits with joins and
foreach blocks, writes each into a scratch folder, and prints a table:

- flowspin parse+lint: `check_source` in process, median (and min) of N runs (what the
  language server pays on every edit; budget for 200 steps: <= 50 ms median);
- flowspin CLI: `flowspin check FILE` as a subprocess (interpreter start included);
- Metaflow: `python flow.py --no-pylint check` (interpreter start and Metaflow import included).

Metaflow's checker walks every path of the DAG, so its cost grows with the number of paths;
the generated flows keep static splits nested inside one top-level split so that it finishes.
The optional "sequential splits" row shows what happens when splits follow each other.

Usage: python benchmarks/bench_analysis.py [--runs N] [--no-metaflow] [--sequential]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowspin.analysis import check_source

BUDGET_MS = 50.0


class _Writer:
    def __init__(self, name: str) -> None:
        self.lines = [
            "from metaflow import FlowSpec, Parameter, card, step",
            "",
            "",
            f"class {name}(FlowSpec):",
            '    width = Parameter("width", default=3)',
            "",
        ]
        self.count = 0
        self.counter = 0

    def new_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def step(self, name: str, body: list[str], next_call: str, join: bool = False) -> None:
        self.count += 1
        decorator = ["    @card"] if self.count % 10 == 0 else []
        args = "self, inputs" if join else "self"
        self.lines += decorator + ["    @step", f"    def {name}({args}):"]
        self.lines += [f"        {line}" for line in body]
        if next_call:
            self.lines.append(f"        {next_call}")
        self.lines.append("")


def _chain(w: _Writer, first: str, budget: int, then: str, allow_split: bool) -> None:
    """Steps from `first` on, about `budget` of them, ending with a transition to `then`."""
    current = first
    kinds = ["linear", "foreach", "linear", "split" if allow_split else "linear"]
    k = 0
    used = 0
    while True:
        remaining = budget - used
        kind = kinds[k % len(kinds)] if remaining > 4 else "linear"
        k += 1
        if remaining <= 1:
            w.step(current, [f"self.v_{w.counter} = {used}"], f"self.next(self.{then})")
            return
        if kind == "linear":
            nxt = w.new_name("s")
            w.step(current, [f"self.a_{w.counter} = {used}"], f"self.next(self.{nxt})")
            used += 1
        elif kind == "foreach":
            body, join, nxt = w.new_name("body"), w.new_name("collect"), w.new_name("s")
            w.step(
                current,
                [f"self.items_{w.counter} = list(range(self.width))"],
                f'self.next(self.{body}, foreach="items_{w.counter}")',
            )
            w.step(body, ["self.item = self.input * 2"], f"self.next(self.{join})")
            w.step(
                join,
                ["self.total = sum(i.item for i in inputs)"],
                f"self.next(self.{nxt})",
                join=True,
            )
            used += 3
        else:
            left, right = w.new_name("left"), w.new_name("right")
            join, nxt = w.new_name("merge"), w.new_name("s")
            w.step(current, ["self.seed = 1"], f"self.next(self.{left}, self.{right})")
            w.step(left, ["self.x = self.seed + 1"], f"self.next(self.{join})")
            w.step(right, ["self.x = self.seed + 2"], f"self.next(self.{join})")
            w.step(
                join,
                ["self.best = max(i.x for i in inputs)"],
                f"self.next(self.{nxt})",
                join=True,
            )
            used += 4
            allow_split = False  # one nested split per branch keeps Metaflow's path count low
            kinds = ["linear", "foreach", "linear", "linear"]
        current = nxt


def generate(n_steps: int, branches: int) -> str:
    """A flow of about `n_steps` steps: start fans out into `branches` chains, joined at the end."""
    w = _Writer(f"Generated{n_steps}Flow")
    heads = [f"branch_{i}" for i in range(branches)]
    per_branch = max((n_steps - 3) // branches, 2)
    targets = ", ".join(f"self.{h}" for h in heads)
    w.step("start", ["self.seed = 0"], f"self.next({targets})")
    for head in heads:
        _chain(w, head, per_branch, "join_all", allow_split=True)
    w.step("join_all", ["self.done = True"], "self.next(self.end)", join=True)
    w.step("end", ["print(self.done)"], "")
    w.lines += ["", 'if __name__ == "__main__":', f"    Generated{n_steps}Flow()", ""]
    return "\n".join(w.lines)


def generate_sequential(n_steps: int) -> str:
    """Splits one after the other: 2**k paths for k splits (hard for path enumeration)."""
    w = _Writer(f"Sequential{n_steps}Flow")
    w.step("start", ["self.seed = 0"], "self.next(self.s_0)")
    w.counter = 0
    _chain_sequential(w, n_steps - 2)
    w.step("end", ["print(self.seed)"], "")
    w.lines += ["", 'if __name__ == "__main__":', f"    Sequential{n_steps}Flow()", ""]
    return "\n".join(w.lines)


def _chain_sequential(w: _Writer, budget: int) -> None:
    current = "s_0"
    used = 0
    while budget - used > 4:
        left, right = w.new_name("left"), w.new_name("right")
        join, nxt = w.new_name("merge"), w.new_name("s")
        w.step(current, [], f"self.next(self.{left}, self.{right})")
        w.step(left, [], f"self.next(self.{join})")
        w.step(right, [], f"self.next(self.{join})")
        w.step(join, [], f"self.next(self.{nxt})", join=True)
        current = nxt
        used += 4
    w.step(current, [], "self.next(self.end)")


def time_flowspin(source: str, path: str, runs: int) -> tuple[float, int, int, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model, diagnostics = check_source(source, path)
        times.append((time.perf_counter() - t0) * 1000)
    steps = sum(len(f.steps) for f in model.flows)
    errors = sum(1 for d in diagnostics if d.severity == "error")
    return statistics.median(times), steps, errors, min(times)


def env_for(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        METAFLOW_USER="bench",
        USERNAME="bench",
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(folder),
        METAFLOW_HOME=str(folder / ".metaflowconfig"),
    )
    return env


def time_command(cmd: list[str], folder: Path, timeout: float) -> tuple[float, str]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=folder, env=env_for(folder), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return (time.perf_counter() - t0) * 1000, f"timeout after {timeout:.0f} s"
    elapsed = (time.perf_counter() - t0) * 1000
    output = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return elapsed, "ok"
    for marker in ("RecursionError", "Validity checker", "Traceback"):
        if marker in output:
            return elapsed, f"failed ({marker})"
    return elapsed, f"failed (exit {proc.returncode})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="in-process runs (median)")
    parser.add_argument("--no-metaflow", action="store_true", help="skip Metaflow's check")
    parser.add_argument(
        "--sequential", action="store_true", help="add a 200-step flow of sequential splits"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="Metaflow check timeout")
    args = parser.parse_args()

    cases = [("mixed 200", generate(200, 4)), ("mixed 2000", generate(2000, 20))]
    if args.sequential:
        cases.append(("sequential splits 200", generate_sequential(200)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="flowspin-bench-") as tmp:
        for label, source in cases:
            folder = Path(tmp) / label.replace(" ", "_")
            folder.mkdir()
            path = folder / "flow.py"
            path.write_text(source)
            runs = args.runs if "2000" not in label else max(args.runs // 3, 3)
            median_ms, steps, errors, best_ms = time_flowspin(source, str(path), runs)
            cli_ms, cli_status = time_command(
                [sys.executable, "-m", "flowspin", "check", str(path)], folder, 120
            )
            if args.no_metaflow:
                mf_ms, mf_status = float("nan"), "skipped"
            else:
                mf_ms, mf_status = time_command(
                    [sys.executable, "flow.py", "--no-pylint", "check"], folder, args.timeout
                )
            rows.append((label, steps, median_ms, best_ms, errors, cli_ms, mf_ms, mf_status))

    header = (
        f"{'flow':<22} {'steps':>5}  {'parse+lint median':>17}  {'(min)':>9}"
        f"  {'flowspin check CLI':>18}"
        f"  {'python flow.py check':>20}  metaflow result"
    )
    print(header)
    print("-" * len(header))
    for label, steps, median_ms, best_ms, errors, cli_ms, mf_ms, mf_status in rows:
        print(
            f"{label:<22} {steps:>5}  {median_ms:>14.1f} ms  {best_ms:>6.1f} ms  {cli_ms:>15.0f} ms"
            f"  {mf_ms:>17.0f} ms  {mf_status}"
            + (f"  [flowspin: {errors} errors]" if errors else "")
        )
    small = rows[0][2]
    verdict = "within" if small <= BUDGET_MS else "OVER"
    print(f"\nbudget: 200-step parse+lint <= {BUDGET_MS:.0f} ms -> {small:.1f} ms ({verdict})")
    return 0 if small <= BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
