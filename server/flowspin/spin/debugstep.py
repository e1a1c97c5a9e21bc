"""Debug Step: run a spin's step under debugpy, inside the spin child only.

Why in the child: debugpy traces every frame and keeps threads and sockets of its own; in the
worker it would slow every later spin and outlive the session. A child is forked per spin and
exits after it, so the debugger goes with it and the warm state is never traced.

The child listens with pydevd speaking the protocol itself (debugpy's
`in_process_debug_adapter`): no adapter process to start (about half the time to the first
breakpoint) and none left behind when the child exits. `FLOWSPIN_DEBUG_ADAPTER=process` uses
debugpy's separate adapter instead (a detached process of its own session, so not one of the
step's stray processes). It tells the caller the address on stderr with a line editors
can match (`DEBUG_LINE`), which the worker streams live, and waits for a Debug Adapter
Protocol client. `debugpy.wait_for_client()` returns once that client has sent its
breakpoints and `configurationDone` (pydevd's `block_until_configuration_done`), so the step
starts with every breakpoint in place. No client within the timeout: `DebugTimeout`.

Post-mortem: the child catches the step's exception (to report it), so to debugpy it is never
uncaught. `post_mortem` hands it to debugpy as if it were (`debugpy.trigger_exception_handler`,
pydevd's own unhandled-exception stop on a debugpy without it): the client's exception
breakpoints decide, so a session with "Uncaught Exceptions" on (VS Code's default; the editor's
"Debug this step" quick fix forces it) stops at the raising line with its frames and locals,
and continuing lets the spin report the error as usual.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

HOST = "127.0.0.1"  # never another interface: an attached client runs code as us
DEBUG_LINE = "flowspin-debug: listening on {host}:{port}"
DEBUG_PREFIX = "flowspin-debug: listening on "
ENV_ADAPTER = "FLOWSPIN_DEBUG_ADAPTER"  # "in-process" (default) or "process"


class DebugTimeout(Exception):
    """No debugger attached in time; the step did not run. `info`: where it listened."""

    def __init__(self, message: str, info: dict[str, Any]) -> None:
        super().__init__(message)
        self.info = info


class DebugUnavailable(Exception):
    """debugpy is missing from the flow's environment, or could not listen."""


def parse_debug_line(text: str) -> tuple[str, int] | None:
    """(host, port) from a line the child printed, or None: what an editor or test matches."""
    for line in text.splitlines():
        if line.startswith(DEBUG_PREFIX):
            host, _, port = line[len(DEBUG_PREFIX) :].strip().rpartition(":")
            if host and port.isdigit():
                return host, int(port)
    return None


def listen_and_wait(port: int, timeout: float) -> dict[str, Any]:
    """Listen on HOST:port, announce it, and block until a client is configured.

    Returns what the result reports under `debug`: host, port and how long the attach took.
    """
    t0 = time.perf_counter()
    # pydevd warns on stderr that Python's frozen stdlib modules may miss breakpoints; those
    # are not where a step's breakpoints are, and the warning would land in every result.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        import debugpy
    except ImportError:
        raise DebugUnavailable(
            f"debugpy is not installed in {sys.executable}'s environment; "
            "install it there (pip install debugpy) to debug a step"
        ) from None
    # A subprocess the step starts is not debugged: it would try to attach to this session.
    debugpy.configure(subProcess=False)
    if port:
        _check_free(port)
    in_process = os.environ.get(ENV_ADAPTER, "in-process") != "process"
    try:  # on this (the step's) thread: debugpy traces the thread that calls it
        host, bound = debugpy.listen((HOST, port), in_process_debug_adapter=in_process)
    except Exception as exc:  # no adapter, no socket: say so instead of a traceback
        raise DebugUnavailable(f"debugpy could not listen on {HOST}:{port}: {exc}") from None
    print(DEBUG_LINE.format(host=host, port=bound), file=sys.stderr, flush=True)
    info: dict[str, Any] = {
        "host": host,
        "port": bound,
        "listen_ms": (time.perf_counter() - t0) * 1e3,
    }
    # Waited for on a thread, so the main thread (the step's) stays interruptible by a cancel
    # and the timeout needs no cooperation from debugpy.
    configured = threading.Event()

    def wait() -> None:
        try:
            debugpy.wait_for_client()
        finally:
            configured.set()

    threading.Thread(target=wait, name="flowspin-debug-attach", daemon=True).start()
    if not configured.wait(timeout):
        try:
            debugpy.wait_for_client.cancel()
        except RuntimeError:
            pass
    if not debugpy.is_client_connected():
        raise DebugTimeout(
            f"no debugger attached to {host}:{bound} within {timeout:g} s; the step did not "
            "run (the worker stays warm). Attach a debugpy client (VS Code: Flowspin: Debug "
            "Step, or a 'debugpy' attach configuration) sooner, or raise --debug-timeout",
            info,
        )
    info["attached_ms"] = (time.perf_counter() - t0) * 1e3
    return info


