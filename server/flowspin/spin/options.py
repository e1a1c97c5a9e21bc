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
    # Debug Step: the child runs the step under debugpy listening on 127.0.0.1:PORT (0: a free
    # port, reported) and starts it only once a client attached and sent configurationDone.
    debug_port: int | None = None
    debug_timeout: float = 60.0  # seconds to wait for that client (then DebugTimeout)
    # {step: code identity} the base run ran, when the caller knows it (the editor: the text a
    # run started from); default: the saved file's. Only feeds the result's `code`.
    code_base: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SpinOptions:
        """Options from a request, each field checked: a request from another process (the
        CLI, an agent, a hand-written frame) must get a clear error, not crash a worker."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"spin options must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        opts = cls(**{k: _check(k, v) for k, v in data.items() if k in known})
        if opts.debug_port is not None and opts.all_splits:
            # One debugger port serves one process: every split would need one of its own.
            raise ValueError(
                "spin option 'debug_port' debugs one split; give 'split', not 'all_splits'"
            )
        return opts

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


def _check(name: str, value: Any) -> Any:
    def bad(expected: str) -> ValueError:
        return ValueError(f"spin option {name!r} must be {expected}, got {value!r}"[:300])

    if name in ("run", "task", "artifacts_module"):
        if value is None or isinstance(value, str):
            return value or None
        if name == "run" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise bad("a string")
    if name == "split":
        if value is None:
            return None
        try:
            number = int(value) if not isinstance(value, (bool, float)) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number < 0:
            raise bad("a split number (0, 1, ...)")
        return number
    if name in ("all_splits", "reset", "persist"):
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if name == "code_base":
        if value is None:
            return {}
        if isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
        raise bad("a mapping of step names to code identities")
    if name == "params":
        if value is None:
            return {}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: str(v) for k, v in value.items()}
        raise bad("a mapping of parameter names to values")
    if name == "debug_port":
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
            return value
        raise bad("a TCP port number (0 picks a free one)")
    if name in ("timeout", "debug_timeout"):
        if value is None:
            return None if name == "timeout" else 60.0
        try:
            seconds = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            seconds = None
        if seconds is None or not seconds > 0 or seconds == float("inf"):
            raise bad("a number of seconds above 0")
        return seconds
    if name == "mode":
        if value in (None, "fork", "subprocess"):
            return value
        raise bad('"fork" or "subprocess"')
    return value
