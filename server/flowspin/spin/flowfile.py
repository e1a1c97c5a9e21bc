"""Whether a path may be handed to a worker as a flow file, and how to tell that it changed.

Checked before any worker starts: a worker told to import `/dev/zero` reads until memory runs
out, and one told to import a FIFO blocks for ever. The file's signature lets the crash-loop
guard tell a flow file that was edited since its worker died (perhaps fixed) from one that
was not.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InvalidFlowFile(ValueError):
    """Not something a worker should ever open (a device, a FIFO, a folder, not `.py`)."""


def flow_file_problem(path: Path) -> str | None:
    """Why `path` (resolved) cannot be a flow file, or None (a missing file is the caller's
    to report: it says FlowFileMissing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a flow file; give the .py file that defines the flow"
    if not stat.S_ISREG(mode):
        kind = (
            "FIFO"
            if stat.S_ISFIFO(mode)
            else "character device"
            if stat.S_ISCHR(mode)
            else "block device"
            if stat.S_ISBLK(mode)
            else "socket"
            if stat.S_ISSOCK(mode)
            else "special file"
        )
        return f"{path} is a {kind}, not a regular .py file; give the flow's .py file"
    if path.suffix != ".py":
        return f"{path} is not a .py file; a flow file is Python source ending in .py"
    return None


def file_sig(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size), or None when the file cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
