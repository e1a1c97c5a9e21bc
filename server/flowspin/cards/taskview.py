"""A read-only, Task-like view of a spun task, for card classes' `render(task)`.

Card types read a finished `metaflow.Task`: its artifacts (`for a in task`, `task["x"].data`,
`task.data.x`), its pathspec and times, its run's tags and `_parameters` task. A spin never
writes to Metaflow's datastore, so there is no such Task; this view serves the same reads from
the spin child's memory (the parent state plus what the step set), which is also what lets the
default card work for spun joins and foreach steps.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from typing import Any


class SpinArtifact:
    """What `metaflow.DataArtifact` offers a card: id, data, size, sha, pathspec."""

    def __init__(self, task: SpinTask, name: str, value: Any, size: int) -> None:
        self.id = name
        self._value = value
        self.size = size
        self.sha = ""
        self.pathspec = f"{task.pathspec}/{name}"
        self.finished_at = task.finished_at
        self.created_at = task.created_at

    @property
    def data(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return f"SpinArtifact('{self.pathspec}')"


class _Namespace:
    def __init__(self, task: SpinTask, wrap: Callable[[SpinArtifact], Any]) -> None:
        self._task = task
        self._wrap = wrap

    def __getattr__(self, name: str) -> Any:
        try:
            return self._wrap(self._task[name])
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[SpinArtifact]:
        return iter(self._task)

    def __contains__(self, name: str) -> bool:
        return name in self._task


class SpinTask:
    def __init__(
        self,
        flow: str,
        run_id: str,
        step: str,
        task_id: str,
        artifacts: dict[str, tuple[Any, int]],
        *,
        tags: list[str] | None = None,
        parameters: dict[str, tuple[Any, int]] | None = None,
        stdout: str = "",
        stderr: str = "",
        started: float | None = None,
        index: int | None = None,
    ) -> None:
        self.id = task_id
        self.pathspec = f"{flow}/{run_id}/{step}/{task_id}"
        self.path_components = [flow, run_id, step, task_id]
        now = _dt.datetime.now()
        self.created_at = _dt.datetime.fromtimestamp(started) if started else now
        self.finished_at = now
        self.finished = True
        self.successful = True
        self.current_attempt = 0
        self.index = index
        self.stdout = stdout
        self.stderr = stderr
        self.tags = frozenset(tags or [])
        self.system_tags = self.tags
        self.user_tags: frozenset[str] = frozenset()
        self.metadata: list[Any] = []
        self.metadata_dict: dict[str, str] = {"flowspin-spin": "true"}
        self.exception = None
        self._artifacts = {
            name: SpinArtifact(self, name, value, size) for name, (value, size) in artifacts.items()
        }
        self.parent = SpinStep(step, self, flow, run_id, parameters or {})
        self.data = _Namespace(self, lambda a: a.data)
        self.artifacts = _Namespace(self, lambda a: a)

    def __iter__(self) -> Iterator[SpinArtifact]:
        return iter(list(self._artifacts.values()))

    def __getitem__(self, name: str) -> SpinArtifact:
        try:
            return self._artifacts[name]
        except KeyError:
            have = ", ".join(sorted(self._artifacts)) or "none"
            raise KeyError(
                f"the spun task {self.pathspec} has no artifact {name!r}; has: {have}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._artifacts

    def __repr__(self) -> str:
        return f"SpinTask('{self.pathspec}')"


class SpinStep:
    def __init__(
        self,
        step: str,
        task: SpinTask,
        flow: str,
        run_id: str,
        parameters: dict[str, tuple[Any, int]],
    ) -> None:
        self.id = step
        self.pathspec = f"{flow}/{run_id}/{step}"
        self.task = task
        self.parent = SpinRun(flow, run_id, task, parameters)

    def __iter__(self) -> Iterator[SpinTask]:
        return iter([self.task])


class SpinRun:
    """The base run as far as a card asks: id, tags and the `_parameters` step."""

    def __init__(
        self, flow: str, run_id: str, task: SpinTask, parameters: dict[str, tuple[Any, int]]
    ) -> None:
        self.id = run_id
        self.pathspec = f"{flow}/{run_id}"
        self.tags = task.tags
        self.system_tags = task.tags
        self.user_tags: frozenset[str] = frozenset()
        self.finished = True
        self.successful = True
        self._params_step: _ParamsStep | None = None
        if parameters:
            params_task = SpinTask(flow, run_id, "_parameters", task.id, parameters, tags=[])
            self._params_step = _ParamsStep(params_task)

    def __contains__(self, name: str) -> bool:
        return name == "_parameters" and self._params_step is not None

    def __getitem__(self, name: str) -> Any:
        if name == "_parameters" and self._params_step is not None:
            return self._params_step
        raise KeyError(f"a spin view only has the spun step and _parameters, not {name!r}")


class _ParamsStep:
    def __init__(self, task: SpinTask) -> None:
        self.id = "_parameters"
        self.task = task
