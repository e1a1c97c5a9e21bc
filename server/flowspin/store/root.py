"""Finding the workspace root with `os.path` alone.

The rule lives here, not in `layout`, because the warm shell spin needs the root before it
imports anything else: `pathlib` and `hashlib` would cost it more than the spin itself.
"""

from __future__ import annotations

import os

DIRNAME = ".flowspin"


def find_root(flow_file: str | os.PathLike[str]) -> str:
    """The nearest folder, from the flow file's folder upward, holding `.flowspin` or `.git`;
    failing both, the flow's own folder."""
    start = os.path.dirname(os.path.realpath(flow_file))
    folder = start
    while True:
        if os.path.exists(os.path.join(folder, DIRNAME)) or os.path.exists(
            os.path.join(folder, ".git")
        ):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent
