"""Failing fast when a remote Metaflow datastore cannot be reached.

Metaflow's S3 client retries with exponential backoff (S3_TRANSIENT_RETRY_COUNT 20,
S3_RETRY_COUNT 7, boto's own 10 attempts): right for a long run on a flaky network, but a spin
against an endpoint that is down hung silently for 300 s and more. A spin is interactive, so
before it downloads anything it is not holding locally, flowspin opens one TCP connection to the
datastore's endpoint (a few seconds at most) and, when that fails, raises `DatastoreUnreachable`
naming the endpoint and what to do. Loads themselves run with Metaflow's S3 retries lowered
(`fail_fast()`), so an outage in the middle of a download also ends in seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlparse

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = float(os.environ.get("FLOWSPIN_DATASTORE_PROBE_S", "3"))
_OK_FOR_S = 30.0  # a successful probe is trusted this long (no probe per spin)
_FAIL_FOR_S = 5.0  # ... and a failed one this long (a retry after that probes again)
_last_ok: dict[tuple[str, int], float] = {}
_last_fail: dict[tuple[str, int], tuple[float, str]] = {}
_active = 0  # fail_fast() contexts entered (a guarded read inside one keeps its settings)


class DatastoreUnreachable(Exception):
    """The remote datastore did not answer; the message names the endpoint and the fix."""


def endpoint(ds_type: str) -> tuple[str, str, int] | None:
    """(url, host, port) of the datastore's endpoint as Metaflow is configured, None for local."""
    from metaflow import metaflow_config as cfg

    if ds_type == "s3":
        url = cfg.S3_ENDPOINT_URL or (
            f"https://s3.{os.environ.get('AWS_DEFAULT_REGION') or 'us-east-1'}.amazonaws.com"
        )
    elif ds_type == "gs":
        url = "https://storage.googleapis.com"
    elif ds_type == "azure":
        url = getattr(cfg, "AZURE_STORAGE_BLOB_SERVICE_ENDPOINT", None) or ""
        if not url:
            return None
    else:
        return None
    parsed = urlparse(url if "://" in url else f"https://{url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    host = parsed.hostname or ""
    # Behind a proxy (HTTPS_PROXY, ...) boto connects to the proxy, not the endpoint: probe
    # the proxy, or a machine that reaches S3 only through it would be told S3 is down.
    import urllib.request

    proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        if via.hostname:
            return url, via.hostname, via.port or (443 if via.scheme == "https" else 80)
    return url, host, port


def probe(ds_type: str, ds_root: str, what: str) -> None:
    """Raise DatastoreUnreachable when the endpoint of `ds_type` takes no connection within
    PROBE_TIMEOUT_S (`what`: what could not be loaded, for the message)."""
    found = endpoint(ds_type)
    if found is None:
        return
    url, host, port = found
    now = time.monotonic()
    if now - _last_ok.get((host, port), -1e9) < _OK_FOR_S:
        return
    failed = _last_fail.get((host, port))
    if failed is not None and now - failed[0] < _FAIL_FOR_S:
        # A batch of reads (one per run listed, per card) fails at once, not one probe each.
        raise DatastoreUnreachable(failed[1]) from None
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        via = "" if host == urlparse(url).hostname else f" through the proxy {host}:{port}"
        setting = {
            "s3": "METAFLOW_S3_ENDPOINT_URL",
            "azure": "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT",
        }.get(ds_type, "your network")
        message = (
            f"the {ds_type.upper()} datastore {ds_root} is unreachable at {url}{via} ({reason}); "
            f"{what} is not cached locally. Check the network, VPN or {setting}, then spin "
            f"again (`flowspin cache info` shows what flowspin has cached)"
        )
        _last_fail[(host, port)] = (time.monotonic(), message)
        raise DatastoreUnreachable(message) from None
    _last_fail.pop((host, port), None)
    _last_ok[(host, port)] = now


@contextlib.contextmanager
def fail_fast(retries: int = 1) -> Iterator[None]:
    """Metaflow's S3 retries lowered to `retries` for the loads inside (this process's S3
    client, and the s3op processes it starts, which read METAFLOW_S3_* from the environment);
    restored after, so a step that uses S3 itself keeps Metaflow's defaults."""
    try:
        from metaflow.plugins.datatools.s3 import s3 as s3mod
        from metaflow.plugins.datatools.s3 import s3util
    except Exception:  # no boto3: no S3 datastore either
        yield
        return
    names = ("S3_RETRY_COUNT", "S3_TRANSIENT_RETRY_COUNT")
    saved = {n: getattr(s3mod, n, None) for n in names}
    env = {f"METAFLOW_{n}": str(retries) for n in names}
    params = dict(getattr(s3util, "DATATOOLS_CLIENT_PARAMS", None) or {})
    if "config" not in params and "METAFLOW_S3_CLIENT_RETRY_CONFIG" not in os.environ:
        # An endpoint that takes the connection and never answers (a stuck proxy): boto's
        # 60 s read timeout, 10 attempts, 21 times over, becomes 5 s per try. A user's own
        # config stays.
        params["config"] = {
            "connect_timeout": PROBE_TIMEOUT_S,
            "read_timeout": 5,
            "retries": {"max_attempts": 1, "mode": "standard"},
        }
        env["METAFLOW_DATATOOLS_CLIENT_PARAMS"] = json.dumps(params)
    global _active
    env_saved = {k: os.environ.get(k) for k in env}
    saved_params = getattr(s3util, "DATATOOLS_CLIENT_PARAMS", None)
    for n in names:
        setattr(s3mod, n, retries)
    if "METAFLOW_DATATOOLS_CLIENT_PARAMS" in env:
        s3util.DATATOOLS_CLIENT_PARAMS = params
    os.environ.update(env)
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        for n in names:
            if saved[n] is not None:
                setattr(s3mod, n, saved[n])
        s3util.DATATOOLS_CLIENT_PARAMS = saved_params
        for k, v in env_saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_READS = ("load_bytes", "is_file", "info_file", "size_file", "list_content")
_guarded = False


def guard_reads() -> None:
    """Make every read of a remote datastore in this process probe its endpoint first.

    For the spin worker: choosing the base run reads small artifacts (`_success`, ...) through
    Metaflow's Client, which retries an unreachable endpoint for minutes before the spin even
    gets to its parents; guarded, that read raises DatastoreUnreachable within
    PROBE_TIMEOUT_S. Reads served from a cache never call these methods (an empty batch is
    let through), and a successful probe is trusted for 30 s, so a reachable datastore pays
    one TCP connection per half minute. Idempotent.
    """
    global _guarded
    if _guarded:
        return
    _guarded = True
    try:
        from metaflow.plugins import DATASTORES
    except Exception:
        log.debug("no Metaflow datastore plugins to guard", exc_info=True)
        return
    for cls in DATASTORES:
        if getattr(cls, "TYPE", "local") == "local":
            continue
        for name in _READS:
            orig = cls.__dict__.get(name)
            if orig is None or getattr(orig, "_flowspin_guarded", False):
                continue
            setattr(cls, name, _guard(orig, name))


def _guard(orig, name: str):
    import functools

    @functools.wraps(orig)
    def guarded(self, *args, **kwargs):
        first = args[0] if args else None
        empty = name == "load_bytes" and isinstance(first, (list, tuple)) and not first
        if empty:
            return orig(self, *args, **kwargs)
        root = str(self.datastore_root)
        probe(self.TYPE, root, "data of the run")
        # Small reads (the Client's `_success`, ...): one try, within 5 s; a batch load that
        # runs inside fail_fast() already keeps its one retry.
        with fail_fast(retries=0) if not _active else contextlib.nullcontext():
            try:
                out = orig(self, *args, **kwargs)
                if name == "load_bytes" and hasattr(out, "data"):
                    # Metaflow downloads as the result is iterated: iterate here, with the
                    # retries lowered; the files stay until the caller closes the result.
                    out.data = iter(list(out.data))
                return out
            except Exception as exc:
                raise _unanswered(self.TYPE, root, exc) from None

    guarded._flowspin_guarded = True  # type: ignore[attr-defined]
    return guarded


def _unanswered(ds_type: str, ds_root: str, exc: Exception) -> Exception:
    """Metaflow's generic "S3 operation failed" (its retries used up) or a timeout, after the
    endpoint took the connection: a DatastoreUnreachable that says so, remembered like a failed
    probe. Anything else (not found, access denied) is Metaflow's own error, unchanged."""
    kind = type(exc).__name__
    if kind != "MetaflowS3Exception" and "Timeout" not in kind:
        return exc
    found = endpoint(ds_type)
    url, host, port = found if found is not None else ("?", "", 0)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
    message = (
        f"the {ds_type.upper()} datastore {ds_root} at {url} took the connection but did not "
        f"answer ({first}); the data is not cached locally. Check the endpoint, proxy or VPN, "
        f"then spin again (`flowspin cache info` shows what flowspin has cached)"
    )
    _last_fail[(host, port)] = (time.monotonic(), message)
    return DatastoreUnreachable(message)
