"""Opening a Metaflow task's datastore for reading, through flowspin's artifact cache.

Shared by the spin worker (spin/state.py) and whatever reads a spin's inherited artifacts back
(store/reader.py: `flowspin show`, `load_spin`, chained spins): the task is located with the
Client API (its `ds-type`/`ds-root` metadata, so S3, GCS and Azure datastores work as Metaflow
reads them), and a remote datastore's blobs and data.json go through the local artifact cache
(store/artifact_cache.py), with a probe of the endpoint before anything not cached is
downloaded (store/remote.py), so an unreachable endpoint fails in seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

_shared: Any = None
# A download at least this big reports progress (FLOWSPIN_PROGRESS_MIN_MB, default 32).
PROGRESS_MIN_BYTES = int(float(os.environ.get("FLOWSPIN_PROGRESS_MIN_MB", "32")) * (1 << 20))


def shared_cache() -> Any:
    """One ArtifactCache per process (it counts its bytes once)."""
    global _shared
    if _shared is None:
        from flowspin.store.artifact_cache import ArtifactCache

        _shared = ArtifactCache()
    return _shared


@dataclass
class OpenTask:
    pathspec: str
    tds: Any  # metaflow TaskDataStore, mode "r"
    ds_type: str
    ds_root: str
    cache: Any  # ArtifactCache, None for a local datastore

    def names(self) -> list[str]:
        return [n for n, _ in self.tds.items()]

    def load(self, wanted: list[str], progress: Any = None) -> list[tuple[str, Any]]:
        """(name, value) of `wanted`, in one batch (Metaflow's S3 reads it in parallel).

        `progress(done_bytes, total_bytes)`: when what must be downloaded passes
        PROGRESS_MIN_BYTES, it is read in a few batches (each still parallel) and `progress`
        is called before the first and after each, so a large load is not a silent wait.
        """
        from flowspin.store.remote import probe

        missing = []
        if self.cache is not None:
            missing = [n for n in wanted if not self.cache.has(self.tds._objects[n])]
        if missing:
            probe(self.ds_type, self.ds_root, f"an artifact of {self.pathspec}")
        sizes = {n: int((self.tds._info.get(n) or {}).get("size") or 0) for n in missing}
        total = sum(sizes.values())
        if progress is None or total < PROGRESS_MIN_BYTES:
            return self._load(wanted)
        out = self._load([n for n in wanted if n not in sizes])
        step = max(PROGRESS_MIN_BYTES, total // 8)
        done, batch, batch_bytes = 0, [], 0
        progress(0, total)
        for name in missing:
            batch.append(name)
            batch_bytes += sizes[name]
            if batch_bytes >= step or name == missing[-1]:
                out += self._load(batch)
                done += batch_bytes
                progress(done, total)
                batch, batch_bytes = [], 0
        return out

    def _load(self, names: list[str]) -> list[tuple[str, Any]]:
        from flowspin.store.remote import _unanswered, fail_fast

        if not names:
            return []
        with fail_fast():
            try:
                return list(self.tds.load_artifacts(names))
            except Exception as exc:
                raise _unanswered(self.ds_type, self.ds_root, exc) from None


def open_task(pathspec: str, cache: Any = None) -> OpenTask:
    """The task's datastore; raises remote.DatastoreUnreachable when its data.json is neither
    cached nor reachable."""
    from metaflow import Task
    from metaflow.datastore import FlowDataStore
    from metaflow.plugins import DATASTORES

    from flowspin.store.remote import fail_fast, probe

    task = Task(pathspec, _namespace_check=False)
    meta = task.metadata_dict
    ds_type, ds_root = meta["ds-type"], meta["ds-root"]
    impl = [d for d in DATASTORES if d.TYPE == ds_type][0]
    flow_name, run_id, step_name, task_id = pathspec.split("/")
    fds = FlowDataStore(flow_name, environment=None, storage_impl=impl, ds_root=ds_root)
    attempt = int(meta.get("attempt", task.current_attempt or 0))
    if ds_type == "local":
        cache = None
    else:
        cache = cache if cache is not None else shared_cache()
        fds.ca_store.set_blob_cache(cache)
        tasks = cache.metadata_cache(ds_type, ds_root, flow_name)
        fds.set_metadata_cache(tasks)
        if not tasks.has(run_id, step_name, task_id, attempt):
            probe(ds_type, ds_root, f"task {pathspec}")
    with fail_fast():
        tds = fds.get_task_datastore(run_id, step_name, task_id, attempt=attempt, mode="r")
    return OpenTask(pathspec, tds, ds_type, ds_root, cache)
