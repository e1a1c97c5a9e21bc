"""The worker's plans, kept from one spin to the next while they are still right.

Planning asks Metaflow's metadata for the base run and its parent tasks, which costs more than
a warm spin itself. A plan is kept per (step, run, task, split) until the flow is re-imported,
a `--reset` spin, a `rebase` (a run of the flow ended) or a newer run of the flow makes it
stale; a kept plan is only re-chained onto the newest spins of its parent steps.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flowspin.spin.flowmodule import FlowModule
from flowspin.spin.options import SpinOptions

log = logging.getLogger(__name__)


class PlanCache:
    def __init__(self, flow: FlowModule, store: Any) -> None:
        self.flow = flow
        self.store = store
        self.plans: dict[tuple, Any] = {}
        self.generation = flow.generation  # of the flow import the plans were made from
        # base run id -> (when checked, still the newest): Metaflow is asked once a second.
        self.latest_checked: dict[str, tuple[float, bool]] = {}

    def forget(self) -> None:
        """Choose base runs afresh at the next spin (the parent state stays cached)."""
        self.plans.clear()
        self.latest_checked.clear()

    def plan(self, step: str, opts: SpinOptions) -> Any:
        from flowspin.spin.plan import SpinSetupError, plan_spin, rechain, unknown_step

        flow = self.flow
        if flow.cls is None:
            raise SpinSetupError(
                "FlowLoadError", f"cannot import {flow.flow_file}: {flow.load_error}"
            )
        if self.generation != flow.generation:  # re-imported: its graph may differ
            self.plans.clear()
            self.generation = flow.generation
        graph = flow.cls._graph
        if step not in {n.name for n in graph}:
            raise unknown_step(flow.cls.__name__, graph, step)
        if opts.reset:
            self.store.mark_reset(flow.flow_file)
            self.plans.clear()
        key = (step, opts.run, opts.task, opts.split)
        plan = self.plans.get(key)
        if plan is None or not self._current(plan, opts):
            plan = plan_spin(flow.cls.__name__, graph, step, opts, self.store, flow.flow_file)
            if not (opts.run or opts.task):
                plan.newest_seen = newest_run_id(plan.flow_name)
            self.plans[key] = plan
        else:
            rechain(plan, self.store, flow.flow_file)
        return plan

    def _current(self, plan: Any, opts: SpinOptions) -> bool:
        if opts.run or opts.task:
            return True
        # A newer run of the flow makes the cached base run stale (checked at most once a second:
        # a Metaflow run takes longer than that to produce parents anyway).
        seen = self.latest_checked.get(plan.run_id)
        if seen is not None and time.monotonic() - seen[0] < 1.0:
            return seen[1]
        fresh = base_still_latest(plan)
        self.latest_checked[plan.run_id] = (time.monotonic(), fresh)
        return fresh


def base_still_latest(plan: Any) -> bool:
    """Whether the plan's base run is still the one a fresh choice would make: a newer run
    that finished always wins; a newer unfinished one (in flight, failed or cancelled) is
    considered once, since it may hold the parents of the step already."""
    try:
        from metaflow import Flow

        latest = Flow(plan.flow_name).latest_run
        if latest is None or latest.id == plan.run_id:
            return True
        return not latest.finished and latest.id == plan.newest_seen
    except Exception:
        log.debug("no latest run of %s", plan.flow_name, exc_info=True)
        return False


def newest_run_id(flow_name: str) -> str | None:
    try:
        from metaflow import Flow

        latest = Flow(flow_name).latest_run
        return latest.id if latest is not None else None
    except Exception:
        log.debug("no latest run of %s", flow_name, exc_info=True)
        return None
