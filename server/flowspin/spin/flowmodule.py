"""The flow file as the worker imported it: its class, why an import failed, which generation.

The worker imports the flow once, for its imports and its graph, and again only when the file
changed; every child forks from that import. `generation` counts the imports that succeeded, so
whatever was derived from an older one (a cached plan, a spare child forked ahead) can tell it
is stale. The worker never runs step code itself: an import is the only user code it runs.
"""

from __future__ import annotations

import os
from typing import Any


class FlowModule:
    def __init__(self, flow_file: str, workspace: str) -> None:
        self.flow_file = flow_file
        self.workspace = workspace
        self.cls: Any = None
        self.mtime: float | None = None
        # A failed re-import keeps the previous class (spins go on with it) and says why here.
        self.load_error: str | None = None
        self.module_snapshot: dict[str, tuple[str, float]] = {}
        self.generation = 0  # bumps when the flow module is re-imported

    @property
    def name(self) -> str:
        return self.cls.__name__ if self.cls is not None else ""

    def has_step(self, step: str) -> bool:
        return self.cls is not None and step in {n.name for n in self.cls._graph}

    @staticmethod
    def preimport() -> None:
        """Modules every spin child needs, imported once here instead of in every child."""
        import cloudpickle  # noqa: F401
        import metaflow.cli  # noqa: F401
        import metaflow.datastore.inputs  # noqa: F401
        import metaflow.parameters  # noqa: F401

        # `current.card` for every spin, @card or not: Metaflow's collector and its card
        # registry cost a child about 3.5 ms (a third of a warm spin) when imported there.
        import metaflow.plugins.cards.component_serializer  # noqa: F401
        import metaflow.task  # noqa: F401

        import flowspin.cards.spincards  # noqa: F401
        import flowspin.spin.child  # noqa: F401
        import flowspin.store.store  # noqa: F401

    def warm(self) -> None:
        """(Re)import the flow file when it changed, for its imports and its graph."""
        from flowspin.spin.flowload import (
            FlowLoadError,
            drop_changed_modules,
            exec_flow_file,
            find_flow_class,
            snapshot_modules,
        )

        try:
            mtime = os.stat(self.flow_file).st_mtime
        except OSError:
            mtime = None
        if self.cls is not None and mtime == self.mtime:
            return
        self.mtime = mtime
        drop_changed_modules(self.module_snapshot)  # re-import edited helpers, not stale ones
        try:
            module = exec_flow_file(self.flow_file)
            self.cls = find_flow_class(module)
            self.load_error = None
            self.generation += 1
        except FlowLoadError as exc:
            self.load_error = exc.message
        except BaseException as exc:  # the flow's own import failed; the child will report it
            self.load_error = f"{type(exc).__name__}: {exc}"
        self.module_snapshot = snapshot_modules(self.workspace)

    def step_timeout(self, step: str) -> float | None:
        """The step's `@timeout` in seconds: a spin honours it as a run would."""
        try:
            func = getattr(self.cls, step)
        except AttributeError:
            return None
        for deco in getattr(func, "decorators", []):
            if deco.name == "timeout":
                a = deco.attributes or {}
                total = (
                    float(a.get("seconds") or 0)
                    + 60 * float(a.get("minutes") or 0)
                    + 3600 * float(a.get("hours") or 0)
                )
                return total or None
        return None
