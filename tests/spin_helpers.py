"""Helpers for the spin/store/daemon suites: one real Metaflow run per module, real workers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from conftest import metaflow_env


def client_artifacts(workdir: Path, pathspec: str) -> dict[str, Any]:
    """Public artifacts of a task of the real run, read through Metaflow's Client."""
    import sys

    old = dict(os.environ)
    os.environ.update(metaflow_env(workdir))
    try:
        from metaflow import Task, namespace

        namespace(None)
        main = sys.modules.get("__main__")
        return {a.id: a.data for a in Task(pathspec, _namespace_check=False).artifacts}, main
    finally:
        os.environ.clear()
        os.environ.update(old)


def make_service(workdir: Path, **env: str):
    from flowspin.spin.service import SpinService

    e = metaflow_env(workdir)
    e.update(env)
    return SpinService(workdir, env=e)
