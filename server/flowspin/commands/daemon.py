"""`flowspin daemon status|stop|start`: the per-workspace warm daemon."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "daemon",
        help="status / stop / start the workspace's warm spin daemon",
        description="The per-workspace daemon keeps spin workers warm between shell spins. "
        "`start` starts it (spins do that on demand), `status` lists its workers, `stop` "
        "closes it to new spins at once, lets running spins finish (up to "
        "FLOWSPIN_DAEMON_DRAIN_S, 30 s, then they end as cancelled) and returns once it has "
        "let go of the workspace. Each spin brings its caller's Metaflow "
        "user and METAFLOW_* settings (a worker per identity); for other variables it keeps "
        "the environment of the call that started it: stop it to pick up such a change.",
    )
    p.add_argument("action", choices=["status", "stop", "start"])
    p.add_argument(
        "--workspace", default=None, help="workspace folder or a file in it (default: .)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowspin.daemon import client
    from flowspin.store.layout import workspace_root

    target = Path(args.workspace or os.getcwd()).resolve()
    workspace = workspace_root(target / "_" if target.is_dir() else target)
    if args.action == "start":
        sock = client.ensure(workspace)
        sock.close()
        args.action = "status"
    try:
        frames = list(client.request(workspace, {"type": args.action}))
    except client.DaemonUnavailable:
        if args.json:
            print(json.dumps({"running": False, "workspace": str(workspace)}))
        else:
            print(f"no flowspin daemon runs for {workspace}")
        return 0 if args.action == "stop" else 1
    reply = frames[-1] if frames else {}
    if args.action == "stop":
        running = reply.get("running") or 0
        drain = float(reply.get("drain_s") or 30)
        if running and not args.json:
            print(
                f"flowspin daemon stop: waiting for {running} running spin(s) to finish "
                f"(at most {drain:g} s, then they are cancelled)",
                file=sys.stderr,
            )
        # The drain, then the cancelled spins' end and the workers' shutdown.
        if not client.wait_released(workspace, timeout=drain + 30):
            pid = reply.get("pid")
            print(f"flowspin daemon stop: pid {pid} is still shutting down", file=sys.stderr)
    if args.json:
        print(json.dumps({"running": args.action == "status", **reply}))
    elif args.action == "stop":
        print(f"stopped flowspin daemon (pid {reply.get('pid')}) for {workspace}")
    else:
        workers = reply.get("workers", {})
        print(f"flowspin daemon pid {reply.get('pid')} for {workspace}, {len(workers)} worker(s)")
        for path, w in workers.items():
            print(f"  {path}: pid {w['pid']} {'alive' if w['alive'] else 'dead'}")
    return 0
