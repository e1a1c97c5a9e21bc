"""Results first, bytes after: the changed artifacts a spin child still has to write.

A step that changes a big artifact would otherwise make its user wait while hundreds of
megabytes are hashed and written. The child reports as soon as it knows what changed (type,
repr, size), then writes the blobs, and tells the worker their addresses; the worker keeps
readers of that spin waiting (`Store.wait_written`) until they are final.
"""

from __future__ import annotations

from typing import Any

from flowspin.store.store import Pickled


class PendingBlobs:
    def __init__(self, job: dict[str, Any]) -> None:
        self.enabled = bool(job.get("persist", True))
        self.workspace = job["workspace"]
        self.items: list[tuple[str, Pickled]] = []

    def add(self, name: str, pickled: Pickled) -> None:
        if self.enabled:
            self.items.append((name, pickled))

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.items]

    @property
    def nbytes(self) -> int:
        return sum(p.size for _, p in self.items)

    def write(self, arts: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        """Hash and write every blob; name -> its reference, or {"error": ...} for a blob
        that could not be written (a full disk). Fills the refs into `arts` when given."""
        from flowspin.store.store import Store, content_hash

        store = Store(self.workspace)
        refs: dict[str, dict[str, Any]] = {}
        for name, pickled in self.items:
            try:
                chunks = pickled.chunks()
                sha = content_hash(chunks)
                store.put_chunks(chunks, sha)
                refs[name] = {"kind": "blob", "sha": sha}
            except Exception as exc:
                refs[name] = {"error": f"{type(exc).__name__}: {exc}"}
        self.items = []
        if arts is not None:
            fill_refs(arts, refs)
        return refs


def fill_refs(arts: dict[str, dict[str, Any]], refs: dict[str, dict[str, Any]]) -> list[str]:
    """Put written blobs' references into a record's artifacts; the names that failed."""
    failed = []
    for name, ref in refs.items():
        if name not in arts:
            continue
        if "error" in ref:
            arts[name]["ref"] = None
            arts[name]["error"] = ref["error"]
            failed.append(name)
        else:
            arts[name]["ref"] = ref
    return failed
