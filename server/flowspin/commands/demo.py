"""`flowspin demo`: the quick start's main job, on the bundled example flow.

It copies the example flow shipped in the package (`flowspin/examples/demo/flow.py`, also in
the repository as `examples/demo/flow.py`) into a scratch workspace (so the user's datastore is
never touched), checks it, prints its graph, runs it once through Metaflow, then spins a step
twice (cold, then warm) and prints where the card is and how long everything took.

The scratch workspace is one fixed folder, emptied at the start of each demo: the card paths
the demo prints stay valid after it, and demos never pile up folders in /tmp.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Inside the package, not beside it: an installed wheel has no repository around it.
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "demo" / "flow.py"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="check, run and spin the example flow in a scratch folder",
        description=__doc__,
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="folder to run the demo in (default: a scratch folder in ~/.cache, emptied first)",
    )
    parser.add_argument("--step", default="train", help="step to spin (default: train)")
    parser.set_defaults(func=run)


def scratch_folder() -> Path:
    """The default demo workspace: one per user, under the cache folder, reused by every
    demo (a new temporary folder per demo was left behind each time)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "flowspin-demo"


def _fresh_scratch() -> Path:
    folder = scratch_folder()
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


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

    if not EXAMPLE.is_file():
        print(f"flowspin demo: example flow not found at {EXAMPLE}", file=sys.stderr)
        return 2
    if args.workspace:
        workspace = args.workspace.resolve()
        workspace.mkdir(parents=True, exist_ok=True)
    else:
        workspace = _fresh_scratch()
    flow_file = workspace / "flow.py"
    shutil.copyfile(EXAMPLE, flow_file)
    (workspace / ".flowspin").mkdir(exist_ok=True)
    print(f"workspace: {workspace}")
    timings: list[tuple[str, float]] = []

    _section(f"flowspin check {flow_file.name}")
    started = time.perf_counter()
    code = _command(["check", str(flow_file)])
    timings.append(("check (parse + lint)", time.perf_counter() - started))
    if code:
        return code

    _section(f"flowspin graph {flow_file.name}")
    _command(["graph", str(flow_file)])

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

    _section("timings (a spin: in its worker, from the request to the saved result)")
    for label, seconds in timings:
        print(f"  {label:<44} {seconds * 1000:10.1f} ms")
    return code


def _command(argv: list[str]) -> int:
    """A flowspin subcommand, in this process (as `flowspin ARGV` would run it)."""
    from flowspin.commands import build_parser

    args = build_parser(argv[0]).parse_args(argv)
    return int(args.func(args) or 0)


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
        for i, (step, label) in enumerate(plan):
            _section(f"spin {step}: {label}")
            started = time.perf_counter()
            result = service.spin(
                flow_file,
                step,
                SpinOptions(),
                on_log=lambda _stream, text: print("  | " + text.rstrip(), flush=True),
            )
            # One duration per spin: the worker's, from the request to the saved result
            # (parent state, the step, its artifacts). What the call took beyond that is the
            # worker's start (Python and the flow's imports), paid once per flow file.
            startup = time.perf_counter() - started - result.duration_ms / 1000.0
            print(
                f"status={result.status} mode={result.mode} base run={result.base['run_id']} "
                f"spin took {result.duration_ms:.1f} ms"
            )
            if i == 0:
                print(f"  (before it: {startup * 1000:.1f} ms to start the worker and import "
                      "the flow, once per flow file)")
                timings.append(("worker start (once per flow file)", startup))
            timings.append((f"spin {step}, {label}", result.duration_ms / 1000.0))
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
