"""`flowspin demo`: the quick start's main job, on the bundled example flow.

It copies `examples/demo/flow.py` into a scratch workspace (so the user's datastore is never
touched), checks it, prints its graph, runs it once through Metaflow, then spins a step twice
(cold, then warm) and prints where the card is and how long everything took.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "demo" / "flow.py"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="check, run and spin the bundled example flow in a scratch workspace",
        description=__doc__,
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="folder to run the demo in (default: a new temporary folder)",
    )
    parser.add_argument("--step", default="train", help="step to spin (default: train)")
    parser.set_defaults(func=run)


def _section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _demo_env(workspace: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("METAFLOW_USER", env.get("USER") or "flowspin-demo")
    env.setdefault("USERNAME", env["METAFLOW_USER"])
    env["METAFLOW_DEFAULT_METADATA"] = "local"
    env["METAFLOW_DEFAULT_DATASTORE"] = "local"
    env["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(workspace)
    return env


def run(args: argparse.Namespace) -> int:
    from flowspin.cli import main as flowspin_main

    if not EXAMPLE.is_file():
        print(f"flowspin demo: example flow not found at {EXAMPLE}", file=sys.stderr)
        return 2
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="flowspin-demo-"))
    workspace.mkdir(parents=True, exist_ok=True)
    flow_file = workspace / "flow.py"
    shutil.copyfile(EXAMPLE, flow_file)
    (workspace / ".flowspin").mkdir(exist_ok=True)
    print(f"workspace: {workspace}")
    timings: list[tuple[str, float]] = []

    _section(f"flowspin check {flow_file.name}")
    started = time.perf_counter()
    code = flowspin_main(["check", str(flow_file)])
    timings.append(("check (parse + lint)", time.perf_counter() - started))
    if code:
        return code

    _section(f"flowspin graph {flow_file.name}")
    flowspin_main(["graph", str(flow_file)])

    env = _demo_env(workspace)
    os.environ.update({k: env[k] for k in env if k.startswith("METAFLOW_") or k == "USERNAME"})

    _section(f"python {flow_file.name} run  (a real Metaflow run: the base for spins)")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, flow_file.name, "--no-pylint", "run"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
    )
    timings.append(("metaflow run (whole flow)", time.perf_counter() - started))
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-4:]
    print("\n".join(tail))
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    run_card = _newest_card(workspace)
    if run_card:
        print(f"run card (end step): {run_card}")

    code = _spin_section(workspace, flow_file, args.step, timings)

    _section("timings")
    for label, seconds in timings:
        print(f"  {label:<40} {seconds * 1000:10.1f} ms")
    return code


def _spin_section(
    workspace: Path, flow_file: Path, step: str, timings: list[tuple[str, float]]
) -> int:
    try:
        from flowspin.spin.service import SpinOptions, SpinService
    except ImportError:
        print("\n(spin is not available in this build; skipping the spin part of the demo)")
        return 0
    service = SpinService(workspace)
    try:
        plan = [
            (step, "first spin (cold worker)"),
            (step, "second spin (warm worker)"),
            ("end", "the @card step (warm worker)"),
        ]
        for step, label in plan:
            _section(f"spin {step}: {label}")
            started = time.perf_counter()
            result = service.spin(
                flow_file,
                step,
                SpinOptions(),
                on_log=lambda _stream, text: print("  | " + text.rstrip(), flush=True),
            )
            elapsed = time.perf_counter() - started
            timings.append((f"spin {step}, {label}", elapsed))
            print(
                f"status={result.status} mode={result.mode} base run={result.base['run_id']} "
                f"step time={result.duration_ms:.1f} ms"
            )
            if result.status != "ok":
                print(f"error: {result.error}", file=sys.stderr)
                return 1
            for name, info in result.artifacts.items():
                if info.get("changed"):
                    print(f"  {name} ({info['type']}) = {info['repr'][:80]}")
            for card in result.cards:
                print(f"spin card: {card['path']}")
    finally:
        service.shutdown()
    return 0


def _newest_card(workspace: Path) -> Path | None:
    cards = sorted(workspace.glob(".metaflow/mf.cards/**/*.html"), key=lambda p: p.stat().st_mtime)
    return cards[-1] if cards else None
