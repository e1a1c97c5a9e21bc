"""A local, size-capped cache of parent artifacts read from a remote Metaflow datastore.

A spin from a run stored in S3 (or GCS, Azure) reads each parent blob over the network; without
a local copy, a restarted worker downloads it again and cannot spin at all once the endpoint is
unreachable. This cache keeps what was read, on disk, content-addressed by Metaflow's own
artifact keys (the sha1 in a task datastore's `_objects`), so the same blob is shared by every
run, task and workspace that holds it and a read can verify it against its name.

It plugs into Metaflow's datastore layer through the two hooks Metaflow's own Client cache uses
(`ContentAddressedStore.set_blob_cache`, `FlowDataStore.set_metadata_cache`): the blobs kept are
the bytes Metaflow unpacked, and a task's `data.json` (names -> keys, types, sizes) is kept too,
so a task already read loads with no network at all. Local datastores are never cached here
(their blobs already are local files).

Least recently used blobs go first once the total passes FLOWSPIN_ARTIFACT_CACHE_MB (default
10240); a read refreshes a blob's mtime, which is the LRU order. `flowspin cache info|clear`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

ENV_DIR = "FLOWSPIN_ARTIFACT_CACHE_DIR"
ENV_MB = "FLOWSPIN_ARTIFACT_CACHE_MB"
DEFAULT_MB = 10240


def default_root() -> Path:
    """FLOWSPIN_ARTIFACT_CACHE_DIR, else `$XDG_CACHE_HOME/flowspin/artifacts` (~/.cache/...):
    per user, not per workspace, since the same blob serves every workspace that spins it."""
    named = os.environ.get(ENV_DIR)
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flowspin" / "artifacts"


def cap_bytes() -> int:
    try:
        mb = float(os.environ.get(ENV_MB, DEFAULT_MB))
    except ValueError:
        mb = DEFAULT_MB
    return int(mb * 1024 * 1024)


class ArtifactCache:
    """Metaflow's BlobCache interface (`load_key`, `store_key`) over a folder of blobs."""

    def __init__(self, root: Path | None = None, cap: int | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.cap = cap if cap is not None else cap_bytes()
        self._total: int | None = None  # bytes held, counted once then kept up to date
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.stored = 0
        self._safe: bool | None = None

    def safe(self) -> bool:
        """Whether this cache may be used: its folder is ours and nobody else may write it.

        Blobs are unpickled; a folder another user could write is a folder where they could
        plant a task record and a matching blob (their own content, their own sha1), so such
        a cache is never read nor written (as `.flowspin` is refused, docs/spin.md).
        """
        if self._safe is None:
            try:
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
                st = self.root.stat()
                self._safe = st.st_uid == os.geteuid() and not st.st_mode & 0o022
            except (OSError, AttributeError):
                self._safe = False
        return self._safe

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    def _blob_path(self, key: str) -> Path:
        return self.blobs / key[:2] / key

    # --- Metaflow's BlobCache ---------------------------------------------------------------
    def load_key(self, key: str) -> bytes | None:
        """The blob of `key`, verified against it (a damaged file is removed and re-read)."""
        path = self._blob_path(key)
        try:
            if not self.safe():
                raise OSError("unsafe cache folder")
            data = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        if len(key) == 40 and hashlib.sha1(data).hexdigest() != key:
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        try:
            os.utime(path)  # most recently used
        except OSError:
            pass
        self.hits += 1
        return data

    def store_key(self, key: str, blob: bytes) -> None:
        """Keep a blob Metaflow just downloaded; a full disk or a read-only cache only means
        the next load downloads it again, so errors are swallowed."""
        path = self._blob_path(key)
        if not self.safe() or path.exists() or len(blob) > self.cap:
            return
        try:
            _write_atomic(path, blob)
        except OSError:
            return
        self.stored += 1
        with self._lock:
            if self._total is not None:
                self._total += len(blob)
            total = self._total if self._total is not None else self._count()
            if total > self.cap:
                self.trim()

    def has(self, key: str) -> bool:
        return self.safe() and self._blob_path(key).is_file()

    # --- task metadata (data.json) ------------------------------------------------------
    def metadata_cache(self, ds_type: str, ds_root: str, flow_name: str) -> TaskMetadata:
        return TaskMetadata(self, ds_type, ds_root, flow_name)

    # --- management ---------------------------------------------------------------------
    def _count(self) -> int:
        self._total = sum(size for _, size, _ in self._entries())
        return self._total

    def _entries(self) -> list[tuple[float, int, Path]]:
        out: list[tuple[float, int, Path]] = []
        if not self.blobs.is_dir():
            return out
        for sub in self.blobs.iterdir():
            if not sub.is_dir():
                continue
            for path in sub.iterdir():
                try:
                    st = path.stat()
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, path))
        return out

    def trim(self, cap: int | None = None) -> int:
        """Remove least recently used blobs until the total fits `cap`; the bytes removed."""
        cap = self.cap if cap is None else cap
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in entries:
            if total <= cap:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed += size
        self._total = total
        return removed

    def info(self) -> dict[str, Any]:
        entries = self._entries()
        tasks = sum(1 for _ in self.tasks.rglob("*.json")) if self.tasks.is_dir() else 0
        return {
            "path": str(self.root),
            "usable": self.safe(),
            "blobs": len(entries),
            "bytes": sum(size for _, size, _ in entries),
            "tasks": tasks,
            "cap_bytes": self.cap,
        }

    def clear(self) -> dict[str, Any]:
        """Remove every blob and task record; what was removed."""
        import shutil

        before = self.info()
        for folder in (self.blobs, self.tasks):
            shutil.rmtree(folder, ignore_errors=True)
        self._total = 0
        return {"path": before["path"], "blobs": before["blobs"], "bytes": before["bytes"]}


class TaskMetadata:
    """Metaflow's MetadataCache interface: a finished task's `data.json` (Metaflow only stores
    one for a done task with a known attempt, so it never changes)."""

    def __init__(self, cache: ArtifactCache, ds_type: str, ds_root: str, flow_name: str) -> None:
        self.cache = cache
        root_id = hashlib.sha1(f"{ds_type}:{ds_root}".encode()).hexdigest()[:16]
        self.folder = cache.tasks / root_id / flow_name

    def _path(self, run_id: str, step_name: str, task_id: str, attempt: Any) -> Path:
        return self.folder / str(run_id) / step_name / f"{task_id}.{attempt}.json"

    def load_metadata(self, run_id, step_name, task_id, attempt):
        if not self.cache.safe():
            return None
        try:
            return json.loads(self._path(run_id, step_name, task_id, attempt).read_bytes())
        except (OSError, ValueError):
            return None

    def store_metadata(self, run_id, step_name, task_id, attempt, metadata_dict):
        if not self.cache.safe():
            return
        try:
            _write_atomic(
                self._path(run_id, step_name, task_id, attempt),
                json.dumps(metadata_dict).encode("utf-8"),
            )
        except (OSError, TypeError, ValueError):
            pass

    def has(self, run_id: str, step_name: str, task_id: str, attempt: Any) -> bool:
        return self.cache.safe() and self._path(run_id, step_name, task_id, attempt).is_file()


def _write_atomic(path: Path, data: bytes) -> None:
    """The store's atomic write, in folders only this user may enter (blobs get unpickled)."""
    from flowspin.store.atomic import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, [data])
