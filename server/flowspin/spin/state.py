"""Holding parent state in the worker: the artifacts of the tasks (or spins) a plan names.

Artifacts load through Metaflow's Client API (so every datastore Metaflow supports works) or,
for chained spins, from the local store. Loaded tasks stay in an LRU cache under a memory
budget; forked children see them copy-on-write.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowspin.spin.plan import ParentSpec, SpinSetupError

LAZY_MIN_BYTES = 1 << 20  # artifacts stored larger than this load lazily on a cold spin


@dataclass
class LoadedParent:
    ident: str
    source: str
    step: str
    values: dict[str, Any]
    keys: dict[str, Any]
    refs: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    nbytes: int = 0
    # name -> fingerprint.Fingerprint, taken once here so that no spin re-hashes what it read
    fingerprints: dict[str, Any] = field(default_factory=dict)

    def as_child_input(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "keys": self.keys,
            "refs": self.refs,
            "info": self.info,
            "ident": self.ident,
            "fingerprints": self.fingerprints,
        }


def _sizeof(value: Any) -> int:
    try:
        return int(sys.getsizeof(value))
    except Exception:
        return 0


class StateCache:
    """LRU of loaded parent tasks under a memory budget (bytes)."""

    def __init__(self, budget_bytes: int, store: Any) -> None:
        self.budget = budget_bytes
        self.store = store
        self._items: OrderedDict[str, LoadedParent] = OrderedDict()
        self._lock = threading.RLock()
        # Called with a line of text while a large download from a remote datastore runs
        # ("flowspin: downloading ... 64/128 MB"); the worker sends it as a log line of the
        # request it loads for, which the human CLI prints (never inside --json).
        self.progress: Callable[[str], None] | None = None
        # In a forked spin child, lazy loads report on the child's stderr instead: that is the
        # spin's own output stream, live in the CLI and the editor.
        self._pid = os.getpid()
        # Planning reads the base run through Metaflow's Client before any parent loads here:
        # an unreachable datastore must fail those reads in seconds too (store/remote.py).
        # Only a worker's cache (it has a store): importing Metaflow's plugins here would fix
        # the configuration of any other process that merely builds a cache.
        if store is not None:
            from flowspin.store.remote import guard_reads

            guard_reads()

    @property
    def artifacts(self) -> Any:
        """The local cache of blobs read from remote datastores (shared by all workers)."""
        from flowspin.store.mfload import shared_cache

        return shared_cache()

    def keys(self) -> list[str]:
        """The loaded parent states ("metaflow:<pathspec>", "spin:<spin id>")."""
        with self._lock:
            return list(self._items)

    def child_input(self, key: str) -> dict[str, Any]:
        """What a spin child needs of one loaded parent (in a forked child: no lock taken)."""
        return self._items[key].as_child_input()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "entries": len(self._items),
                "bytes": sum(p.nbytes for p in self._items.values()),
            }

    def get(self, spec: ParentSpec, lazy: bool = False) -> LoadedParent:
        """A loaded parent task; `lazy` defers reading artifacts until a child touches them.

        A first (cold) spin of a step that reads nothing big then costs what `metaflow spin`
        costs; `promote()` loads everything in the worker afterwards, so later spins are warm.
        """
        key = f"{spec.source}:{spec.ident}"
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        if spec.source == "metaflow":
            loaded = self._load_metaflow(spec, lazy=lazy)
        else:
            loaded = self._load_spin(spec)
        with self._lock:
            self._items[key] = loaded
            self._items.move_to_end(key)
            self._evict(keep=key)
        return loaded

    def _evict(self, keep: str) -> None:
        total = sum(p.nbytes for p in self._items.values())
        for key in list(self._items):
            if total <= self.budget:
                break
            if key == keep:
                continue
            total -= self._items.pop(key).nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _find_loaded_value(self, pathspec: str, name: str) -> tuple[bool, Any]:
        hit = self._items.get(f"metaflow:{pathspec}")
        if hit is not None and name in hit.values:
            return True, hit.values[name]
        return False, None

    def has_lazy(self) -> bool:
        with self._lock:
            return any(
                isinstance(p.values, LazyValues)
                and not p.values.complete()
                and not p.values.too_big
                for p in self._items.values()
            )

    def promote(self) -> None:
        """Load every deferred artifact in this process (the worker), for warm spins."""
        with self._lock:
            items = list(self._items.values())
        for p in items:
            if isinstance(p.values, LazyValues) and not p.values.complete():
                others = sum(q.nbytes for q in items if q is not p)
                if others + p.nbytes > self.budget:
                    # Too big to hold: it stays lazy (each spin reads what its step touches).
                    p.values.too_big = True
                    continue
                p.values.load_all()
                p.nbytes = 0
                _finish(p)

    def _load_metaflow(self, spec: ParentSpec, lazy: bool = False) -> LoadedParent:
        from flowspin.store.remote import DatastoreUnreachable, fail_fast

        try:
            return self._load_metaflow_direct(spec, lazy=lazy)
        except DatastoreUnreachable as exc:
            # Not the Client either: it would retry the same endpoint for minutes.
            raise SpinSetupError("DatastoreUnreachable", str(exc)) from None
        except Exception:
            with fail_fast():
                return self._load_metaflow_client(spec)

    def _load_metaflow_direct(self, spec: ParentSpec, lazy: bool = False) -> LoadedParent:
        """All artifacts of a task in one datastore read, as `metaflow spin` does.

        The task is located through the Client API (its `ds-type`/`ds-root` metadata), so any
        datastore Metaflow supports works; unlike `DataArtifact.data` this skips the Client's
        on-disk blob cache, which would write every parent blob a second time. A remote
        datastore's blobs (and the task's data.json) go through flowspin's artifact cache
        instead, so a restarted worker reads them with no network; what is not cached is
        downloaded in one batch (Metaflow's S3 reads it in parallel), after a probe of the
        endpoint that fails in seconds when it is down (store/remote.py).
        """
        from flowspin.store.mfload import open_task

        opened = open_task(spec.ident, self.artifacts)
        tds = opened.tds
        names = opened.names()

        def load(wanted: list[str]) -> list[tuple[str, Any]]:
            return opened.load(wanted, progress=self._progress_of(spec.ident, opened.ds_root))

        keys, refs = {}, {}
        for name in names:
            sha = tds._objects[name]
            keys[name] = ("mf", sha)
            refs[name] = {"kind": "metaflow", "pathspec": spec.ident, "name": name, "sha": sha}
        if lazy:
            values: Any = LazyValues(names, lambda n: load([n])[0][1], tds._info)
            values.batch_loader = load  # promote(): every missing artifact in one batch
            # Small artifacts load now (one read); only big ones wait until touched or promoted.
            small = [
                n for n in names if int((tds._info.get(n) or {}).get("size") or 0) <= LAZY_MIN_BYTES
            ]
            for name, obj in load(small):
                values[name] = obj
        else:
            values = dict(load(names))
        return _finish(LoadedParent(spec.ident, "metaflow", spec.step, values, keys, refs))

    def _progress_of(self, pathspec: str, root: str) -> Callable[[int, int], None] | None:
        """A `progress(done, total)` for one task's download that writes lines to
        `self.progress` (None when nobody listens)."""
        report = self.progress
        if os.getpid() != self._pid:  # a spin child: its stderr streams live to the caller
            report = _to_stderr
        if report is None:
            return None
        import time

        start = time.monotonic()

        def line(done: int, total: int) -> None:
            mb = 1024 * 1024
            if done >= total:
                text = f"downloaded {total / mb:.0f} MB of {pathspec} in "
                text += f"{time.monotonic() - start:.1f} s"
            else:
                text = f"downloading {pathspec} from {root}: {done / mb:.0f}/{total / mb:.0f} MB"
            try:
                report(f"flowspin: {text}\n")
            except Exception:
                pass  # a listener that went away does not stop the load

        return line

    def _load_metaflow_client(self, spec: ParentSpec) -> LoadedParent:
        from metaflow import Task

        task = Task(spec.ident, _namespace_check=False)
        task._iter_filter = lambda _x: True  # type: ignore[method-assign]  # private ones too
        values, keys, refs = {}, {}, {}
        for art in task:
            values[art.id] = art.data
            keys[art.id] = ("mf", art.sha)
            refs[art.id] = {
                "kind": "metaflow",
                "pathspec": spec.ident,
                "name": art.id,
                "sha": art.sha,
            }
        return _finish(LoadedParent(spec.ident, "metaflow", spec.step, values, keys, refs))

    def _load_spin(self, spec: ParentSpec) -> LoadedParent:
        from flowspin.store.reader import resolve_ref
        from flowspin.store.remote import DatastoreUnreachable

        rec = None
        for path in self.store.spins.glob(f"*/{spec.step}/{spec.ident}.msgpack"):
            import msgpack

            rec = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
            break
        if rec is None:
            raise SpinSetupError(
                "MissingSpin",
                f"spin {spec.ident} of step {spec.step} is gone from the store; use --reset",
            )
        values, keys, refs = {}, {}, {}
        try:
            for name, entry in rec.get("artifacts", {}).items():
                ref = entry.get("ref")
                if not ref:
                    continue
                if ref.get("kind") == "metaflow":
                    found, value = self._find_loaded_value(ref["pathspec"], name)
                    if not found:
                        value = resolve_ref(self.store, ref)
                    keys[name] = ("mf", ref.get("sha"))
                else:
                    value = resolve_ref(self.store, ref)
                    keys[name] = ("fs", ref["sha"])
                values[name] = value
                refs[name] = ref
        except DatastoreUnreachable as exc:
            raise SpinSetupError("DatastoreUnreachable", str(exc)) from None
        except (LookupError, ValueError, TypeError, AttributeError) as exc:
            # A damaged blob is removed on detection, so spinning the step again rewrites it.
            raise SpinSetupError(
                "DamagedSpin",
                f"spin {spec.ident} of step {spec.step}, which this spin chains from, cannot "
                f"be read: {exc}. Spin {spec.step} again, or pass --reset to use the base run",
            ) from None
        return _finish(LoadedParent(spec.ident, "spin", spec.step, values, keys, refs))


def _to_stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


class LazyValues(dict):
    """Artifacts read from the datastore on first access (and kept).

    A dict subclass whose entries appear only once loaded, so code that copies or iterates
    what is *loaded* never triggers a read by accident; `names` lists every artifact.
    """

    def __init__(self, names: list[str], loader: Any, mf_info: dict[str, Any]) -> None:
        super().__init__()
        self.names = list(names)
        self._names = set(names)
        self._loader = loader
        self.mf_info = mf_info
        self.too_big = False  # True: over the memory budget, never promoted
        self.batch_loader: Any = None  # names -> [(name, value)], for load_all
        # Shared with the LoadedParent: whichever process loads a value fingerprints it.
        self.fingerprints: dict[str, Any] = {}

    def __missing__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        from flowspin.spin import fingerprint

        value = self._loader(name)
        self.fingerprints[name] = fingerprint.take(value)
        self[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._names or dict.__contains__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def __iter__(self):
        return iter(self.names + [k for k in dict.keys(self) if k not in self._names])

    def __len__(self) -> int:
        return len(set(self.names) | set(dict.keys(self)))

    def keys(self):  # type: ignore[override]
        return list(iter(self))

    def items(self):  # type: ignore[override]
        return [(k, self[k]) for k in self]

    def values(self):  # type: ignore[override]
        return [self[k] for k in self]

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self._names:
            self._names.add(name)
            self.names.append(name)
        dict.__setitem__(self, name, value)

    def is_loaded(self, name: str) -> bool:
        return dict.__contains__(self, name)

    def complete(self) -> bool:
        return all(dict.__contains__(self, n) for n in self.names)

    def load_all(self) -> None:
        """Every artifact not loaded yet; in one batch when the datastore allows it (S3
        downloads a batch in parallel), else one by one."""
        missing = [n for n in self.names if not dict.__contains__(self, n)]
        if self.batch_loader is not None and len(missing) > 1:
            from flowspin.spin import fingerprint

            for name, value in self.batch_loader(missing):
                self.fingerprints[name] = fingerprint.take(value)
                self[name] = value
        for name in self.names:
            self[name]

    def lazy_info(self, name: str) -> dict[str, Any]:
        info = self.mf_info.get(name) or {}
        raw = str(info.get("type") or "")
        if raw.startswith("<class '") and raw.endswith("'>"):
            raw = raw[8:-2]
        return {
            "type": raw.removeprefix("builtins."),
            "repr": "<not loaded: the step did not read it>",
            "size": int(info.get("size") or 0),
        }


def _finish(p: LoadedParent) -> LoadedParent:
    from flowspin.spin import fingerprint
    from flowspin.spin.child import short_repr, type_name

    if isinstance(p.values, LazyValues):
        p.fingerprints = p.values.fingerprints
        loaded = [
            (n, dict.__getitem__(p.values, n)) for n in p.values.names if p.values.is_loaded(n)
        ]
        for name in p.values.names:
            if not p.values.is_loaded(name):
                info = p.values.lazy_info(name)
                p.nbytes += info["size"]
                if not name.startswith("_"):
                    p.info[name] = info
    else:
        loaded = list(p.values.items())
    for name, value in loaded:
        if name not in p.fingerprints:
            p.fingerprints[name] = fingerprint.take(value)
        size = _sizeof(value)
        p.nbytes += size
        if not name.startswith("_"):
            p.info[name] = {"type": type_name(value), "repr": short_repr(value), "size": size}
    return p
