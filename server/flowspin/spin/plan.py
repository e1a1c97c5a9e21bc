"""Planning a spin: which base run, which parent tasks (or parent spins) feed the step.

The base run is chosen as `metaflow spin` would (the newest run in the caller's namespace whose
parent tasks finished), the parents follow Metaflow's own lineage where the step ran, and the
graph where it did not; chaining then puts the newest spin of a parent step in place of its
task, like re-running a notebook cell on the output of the one above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowspin.spin.options import SpinOptions


class SpinSetupError(Exception):
    """The spin cannot start (no base run, bad pathspec, ...); message says what to do."""

    def __init__(self, err_type: str, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.err_type = err_type
        self.message = message
        self.line = line  # in the flow file, when the problem has a place there


def unknown_step(flow_name: str, graph: Any, step: str) -> SpinSetupError:
    """"no step 'scor' in ScoreFlow; did you mean 'score'?", pointing at that step."""
    import difflib

    names = [n.name for n in graph]
    close = difflib.get_close_matches(step, names, n=1, cutoff=0.6)
    if close:
        line = int(getattr(graph[close[0]], "func_lineno", 0) or 0)
        return SpinSetupError(
            "UnknownStep", f"no step {step!r} in {flow_name}; did you mean {close[0]!r}?", line
        )
    return SpinSetupError(
        "UnknownStep", f"no step {step!r} in {flow_name}; its steps: {', '.join(names)}"
    )


@dataclass
class ParentSpec:
    source: str  # "metaflow" | "spin"
    ident: str  # task pathspec or spin id
    step: str
    index: tuple[int, ...] = ()


@dataclass
class Plan:
    flow_name: str
    step: str
    run_id: str
    parents: list[ParentSpec]
    split_index: int | None
    tasks: list[str] = field(default_factory=list)  # Metaflow pathspecs of the base state
    chained_from: list[str] = field(default_factory=list)
    spun_task: str | None = None  # the base run's own task of this step, if any
    # The flow's newest run when this plan was made (the worker re-plans when a newer one appears).
    newest_seen: str | None = None


def _indices(task: Any) -> tuple[int, ...]:
    path = task.metadata_dict.get("foreach-execution-path") or ""
    out = []
    for part in path.split(","):
        if ":" in part:
            try:
                out.append(int(part.rsplit(":", 1)[1]))
            except ValueError:
                pass
    return tuple(out)


def _pick(tasks: list[Any], split: int | None) -> Any:
    """The task at split `split` of the first outer foreach group (tasks sorted by indices)."""
    keyed = sorted(((_indices(t), t) for t in tasks), key=lambda kv: (kv[0], kv[1].created_at))
    if not keyed:
        raise LookupError
    first_prefix = keyed[0][0][:-1]
    group = [(ix, t) for ix, t in keyed if ix[:-1] == first_prefix]
    if split is None or not keyed[0][0]:
        return keyed[0][1]
    for ix, t in group:
        if ix and ix[-1] == split:
            return t
    raise SpinSetupError(
        "BadSplit",
        f"no split {split} of step {tasks[0].parent.id}: it has splits 0..{len(group) - 1}",
    )


def split_count(
    flow_name: str, graph: Any, step: str, plan: Plan, parent_values: dict[str, Any]
) -> int:
    """How many foreach splits feed `step` (for --all-splits)."""
    n = parent_values.get("_foreach_num_splits")
    if n:
        return int(n)
    stack = parent_values.get("_foreach_stack") or []
    if stack:
        return int(stack[-1].num_splits or 1)
    return 1


def plan_spin(
    flow_name: str, graph: Any, step: str, opts: SpinOptions, store: Any, flow_file: str
) -> Plan:
    from metaflow import Run, Step, Task
    from metaflow.exception import MetaflowNotFound

    node = graph[step]
    in_funcs = [p for p in node.in_funcs if p != step] if step != graph.start_step else []
    is_foreach_child = any(graph[p].type == "foreach" for p in in_funcs)

    # Metaflow's Client objects are typed Optional at every `.parent`; here they exist.
    spun_task: Any = None
    run: Any
    if opts.task:
        parts = opts.task.split("/")
        if len(parts) != 4:
            raise SpinSetupError(
                "BadPathspec", f"--task expects Flow/run_id/step/task_id, got {opts.task!r}"
            )
        try:
            spun_task = Task(opts.task, _namespace_check=False)
        except MetaflowNotFound:
            raise SpinSetupError(
                "MissingBaseRun", f"task {opts.task} not found in the Metaflow datastore"
            ) from None
        run = spun_task.parent.parent
    else:
        run = _choose_run(
            flow_name, graph, step, in_funcs, opts.run, flow_file, node.type == "join"
        )
        try:
            tasks = list(Step(f"{run.pathspec}/{step}", _namespace_check=False))
        except MetaflowNotFound:
            tasks = []
        if tasks:
            spun_task = _pick(
                tasks,
                opts.split
                if opts.split is not None
                else (0 if is_foreach_child or _inside_foreach(graph, step) else None),
            )

    split_index = None
    parents: list[ParentSpec] = []
    if spun_task is not None and "_graph_info" not in spun_task:
        # The step's task in the base run never saved its artifacts (a run cancelled or
        # killed while it ran): Metaflow cannot tell its parents, the graph can.
        spun_task = None
    if step == graph.start_step:
        ptask = Step(f"{run.pathspec}/_parameters", _namespace_check=False).task
        if ptask is None:
            raise SpinSetupError(
                "MissingBaseRun",
                f"run {run.pathspec} saved no parameters; run `python {flow_file} run` again",
            )
        parents = [ParentSpec("metaflow", ptask.pathspec, "_parameters")]
    elif spun_task is not None:
        ptasks = list(spun_task.parent_tasks)
        order = {name: i for i, name in enumerate(sorted(in_funcs))}
        ptasks.sort(key=lambda t: (order.get(t.parent.id, 99), _indices(t)))
        if node.type != "join" and len(ptasks) > 1:
            # switch merges and recursive steps: the parent that actually fed this task
            outside = [t for t in ptasks if t.parent.id != step]
            ptasks = (outside or ptasks)[:1]
        parents = [ParentSpec("metaflow", t.pathspec, t.parent.id, _indices(t)) for t in ptasks]
        if is_foreach_child:
            split_index = spun_task.index
    else:
        for p in sorted(in_funcs):
            try:
                ptasks = list(Step(f"{run.pathspec}/{p}", _namespace_check=False))
            except MetaflowNotFound:
                continue
            if node.type == "join" and graph[node.split_parents[-1]].type == "foreach":
                parents += _foreach_join_parents(run, node.split_parents[-1], p, ptasks)
                continue
            ptasks = [t for t in ptasks if t.successful]
            if not ptasks:
                continue
            else:
                t = _pick(ptasks, opts.split if _inside_foreach(graph, p) else None)
                parents.append(ParentSpec("metaflow", t.pathspec, p, _indices(t)))
            if node.type != "join":
                break
        if is_foreach_child:
            split_index = opts.split or 0
    if not parents:
        raise SpinSetupError(
            "MissingBaseRun",
            f"run {run.pathspec} has no finished parent task of step {step}; "
            f"run `python {flow_file} run` first",
        )

    plan = Plan(
        flow_name=flow_name,
        step=step,
        run_id=run.id,
        parents=parents,
        split_index=split_index,
        tasks=[p.ident for p in parents],
        spun_task=spun_task.pathspec if spun_task is not None else None,
    )
    if store is not None and not opts.reset:
        apply_chaining(plan, store, flow_file)
    require_complete(plan, flow_file)
    del Run
    return plan


def _foreach_join_parents(
    run: Any, foreach_step: str, body_step: str, tasks: list[Any]
) -> list[ParentSpec]:
    """One parent per split of the foreach, as `resume` would see them: the run's successful
    task of each split, or a placeholder for a split that failed there, which a spin of that
    split fills in (chaining) before the join can run."""
    keyed = sorted(((_indices(t), t) for t in tasks), key=lambda kv: (kv[0], kv[1].created_at))
    if not keyed:
        return []
    prefix = keyed[0][0][:-1]
    group = [(ix, t) for ix, t in keyed if ix[:-1] == prefix and ix]
    done = {ix[-1]: t for ix, t in group if t.successful}
    expected = _num_splits(run, foreach_step, prefix)
    if expected is None:
        expected = max([ix[-1] for ix, _ in group], default=-1) + 1
    return [
        ParentSpec("metaflow", done[k].pathspec, body_step, prefix + (k,))
        if k in done
        else ParentSpec("missing", "", body_step, prefix + (k,))
        for k in range(expected)
    ]


def _num_splits(run: Any, foreach_step: str, prefix: tuple[int, ...]) -> int | None:
    """How many splits the foreach step made (for nested loops: its task in group `prefix`)."""
    from metaflow import Step
    from metaflow.exception import MetaflowNotFound

    try:
        for task in Step(f"{run.pathspec}/{foreach_step}", _namespace_check=False):
            if _indices(task) == prefix and "_foreach_num_splits" in task:
                return int(task["_foreach_num_splits"].data)
    except (MetaflowNotFound, KeyError, TypeError, ValueError):
        return None
    return None


def rechain(plan: Plan, store: Any, flow_file: str) -> None:
    """A cached plan keeps its base run; which parent spins it chains from is decided again
    at every spin (cheap: the local store)."""
    plan.parents = [
        ParentSpec("metaflow" if t else "missing", t, p.step, p.index)
        for t, p in zip(plan.tasks, plan.parents, strict=False)
    ]
    plan.chained_from = []
    apply_chaining(plan, store, flow_file)
    require_complete(plan, flow_file)


def require_complete(plan: Plan, flow_file: str) -> None:
    """A join needs every split: one that failed in the base run and was not spun since is an
    error that says which split, and the command that fills it in."""
    missing = [p for p in plan.parents if p.source == "missing"]
    if not missing:
        return
    splits = ", ".join(str(p.index[-1]) for p in missing)
    body = missing[0].step
    fix = (
        f"flowspin spin {flow_file} {body} --split {missing[0].index[-1]}"
        if len(missing) == 1
        else f"flowspin spin {flow_file} {body} --all-splits"
    )
    raise SpinSetupError(
        "MissingSplit",
        f"split {splits} of step {body} did not finish in run {plan.run_id} and has no spin "
        f"since; run `{fix}`, then spin {plan.step} again (it takes the spun splits on top of "
        "the run's successful ones, as resume would)",
    )


def _inside_foreach(graph: Any, step: str) -> bool:
    return bool(getattr(graph[step], "is_inside_foreach", False))


def _choose_run(flow_name, graph, step, in_funcs, run_id, flow_file, need_all=True):
    from metaflow import Flow, Run
    from metaflow.exception import MetaflowNotFound

    hint = f"run `python {flow_file} run` first"
    if run_id:
        try:
            return Run(f"{flow_name}/{run_id}", _namespace_check=False)
        except MetaflowNotFound:
            raise SpinSetupError(
                "MissingBaseRun", f"run {flow_name}/{run_id} not found; {hint}"
            ) from None
    from metaflow.exception import MetaflowNamespaceMismatch

    try:
        runs = list(Flow(flow_name))
    except (MetaflowNotFound, MetaflowNamespaceMismatch):
        raise SpinSetupError(
            "MissingBaseRun", f"no run of {flow_name} in the Metaflow datastore; {hint}"
        ) from None
    needed = in_funcs or ["_parameters"]
    for run in runs:
        if need_all:
            ok = _parents_done(run, needed)
        else:
            ok = any(_parents_done(run, [p]) for p in needed)
        if ok:
            return run
    raise SpinSetupError(
        "MissingBaseRun",
        f"no run of {flow_name} has finished the parents of step {step} "
        f"({', '.join(needed)}); {hint}",
    )


def _parents_done(run: Any, needed: list[str]) -> bool:
    """Whether `run` finished a task of every step in `needed` (its parameters: exist)."""
    from metaflow import Step
    from metaflow.exception import MetaflowNotFound

    for p in needed:
        try:
            st = Step(f"{run.pathspec}/{p}", _namespace_check=False)
            if p == "_parameters":
                if st.task is None:
                    return False
            elif not any(t.successful for t in st):
                return False
        except MetaflowNotFound:
            return False
    return True


def apply_chaining(plan: Plan, store: Any, flow_file: str) -> None:
    """Replace parent tasks by the newest spin of their step made on the same base run."""
    after = store.reset_time(flow_file)
    for i, spec in enumerate(plan.parents):
        if spec.step == "_parameters":
            continue
        rec = store.latest_ok(
            flow_file,
            spec.step,
            run_id=plan.run_id,
            after=after,
            split_index=spec.index[-1] if spec.index else None,
        )
        if rec is not None and rec.get("persisted", True):
            plan.parents[i] = ParentSpec("spin", rec["spin_id"], spec.step, spec.index)
            plan.chained_from.append(rec["spin_id"])

