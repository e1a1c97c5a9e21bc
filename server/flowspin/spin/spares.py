"""A spin child forked ahead of time, so that a warm spin does not wait for `fork()`.

Forking copies the worker's page tables (about 15 ms for a 160 MB state). While the worker is
idle it forks the next spin's child, which also runs the flow file ahead (`child.prepare`) and
then waits for its job. A spare is only used if it was forked from the same flow module and
holds every parent state the spin needs; otherwise it is killed and the spin forks afresh.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from flowspin.spin.processes import freeze_heap, kill, own_group, spare_main
from flowspin.spin.protocol import write_fd


@dataclass
class Spare:
    pid: int
    job_w: int
    out_r: int
    err_r: int
    res_r: int
    keys: set[str]  # the parent states it holds
    generation: int  # of the flow module it was forked from

    def send(self, job: dict[str, Any], keys: list[str]) -> None:
        write_fd(self.job_w, {"type": "job", "job": job, "keys": keys})
        os.close(self.job_w)


class Spares:
    def __init__(self, flow_file: str, zombies: list[int]) -> None:
        self.flow_file = flow_file
        self.zombies = zombies  # the worker reaps these
        self.spare: Spare | None = None

    def make(self, cache: Any, generation: int) -> None:
        if self.spare is not None:
            return
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        freeze_heap()
        pid = os.fork()
        if pid == 0:
            spare_main(cache, job_r, out_w, err_w, res_w, self.flow_file)
        own_group(pid)
        for fd in (job_r, out_w, err_w, res_w):
            os.close(fd)
        self.spare = Spare(pid, job_w, out_r, err_r, res_r, set(cache.keys()), generation)

    def take(self, keys: list[str], generation: int) -> Spare | None:
        spare, self.spare = self.spare, None
        if spare is None:
            return None
        alive = os.waitpid(spare.pid, os.WNOHANG) == (0, 0)
        if alive and spare.generation == generation and set(keys) <= spare.keys:
            return spare
        self.discard(spare, reaped=not alive)
        return None

    def drop(self) -> None:
        """Kill the waiting spare (its state or flow module is out of date)."""
        if self.spare is not None:
            self.discard(self.spare)
            self.spare = None

    def discard(self, spare: Spare, reaped: bool = False) -> None:
        for fd in (spare.job_w, spare.out_r, spare.err_r, spare.res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if not reaped:
            kill(spare.pid, signal.SIGKILL)
            self.zombies.append(spare.pid)
