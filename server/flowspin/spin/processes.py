"""The spin child's process: how it is forked and set up, runs its step, reports, writes its
bytes and exits; and the process-level tools the worker uses on it (process groups, signals).

Everything here runs either in a forked child (where it must never return into the worker's
code) or acts on one from the worker.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import resource
import signal
import sys
import traceback
from typing import Any

from flowspin.protocol import error_info
from flowspin.spin.protocol import read_fd, write_fd

log = logging.getLogger(__name__)

ENV_CHILD_MEM = "FLOWSPIN_CHILD_MEMORY_MB"
ENV_CHILD_MEMORY_MB_ALIAS = "FLOWSPIN_CHILD_MEMORY_LIMIT_MB"


def fork_unsafe_reason() -> str | None:
    if not hasattr(os, "fork"):
        return "this platform has no os.fork"
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_initialized():
                return "CUDA is initialised in the worker (forking would break it)"
        except Exception:
            log.debug("could not tell whether CUDA is initialised", exc_info=True)
    return None


def freeze_heap() -> None:
    """Move the worker's objects out of the collector's reach before forking.

    A child's garbage collection would otherwise write to the header of every object it scans,
    copying each page of the shared state (copy-on-write) and costing milliseconds per spin.
    """
    import gc

    gc.freeze()


def kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_group(pgid: int, sig: int) -> None:
    """Signal a spin's process group (the child and whatever its step started)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        kill(pgid, sig)


def own_group(pid: int) -> None:
    """Make a forked child the leader of its own process group (it does the same itself;
    whichever runs first wins, so a signal to the group can never miss it)."""
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass


def group_members(pgid: int, exclude: int) -> list[tuple[int, str]]:
    """Live processes of a process group, with their command lines (from /proc)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        found.append((int(entry), cmd[:80]))
    return found


def child_setup(out_w: int, err_w: int, keep: set[int]) -> None:
    """In a forked child: its own process group (so whatever the step starts can be found and
    stopped with it), output to the pipes, the worker's other descriptors closed."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    # Only fds 1 and 2 may keep the output pipes open: closing them must mean EOF.
    keep = keep - {out_w, err_w}
    for fd in open_fds():
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.enable(file=sys.stderr)


def child_run(
    job: dict[str, Any], parents: list[dict[str, Any]], res_w: int, prepared: Any = None
) -> None:
    """Run the step, report, then write the changed artifacts' bytes, and exit.

    The report goes out first and the output pipes close, so the worker answers at once; the
    bytes follow (their addresses in a `persisted` frame), and closing the result pipe last
    tells the worker this process is done.
    """
    try:
        limit_memory()
        from flowspin.spin.child import execute
        from flowspin.spin.persist import PendingBlobs

        pending = PendingBlobs(job)
        report = execute(job, parents, prepared, pending)
        report_and_write(report, pending, res_w)
    except BaseException:
        try:
            traceback.print_exc()
        except Exception:
            pass
    finally:
        os._exit(0)


def report_and_write(report: dict[str, Any], pending: Any, res_w: int) -> None:
    """Send the report, hang up the output, then write what the report left pending."""
    if pending:
        shown = [n for n in pending.names if not n.startswith("_")]  # not Metaflow's own
        report["persist"] = {"artifacts": shown, "bytes": pending.nbytes}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        write_fd(res_w, {"type": "report", "report": report})
    except Exception as exc:  # e.g. a repr that msgpack cannot carry
        err = error_info("ReportError", str(exc))
        write_fd(res_w, {"type": "report", "report": {"status": "error", "error": err}})
        pending = None
    for fd in (1, 2):
        os.close(fd)
    if pending:
        write_fd(res_w, {"type": "persisted", "refs": pending.write()})
    os.close(res_w)


def child_main(
    job: dict[str, Any],
    parents: list[dict[str, Any]],
    out_w: int,
    err_w: int,
    res_w: int,
    keep: set[int],
) -> None:
    try:
        child_setup(out_w, err_w, keep)
    except BaseException:
        os._exit(70)
    child_run(job, parents, res_w)


def spare_main(
    cache: Any, job_r: int, out_w: int, err_w: int, res_w: int, flow_file: str | None = None
) -> None:
    """A child forked ahead of time: waits for a job, then runs it on its copy of the state."""
    try:
        child_setup(out_w, err_w, {job_r, out_w, err_w, res_w})
    except BaseException:
        os._exit(70)
    prepared = None
    if flow_file is not None:
        from flowspin.spin.child import prepare

        prepared = prepare(flow_file)
    try:
        msg = read_fd(job_r)
    except BaseException:
        os._exit(70)
    if msg is None:
        os._exit(0)
    parents = [cache.child_input(key) for key in msg["keys"]]
    child_run(msg["job"], parents, res_w, prepared)


def open_fds() -> list[int]:
    try:
        return [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


def limit_memory() -> None:
    mb = os.environ.get(ENV_CHILD_MEMORY_MB_ALIAS) or os.environ.get(ENV_CHILD_MEM)
    if not mb:
        return
    try:
        with open("/proc/self/statm") as fh:
            vsize = int(fh.read().split()[0]) * resource.getpagesize()
    except OSError:
        vsize = 0
    limit = vsize + int(float(mb) * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

