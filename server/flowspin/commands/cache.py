"""`flowspin cache info|clear`: the local cache of artifacts read from remote datastores."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cache",
        help="info / clear the local cache of artifacts of cloud runs",
        description="Parent artifacts a spin reads from a remote Metaflow datastore are kept "
        "on disk, content-addressed by Metaflow's artifact keys, so a restarted worker loads "
        "them with no network. Least recently used blobs go first past "
        "FLOWSPIN_ARTIFACT_CACHE_MB (default 10240); FLOWSPIN_ARTIFACT_CACHE_DIR moves it "
        "(default ~/.cache/flowspin/artifacts). `info` shows its size, `clear` empties it.",
    )
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def run(args: argparse.Namespace) -> int:
    from flowspin.store.artifact_cache import ArtifactCache

    cache = ArtifactCache()
    if args.action == "clear":
        out = cache.clear()
        if args.json:
            print(json.dumps(out))
        else:
            print(f"removed {out['blobs']} artifacts ({_mb(out['bytes'])}) from {out['path']}")
        return 0
    info = cache.info()
    if args.json:
        print(json.dumps(info))
    else:
        print(
            f"{info['path']}: {info['blobs']} artifacts, {_mb(info['bytes'])} of "
            f"{_mb(info['cap_bytes'])} (FLOWSPIN_ARTIFACT_CACHE_MB), {info['tasks']} tasks"
        )
        if not info["usable"]:
            print(
                "not used: the folder belongs to another user or others may write to it "
                "(chmod 700 it, or set FLOWSPIN_ARTIFACT_CACHE_DIR)"
            )
    return 0
