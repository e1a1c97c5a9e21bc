"""Executing the saved flow file as `__main__` without starting Metaflow's CLI.

Metaflow pickles classes defined in the flow file as `__main__.X`; registering the flow's
namespace as `__main__` makes them load, and cloudpickle then stores them by value so spins
read back anywhere.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any


class FlowLoadError(Exception):
    def __init__(self, err_type: str, message: str, file: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.err_type = err_type
        self.message = message
        self.file = file
        self.line = line


_SITE_DIRS = tuple(
    {
        str(Path(p).resolve())
        for p in (
            sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"],
            sys.prefix,
            sys.base_prefix,
        )
    }
)


def is_workspace_module(path: str | None, workspace: str) -> bool:
    if not path:
        return False
    try:
        real = str(Path(path).resolve())
    except OSError:
        return False
    if any(real.startswith(site) for site in _SITE_DIRS):
        return False
    return real.startswith(workspace.rstrip(os.sep) + os.sep)


def snapshot_modules(workspace: str) -> dict[str, tuple[str, float]]:
    """Workspace modules imported so far, with the mtime of their source at import."""
    snap: dict[str, tuple[str, float]] = {}
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None)
        if name == "__main__" or path is None or not is_workspace_module(path, workspace):
            continue
        try:
            snap[name] = (path, os.stat(path).st_mtime)
        except OSError:
            snap[name] = (path, -1.0)
    return snap


def drop_changed_modules(snapshot: dict[str, tuple[str, float]]) -> list[str]:
    """Forget workspace modules whose file changed, so the flow's imports load them afresh."""
    dropped = []
    for name, (path, mtime) in snapshot.items():
        try:
            now = os.stat(path).st_mtime
        except OSError:
            now = -2.0
        if now != mtime and name in sys.modules:
            del sys.modules[name]
            dropped.append(name)
    return dropped


def exec_flow_file(flow_file: str) -> types.ModuleType:
    """Run the saved flow file as a fresh `__main__`; the flow's `FlowSpec()` call is inert."""
    try:
        source = Path(flow_file).read_text()
    except FileNotFoundError:
        raise FlowLoadError(
            "FlowFileMissing",
            f"flow file {flow_file} does not exist (deleted or moved); restore it and spin again",
            flow_file,
        ) from None
    try:
        code = compile(source, flow_file, "exec")
    except SyntaxError as exc:
        raise FlowLoadError(
            "SyntaxError",
            f"{exc.msg} — fix the flow file and spin again",
            exc.filename or flow_file,
            exc.lineno or 0,
        ) from None
    module = types.ModuleType("__main__")
    module.__file__ = flow_file
    module.__builtins__ = __builtins__  # type: ignore[attr-defined]
    # Metaflow registers some of its own types on __main__ so that they unpickle anywhere
    # (ForeachFrame in `_foreach_stack`); a fresh __main__ must carry them too.
    import metaflow.tuple_util as tuple_util

    for name, value in vars(tuple_util).items():
        if isinstance(value, type) and getattr(value, "__module__", None) == "__main__":
            setattr(module, name, value)
    sys.modules["__main__"] = module
    sys.argv = [flow_file]
    folder = str(Path(flow_file).parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import metaflow.cli as mf_cli

    real_main = mf_cli.main
    mf_cli.main = _inert_main
    try:
        exec(code, module.__dict__)
    finally:
        mf_cli.main = real_main
    return module


def _inert_main(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for Metaflow's CLI while the flow file's `if __name__ == "__main__"` runs."""


def find_flow_class(module: types.ModuleType, step: str | None = None) -> type:
    from metaflow import FlowSpec

    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, FlowSpec)
        and obj is not FlowSpec
        and obj.__module__ == module.__name__
    ]
    if step is not None:
        with_step = [c for c in found if step in {n.name for n in c._graph}]
        found = with_step or found
    if not found:
        raise FlowLoadError(
            "NoFlowClass", f"{module.__file__} defines no FlowSpec subclass", module.__file__ or ""
        )
    return found[-1]


def load_module_from_path(path: str, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FlowLoadError("ArtifactsModule", f"cannot load {path} as a Python module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
