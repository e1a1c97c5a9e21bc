"""Where flowspin keeps its files: `.flowspin/` at the workspace root.

The workspace root is the nearest folder, from the flow file's folder upward, that holds a
`.flowspin` or `.git` entry; failing both, the flow's own folder. So a repository gets one
store, and a loose flow file gets a store beside it. The search never crosses a folder another
user owns or may write to, and `.flowspin` must be ours and private (see `store.root`).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from flowspin.store.root import find_root


def workspace_root(flow_file: str | os.PathLike[str]) -> Path:
    """The flow's workspace root; raises `UnsafeWorkspace` when its `.flowspin` is not ours."""
    return Path(find_root(flow_file))


def flow_key(flow_file: str | os.PathLike[str], root: Path) -> str:
    """Stable folder name for one flow file inside the store."""
    path = Path(flow_file).resolve()
    try:
        rel = path.relative_to(root.resolve())
        return str(rel).replace(os.sep, "__")
    except ValueError:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        return f"{path.name}-{digest}"


def new_spin_id() -> str:
    """Sortable by creation time, unique across processes."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{int(now * 1e6) % 1_000_000:06d}-{os.urandom(2).hex()}"