def post_mortem(error: BaseException) -> None:
    """Show the step's exception to the attached client as uncaught: it stops at the raising
    frame when its "uncaught" exception filter is on, and returns once the client continues.
    A cancel (KeyboardInterrupt) is not shown; nothing happens without a client."""
    if isinstance(error, KeyboardInterrupt) or error.__traceback__ is None:
        return
    try:
        import debugpy

        if not debugpy.is_client_connected():
            return
        trigger = getattr(debugpy, "trigger_exception_handler", None)
        if trigger is not None:  # a recent debugpy
            trigger(error, as_uncaught=True)
        else:
            _pydevd_post_mortem(error)
    except Exception as exc:  # the step's own error is what the spin reports
        print(f"flowspin-debug: could not stop at the exception: {exc}", file=sys.stderr)


def _pydevd_post_mortem(error: BaseException) -> None:
    """What `trigger_exception_handler` does, on a debugpy without it: pydevd's own stop for
    an unhandled exception, which applies the client's "uncaught" filter."""
    import pydevd  # type: ignore[import-not-found]
    from _pydevd_bundle.pydevd_breakpoints import (  # type: ignore[import-not-found]
        stop_on_unhandled_exception,
    )

    py_db = pydevd.get_global_debugger()
    if py_db is None:
        return
    thread = threading.current_thread()
    info = py_db.set_additional_thread_info(thread)
    info.is_tracing += 1  # the debugger's own frames are not traced while it waits
    try:
        stop_on_unhandled_exception(
            py_db, thread, info, (type(error), error, error.__traceback__)
        )
    finally:
        info.is_tracing -= 1


def _check_free(port: int) -> None:
    """A port already taken fails here, clearly: pydevd's in-process listener would log the
    error on a thread of its own and `debugpy.listen` never return (a debug spin has no other
    time limit)."""
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind((HOST, port))
    except OSError as exc:
        raise DebugUnavailable(
            f"cannot debug on {HOST}:{port}: {exc.strerror or exc}; pass another --debug-port, "
            "or 0 for a free one"
        ) from None
    finally:
        probe.close()


@contextmanager
def artifacts_listed(cls: type) -> Iterator[None]:
    """While the debugger drives the step, `dir(self)` also names the parent's artifacts.

    A FlowSpec serves artifacts through `__getattr__` and caches one only once the step reads
    it, so a debugger (which lists `dir(obj)`) would show just those already read. Listed
    here, each is fetched when `self` is expanded, lazy ones loaded then. Taken away before
    the artifacts are collected: `collect` walks `dir(flow)` and must not load the unread ones.
    """
    had = "__dir__" in cls.__dict__
    old = cls.__dict__.get("__dir__")

    def __dir__(self: Any) -> list[str]:
        names = set(object.__dir__(self))
        store = self.__dict__.get("_datastore")
        if store is not None:
            names.update(n for n in store if isinstance(n, str) and not n.startswith("_"))
        return sorted(names)

    cls.__dir__ = __dir__  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        if had:
            cls.__dir__ = old  # type: ignore[method-assign,assignment]
        else:
            del cls.__dir__
