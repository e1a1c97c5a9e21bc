"""The local spin store: content-addressed cloudpickle blobs plus one msgpack record per spin.

Records reference artifacts instead of copying them: an artifact a spin did not touch points
at the Metaflow task it came from (or at an earlier blob), so a spin of a step whose parent
holds gigabytes writes only what the step changed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import msgpack

from flowspin.store.atomic import write_atomic
from flowspin.store.layout import flow_key
from flowspin.store.root import DIRNAME

DEFAULT_KEEP = 5
# How long a reader waits for a spin's changed artifacts to be written (a 1.6 GB frame takes
# a few seconds; a writer that died releases its lock at once).
WRITE_WAIT_S = float(os.environ.get("FLOWSPIN_WRITE_WAIT_S", "300"))
WRITER_GONE = (
    "the spin's process ended before its changed artifacts were written; spin the step again"
)
# Blobs younger than this survive GC even when unreferenced: a spin child may have written
# them for a record that is about to land.
BLOB_GRACE_S = 120.0


class CorruptBlob(LookupError):
    """A stored blob no longer matches its content hash (a flipped byte, a truncated write)."""


def content_hash(chunks: list[bytes | memoryview]) -> str:
    """The blob's address: BLAKE3, cryptographic and about 6x the speed of SHA-256 here.

    Single-threaded on purpose: its thread pool does not survive `fork()`, and the worker
    (which verifies blobs it loads) forks every spin child.
    """
    import blake3

    digest = blake3.blake3(max_threads=1)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


class Pickled:
    """A value pickled with protocol 5: a small head plus its out-of-band data buffers, which
    stay views on the live object (nothing big is copied until the bytes are written)."""

    __slots__ = ("buffers", "head")

    def __init__(self, head: bytes, buffers: list[memoryview]) -> None:
        self.head = head
        self.buffers = buffers

    @property
    def size(self) -> int:
        return 8 + 8 + len(self.head) + sum(8 + b.nbytes for b in self.buffers)

    def chunks(self) -> list[bytes | memoryview]:
        """Blob layout: [n buffers][len(head)][head][len(b)][b]...; lengths 8-byte big-endian."""
        out: list[bytes | memoryview] = [len(self.buffers).to_bytes(8, "big")]
        out += [len(self.head).to_bytes(8, "big"), self.head]
        for buf in self.buffers:
            out += [buf.nbytes.to_bytes(8, "big"), buf]
        return out


def pickle_value(value: Any) -> Pickled:
    """cloudpickle, protocol 5, out-of-band buffers kept zero-copy (raises if unpicklable)."""
    import pickle

    import cloudpickle

    buffers: list[pickle.PickleBuffer] = []
    head = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return Pickled(head, [b.raw() for b in buffers])


def dumps_value(value: Any) -> tuple[list[bytes | memoryview], str, int]:
    """The value as blob chunks, with its content hash and size."""
    pickled = pickle_value(value)
    chunks = pickled.chunks()
    return chunks, content_hash(chunks), pickled.size


def loads_value(data: bytes | memoryview) -> Any:
    import pickle

    view = memoryview(data)
    count = int.from_bytes(view[:8], "big")
    pos = 8
    hlen = int.from_bytes(view[pos : pos + 8], "big")
    pos += 8
    head = view[pos : pos + hlen]
    pos += hlen
    buffers = []
    for _ in range(count):
        blen = int.from_bytes(view[pos : pos + 8], "big")
        pos += 8
        buffers.append(bytearray(view[pos : pos + blen]))
        pos += blen
    return pickle.loads(head, buffers=buffers)


def _record_problem(rec: Any) -> str:
    """What makes a record unusable (damaged on disk, or written by something else), if
    anything: readers treat such a record as missing instead of failing on its shape."""
    if not isinstance(rec, dict):
        return "not a mapping"
    for key, kind in (("spin_id", str), ("step", str), ("artifacts", dict)):
        if not isinstance(rec.get(key), kind):
            return f"{key!r} missing or not a {kind.__name__}"
    if not all(isinstance(e, dict) for e in rec["artifacts"].values()):
        return "an artifact entry is not a mapping"
    if not isinstance(rec.get("result", {}), dict):
        return "'result' is not a mapping"
    return ""


class Store:
    def __init__(self, workspace_root: str | os.PathLike[str]) -> None:
        self.workspace = Path(workspace_root).resolve()
        self.root = self.workspace / DIRNAME
        self.objects = self.root / "objects"
        self.spins = self.root / "spins"
        self.state = self.root / "state"

    # --- blobs -------------------------------------------------------------------------
    def blob_path(self, sha: str) -> Path:
        return self.objects / sha[:2] / sha

    def put_chunks(self, chunks: list[bytes | memoryview], sha: str) -> None:
        path = self.blob_path(sha)
        if path.exists():
            os.utime(path)  # keeps a concurrent GC from taking it
            return
        write_atomic(path, chunks)

    def put_value(self, value: Any) -> tuple[str, int]:
        chunks, sha, size = dumps_value(value)
        self.put_chunks(chunks, sha)
        return sha, size

    def get_value(self, sha: str) -> Any:
        """The blob's value, verified against its address first: a damaged blob is removed
        (so the next spin that produces the value writes it again) and reported, never
        unpickled."""
        path = self.blob_path(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(f"blob {sha} is missing from {self.objects}") from None
        if content_hash([data]) != sha:
            try:
                path.unlink()
            except OSError:
                pass
            raise CorruptBlob(
                f"blob {sha[:12]}… in {self.objects} does not match its content hash "
                "(damaged on disk); it was removed: spin the step again to rewrite it"
            )
        return loads_value(data)

    # --- records -----------------------------------------------------------------------
    def step_dir(self, flow_file: str | os.PathLike[str], step: str) -> Path:
        return self.spins / flow_key(flow_file, self.workspace) / step

    def write_record(self, flow_file: str | os.PathLike[str], record: dict[str, Any]) -> Path:
        path = self.step_dir(flow_file, record["step"]) / f"{record['spin_id']}.msgpack"
        write_atomic(path, [msgpack.packb(record, use_bin_type=True, default=str)])
        return path

    def list_spins(self, flow_file: str | os.PathLike[str], step: str) -> list[str]:
        folder = self.step_dir(flow_file, step)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.msgpack"))

    def list_steps(self, flow_file: str | os.PathLike[str]) -> list[str]:
        folder = self.spins / flow_key(flow_file, self.workspace)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def read_record(
        self, flow_file: str | os.PathLike[str], step: str, spin_id: str | None = None
    ) -> dict[str, Any]:
        ids = self.list_spins(flow_file, step)
        if spin_id is None:
            # Newest readable record: a damaged newest file must not hide older spins.
            for sid in reversed(ids):
                try:
                    return self._load(flow_file, step, sid)
                except (OSError, ValueError, msgpack.UnpackException):
                    continue
            raise LookupError(
                f"no spin of step {step!r} of {flow_file} in {self.spins}: "
                f"run `flowspin spin {flow_file} {step}` first"
            )
        if spin_id not in ids:
            raise LookupError(f"no spin {spin_id!r} of step {step!r} of {flow_file}")
        try:
            return self._load(flow_file, step, spin_id)
        except (ValueError, msgpack.UnpackException) as exc:
            raise LookupError(
                f"{exc}; it cannot be read: spin {step} again (older spins stay readable)"
            ) from None

    def _load(
        self, flow_file: str | os.PathLike[str], step: str, spin_id: str, wait: bool = True
    ) -> dict[str, Any]:
        rec = self._unpack(flow_file, step, spin_id)
        if rec.get("writing") and wait:
            # Reported before its changed artifacts were written: wait for the bytes, never
            # answer with a half-written spin.
            if self.wait_written(flow_file, step, spin_id):
                rec = self._unpack(flow_file, step, spin_id)
                if rec.get("writing"):
                    rec = dict(rec, writing=False, persisted=False, persist_error=WRITER_GONE)
        return rec

    def _unpack(self, flow_file: str | os.PathLike[str], step: str, spin_id: str) -> dict[str, Any]:
        data = (self.step_dir(flow_file, step) / f"{spin_id}.msgpack").read_bytes()
        rec = msgpack.unpackb(data, raw=False, strict_map_key=False)
        problem = _record_problem(rec)
        if problem:
            raise ValueError(f"spin record {spin_id} of step {step} is damaged ({problem})")
        return rec

    # --- spins whose bytes are still being written ---------------------------------------
    _held: dict[str, int] = {}  # lock files this process holds, path -> fd

    def _writing_path(self, flow_file: str | os.PathLike[str], step: str, spin_id: str) -> Path:
        return self.step_dir(flow_file, step) / f".{spin_id}.writing"

    def hold_writing(self, flow_file: str | os.PathLike[str], step: str, spin_id: str) -> None:
        """Readers of this spin wait until `release_writing` (or until this process dies)."""
        import fcntl

        path = self._writing_path(flow_file, step, spin_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        Store._held[str(path)] = fd

    def release_writing(self, flow_file: str | os.PathLike[str], step: str, spin_id: str) -> None:
        path = self._writing_path(flow_file, step, spin_id)
        fd = Store._held.pop(str(path), None)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        if fd is not None:
            os.close(fd)

    def wait_written(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        spin_id: str,
        timeout: float = WRITE_WAIT_S,
    ) -> bool:
        """Wait until the spin's writer lets go; False if this very process is the writer."""
        import fcntl

        path = self._writing_path(flow_file, step, spin_id)
        if str(path) in Store._held:
            return False
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return True
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"spin {spin_id} is still writing its artifacts after {timeout:g} s"
                        ) from None
                    time.sleep(0.005)
        finally:
            os.close(fd)

    def latest_ok(
        self,
        flow_file: str | os.PathLike[str],
        step: str,
        *,
        run_id: str,
        after: float = 0.0,
        split_index: int | None = None,
    ) -> dict[str, Any] | None:
        """Newest successful persisted spin of `step` on base run `run_id` (chaining source)."""
        for sid in reversed(self.list_spins(flow_file, step)):
            try:
                rec = self._load(flow_file, step, sid)
            except (OSError, ValueError, msgpack.UnpackException):
                continue
            if rec.get("created", 0) <= after:
                return None
            if rec.get("writing"):
                continue  # its writer is this process: it is final before it can be chained
            if rec.get("status") != "ok" or rec.get("base", {}).get("run_id") != run_id:
                continue
            if split_index is not None and rec.get("split_index") not in (None, split_index):
                continue
            return rec
        return None

    # --- reset markers -----------------------------------------------------------------
    def reset_time(self, flow_file: str | os.PathLike[str]) -> float:
        path = self.state / f"{flow_key(flow_file, self.workspace)}.reset"
        try:
            return float(path.read_text())
        except (OSError, ValueError):
            return 0.0

    def mark_reset(self, flow_file: str | os.PathLike[str]) -> None:
        path = self.state / f"{flow_key(flow_file, self.workspace)}.reset"
        write_atomic(path, [repr(time.time()).encode()])

    # --- garbage collection ------------------------------------------------------------
    def gc(self, flow_file: str | os.PathLike[str], step: str, keep: int = DEFAULT_KEEP) -> int:
        """Keep the newest `keep` spins of the step; drop blobs no record references."""
        ids = self.list_spins(flow_file, step)
        doomed = ids[: max(0, len(ids) - keep)]
        for sid in doomed:
            try:
                (self.step_dir(flow_file, step) / f"{sid}.msgpack").unlink()
            except FileNotFoundError:
                pass
        if doomed:
            self.gc_blobs()
        return len(doomed)

    def gc_blobs(self) -> int:
        live: set[str] = set()
        for rec_path in self.spins.glob("*/*/*.msgpack"):
            try:
                rec = msgpack.unpackb(rec_path.read_bytes(), raw=False, strict_map_key=False)
            except (OSError, ValueError, msgpack.UnpackException):
                continue
            if _record_problem(rec):
                continue
            for art in rec["artifacts"].values():
                ref = art.get("ref") or {}
                if ref.get("kind") == "blob":
                    live.add(ref["sha"])
        removed = 0
        cutoff = time.time() - BLOB_GRACE_S
        for blob in self.objects.glob("*/*"):
            if blob.name.startswith(".") or blob.name in live:
                continue
            try:
                if blob.stat().st_mtime < cutoff:
                    blob.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
