"""Who Metaflow will say runs the flow, checked before a run starts.

Metaflow refuses to run when it cannot name the user, but says so twice in its own words and
then lets the caller print a table of steps that never started. Its rule (2.19,
`metaflow.util.get_username`) is: `METAFLOW_PRODUCTION_TOKEN` set, or a user from
`METAFLOW_USER` (environment or Metaflow's config file), else `SUDO_USER`, `USERNAME`, `USER`;
`root` never counts. This module applies the same rule to the run's environment without
importing Metaflow, so `flowspin run` can say in one line what to set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

USER_VARIABLES = ("SUDO_USER", "USERNAME", "USER")


def _config_user(env: Mapping[str, str], cwd: Path | None) -> str | None:
    """`METAFLOW_USER` from Metaflow's config files: the profile's in METAFLOW_HOME, and the
    folder-local one in the nearest `.metaflow/` above `cwd`."""
    home = env.get("METAFLOW_HOME", "~/.metaflowconfig")
    profile = env.get("METAFLOW_PROFILE")
    files = [Path(os.path.expanduser(home)) / (f"config_{profile}.json" if profile else
                                                "config.json")]
    if cwd is not None:
        for folder in [cwd, *cwd.parents]:
            if (folder / ".metaflow").is_dir():
                files.append(folder / ".metaflow" / "config_local.json")
                break
    for path in files:
        try:
            value = json.loads(path.read_text(encoding="utf-8")).get("METAFLOW_USER")
        except (OSError, ValueError, AttributeError):
            continue
        if value:
            return str(value)
    return None


def metaflow_user(env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """The user name Metaflow would run as with `env` in `cwd` (None: it would refuse).
    A production token counts as a user."""
    if env.get("METAFLOW_PRODUCTION_TOKEN"):
        return "production"
    candidates = [env.get("METAFLOW_USER") or _config_user(env, cwd)]
    candidates += [env.get(name) for name in USER_VARIABLES]
    for name in candidates:
        if name and name != "root":
            return name
    return None


def missing_user_message(env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """What to tell someone whose run Metaflow would refuse for want of a user name, or None
    when Metaflow can name the user."""
    if metaflow_user(env, cwd) is not None:
        return None
    roots = [name for name in USER_VARIABLES if env.get(name) == "root"]
    why = (
        f"{' and '.join(roots)} {'says' if len(roots) == 1 else 'say'} root, which Metaflow "
        "does not take for a user name"
        if roots
        else "none of METAFLOW_USER, USERNAME or USER is set"
    )
    suggestion = next(
        (env[n] for n in ("LOGNAME", "USER") if env.get(n) and env[n] != "root"), "yourname"
    )
    return (
        f"Metaflow cannot tell who runs the flow: {why}. "
        f"Set METAFLOW_USER, e.g. `export METAFLOW_USER={suggestion}`, and run again."
    )
