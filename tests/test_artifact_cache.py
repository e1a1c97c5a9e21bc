"""The local cache of artifacts read from remote datastores: content-addressed by Metaflow's
keys, verified on read, least recently used blobs removed past the size cap."""

from __future__ import annotations

import hashlib
import os

from flowspin.store.artifact_cache import ArtifactCache


def key(blob: bytes) -> str:
    return hashlib.sha1(blob).hexdigest()  # Metaflow's content address of a blob


def test_blobs_round_trip_and_a_damaged_one_is_dropped(tmp_path):
    cache = ArtifactCache(tmp_path, cap=1 << 20)
    blob = b"pickled bytes"
    assert cache.load_key(key(blob)) is None
    cache.store_key(key(blob), blob)
    assert cache.has(key(blob)) and cache.load_key(key(blob)) == blob
    path = tmp_path / "blobs" / key(blob)[:2] / key(blob)
    path.write_bytes(b"flipped bits")
    assert cache.load_key(key(blob)) is None  # never served: downloaded again instead
    assert not path.exists()


def test_least_recently_used_blobs_go_first_past_the_cap(tmp_path):
    cache = ArtifactCache(tmp_path, cap=3000)
    blobs = [bytes([i]) * 1000 for i in range(3)]
    for i, blob in enumerate(blobs):
        cache.store_key(key(blob), blob)
        path = tmp_path / "blobs" / key(blob)[:2] / key(blob)
        os.utime(path, (1000 + i, 1000 + i))  # stored in this order
    cache.load_key(key(blobs[0]))  # used again: now the most recent
    newest = b"n" * 1000
    cache.store_key(key(newest), newest)
    assert not cache.has(key(blobs[1]))  # the least recently used one went
    assert all(cache.has(key(b)) for b in (blobs[0], blobs[2], newest))
    assert cache.info()["bytes"] == 3000
    cache.store_key(key(b"x" * 5000), b"x" * 5000)  # bigger than the whole cap: not kept
    assert not cache.has(key(b"x" * 5000))


def test_task_metadata_and_clear(tmp_path):
    cache = ArtifactCache(tmp_path, cap=1 << 20)
    tasks = cache.metadata_cache("s3", "s3://bucket/prefix", "Flow")
    assert tasks.load_metadata("1", "start", "1", 0) is None
    tasks.store_metadata("1", "start", "1", 0, {"objects": {"x": "ab"}})
    assert tasks.has("1", "start", "1", 0)
    assert tasks.load_metadata("1", "start", "1", 0) == {"objects": {"x": "ab"}}
    # Another datastore root with the same flow and ids is another task.
    assert not cache.metadata_cache("s3", "s3://other", "Flow").has("1", "start", "1", 0)
    cache.store_key(key(b"v"), b"v")
    assert cache.info()["blobs"] == 1 and cache.info()["tasks"] == 1
    assert cache.clear()["blobs"] == 1
    assert cache.info()["blobs"] == 0 and cache.info()["tasks"] == 0


def test_a_cache_folder_others_may_write_is_never_used(tmp_path):
    """Blobs are unpickled: whoever can write the folder could plant a record and a blob."""
    root = tmp_path / "shared"
    root.mkdir(mode=0o777)
    root.chmod(0o777)
    cache = ArtifactCache(root, cap=1 << 20)
    cache.store_key(key(b"v"), b"v")
    assert not cache.has(key(b"v")) and cache.info()["usable"] is False
    planted = root / "blobs" / key(b"v")[:2] / key(b"v")
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"v")
    assert cache.load_key(key(b"v")) is None
    tasks = cache.metadata_cache("s3", "s3://b/p", "Flow")
    tasks.store_metadata("1", "start", "1", 0, {"objects": {}})
    assert not tasks.has("1", "start", "1", 0)
    # Its own, private folder is used (created 0700).
    assert ArtifactCache(tmp_path / "mine", cap=1 << 20).info()["usable"] is True


def test_behind_a_proxy_the_probe_tries_the_proxy(tmp_path):
    """boto reaches S3 through HTTPS_PROXY; probing S3 itself would call it down."""
    import subprocess
    import sys

    code = (
        "from flowspin.store.remote import probe, DatastoreUnreachable\n"
        "try:\n"
        "    probe('s3', 's3://bucket/prefix', 'task F/1/a/2')\n"
        "except DatastoreUnreachable as exc:\n"
        "    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and "METAFLOW" not in k}
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HOME=str(tmp_path), METAFLOW_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "through the proxy 127.0.0.1:9" in proc.stdout
    assert "task F/1/a/2 is not cached locally" in proc.stdout
