"""What a caller may ask of one spin; plain data so it crosses every process boundary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class SpinOptions:
    run: str | None = None  # base run id; default: latest run whose parents of the step finished
    task: str | None = None  # exact pathspec Flow/run/step/task of the task to re-spin
    split: int | None = None  # foreach split to spin (default 0)
    all_splits: bool = False  # one child per split
    params: dict[str, str] = field(default_factory=dict)  # --param overrides (raw strings)
    artifacts_module: str | None = None  # path to a module with an ARTIFACTS dict
    reset: bool = False  # forget chained spins, go back to the base run
    persist: bool = True  # write changed artifacts and a record to .flowspin/
    timeout: float | None = None  # seconds; SIGINT then SIGKILL after the grace period
    mode: str | None = None  # "fork" | "subprocess"; default: fork where safe

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SpinOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    @classmethod
    def coerce(cls, options: SpinOptions | dict[str, Any] | None, **kwargs: Any) -> SpinOptions:
        base = options.to_dict() if isinstance(options, SpinOptions) else dict(options or {})
        base.update({k: v for k, v in kwargs.items() if v is not None})
        if isinstance(base.get("params"), (list, tuple)):
            base["params"] = parse_params(base["params"])
        return cls.from_dict(base)


def parse_params(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out
