"""Who a spin runs as and which Metaflow configuration it reads: the caller's, not the daemon's.

Metaflow takes the user name (`METAFLOW_USER`, else `SUDO_USER`, `USERNAME`, `USER`; never
root) and its whole configuration (`METAFLOW_PROFILE`, `METAFLOW_HOME`, the default datastore
and metadata, their roots, a production token...) from the environment, and reads most of it
once, at import. A warm worker therefore holds one identity for its whole life, and a daemon
started by one shell would answer every later shell in that first caller's namespace. So each
request carries these variables (a small dict) and `SpinService` keeps one worker per flow file
*and* identity.

This module is imported by the warm shell spin (`flowspin spin --json`), so it needs nothing
beyond `os`.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Metaflow's own order (metaflow.util.get_username), after METAFLOW_USER.
USER_VARS = ("METAFLOW_USER", "SUDO_USER", "USERNAME", "USER")
CONFIG_PREFIX = "METAFLOW_"


def is_identity_var(name: str) -> bool:
    """Whether `name` decides whom Metaflow acts as or where it looks for runs."""
    return name in USER_VARS or name.startswith(CONFIG_PREFIX)


def caller_identity(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The identity and Metaflow configuration variables of `environ` (this process's by
    default): what a spin request carries, so the spin sees what `metaflow spin` run here
    would see."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if is_identity_var(k)}


def clean_identity(value: object) -> dict[str, str] | None:
    """A request's identity as the service may use it: only string identity variables (a
    request cannot smuggle `LD_PRELOAD` or `PYTHONPATH` into a worker); None when absent."""
    if not isinstance(value, dict):
        return None
    return {
        k: v
        for k, v in value.items()
        if isinstance(k, str) and isinstance(v, str) and is_identity_var(k)
    }


def metaflow_user(environ: Mapping[str, str] | None = None) -> str:
    """The user name Metaflow derives from `environ` (without importing Metaflow), for labels
    and messages: METAFLOW_USER, then SUDO_USER, USERNAME, USER, skipping root."""
    env = os.environ if environ is None else environ
    for name in USER_VARS:
        user = env.get(name)
        if user and user != "root":
            return user
    return env.get("USER") or "flowspin"
