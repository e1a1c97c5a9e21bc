"""Finding the workspace root with `os.path` alone, and trusting only what is ours.

The rule lives here, not in `layout`, because the warm shell spin needs the root before it
imports anything else: `pathlib` and `hashlib` would cost it more than the spin itself.

Why the ownership rules: `.flowspin/` holds pickled objects a spin loads and the socket a
shell spin talks to. If another local user could plant a `.flowspin` where the search finds
it (a shared folder such as `/tmp`, or a group-writable parent), they could make our worker
unpickle their objects (their code runs as us) or answer our spins with forged results. So
the upward search only looks in folders this user owns that nobody else may write to, and a
`.flowspin` is used only when it is a real folder of ours that nobody else may write to (we
create it 0700).
"""

from __future__ import annotations

import os

DIRNAME = ".flowspin"
_OTHERS_WRITE = 0o022  # group- or world-writable (sticky or not: /tmp is still shared)


class UnsafeWorkspace(PermissionError):
    """A `.flowspin` folder another user owns or may write to: flowspin will not use it."""


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & _OTHERS_WRITE


def find_root(flow_file: str | os.PathLike[str]) -> str:
    """The nearest folder, from the flow file's folder upward, holding `.flowspin` or `.git`;
    failing both, the flow's own folder.

    The search stops at the first folder another user owns or may write to (a shared parent
    is no place to trust a `.flowspin` found in it). The root's `.flowspin` is created 0700
    when missing, and one that is not ours raises `UnsafeWorkspace`.
    """
    start = os.path.dirname(os.path.realpath(flow_file))
    root = _search(start)
    ensure_private_dir(root)
    return root


def _search(start: str) -> str:
    folder = start
    while True:
        try:
            if not _private(os.stat(folder)):
                return start
        except OSError:
            return start
        if os.path.lexists(os.path.join(folder, DIRNAME)) or os.path.lexists(
            os.path.join(folder, ".git")
        ):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def ensure_private_dir(root: str | os.PathLike[str]) -> str:
    """`root/.flowspin`, created 0700 when missing; `UnsafeWorkspace` when it exists but is a
    symlink, not a folder, another user's, or writable by others. A root where we may not
    create it (a read-only checkout) is left alone: whoever writes there later says why."""
    path = os.path.join(os.fspath(root), DIRNAME)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return path
    else:
        os.chmod(path, 0o700)  # whatever the umask
        return path
    st = os.lstat(path)
    me = os.geteuid()
    if (st.st_mode & 0o170000) != 0o040000:  # S_ISDIR without importing stat
        raise UnsafeWorkspace(
            f"{path} is not a folder (a symlink or a file): flowspin will not use it; "
            f"remove it and try again"
        )
    if st.st_uid != me:
        raise UnsafeWorkspace(
            f"{path} belongs to uid {st.st_uid}, not to you (uid {me}): flowspin will not "
            f"load objects or talk to a daemon another user controls; remove it (or ask its "
            f"owner to) and try again"
        )
    if st.st_mode & _OTHERS_WRITE:
        raise UnsafeWorkspace(
            f"{path} is writable by other users (mode {st.st_mode & 0o777:o}): flowspin will "
            f"not trust it; run `chmod 700 {path}` and try again"
        )
    return path
