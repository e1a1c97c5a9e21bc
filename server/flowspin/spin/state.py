"""Finding and holding parent state in the worker: which tasks feed a spin, and their artifacts.

Artifacts load through Metaflow's Client API (so every datastore Metaflow supports works) or,
for chained spins, from the local store. Loaded tasks stay in an LRU cache under a memory
budget; forked children see them copy-on-write.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from flowspin.spin.options import SpinOptions

LAZY_MIN_BYTES = 1 << 20  # artifacts stored larger than this load lazily on a cold spin


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

    spun_task = None
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
        _apply_chaining(plan, store, flow_file)
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


def _parents_done(run, needed) -> bool:
    from metaflow import Step
    from metaflow.exception import MetaflowNotFound

    if True:
        ok = True
        for p in needed:
            try:
                st = Step(f"{run.pathspec}/{p}", _namespace_check=False)
                if not any(t.successful for t in st) and p != "_parameters":
                    ok = False
                elif p == "_parameters" and st.task is None:
                    ok = False
            except MetaflowNotFound:
                ok = False
            if not ok:
                break
        return ok


def _apply_chaining(plan: Plan, store: Any, flow_file: str) -> None:
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


# --- loading -----------------------------------------------------------------------------


@dataclass
class LoadedParent:
    ident: str
    source: str
    step: str
    values: dict[str, Any]
    keys: dict[str, Any]
    refs: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    nbytes: int = 0
    # name -> fingerprint.Fingerprint, taken once here so that no spin re-hashes what it read
    fingerprints: dict[str, Any] = field(default_factory=dict)

    def as_child_input(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "keys": self.keys,
            "refs": self.refs,
            "info": self.info,
            "ident": self.ident,
            "fingerprints": self.fingerprints,
        }


def _sizeof(value: Any) -> int:
    try:
        return int(sys.getsizeof(value))
    except Exception:
        return 0


class StateCache:
    """LRU of loaded parent tasks under a memory budget (bytes)."""

    def __init__(self, budget_bytes: int, store: Any) -> None:
        self.budget = budget_bytes
        self.store = store
        self._items: OrderedDict[str, LoadedParent] = OrderedDict()
        self._lock = threading.RLock()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "entries": len(self._items),
                "bytes": sum(p.nbytes for p in self._items.values()),
            }

    def get(self, spec: ParentSpec, lazy: bool = False) -> LoadedParent:
        """A loaded parent task; `lazy` defers reading artifacts until a child touches them.

        A first (cold) spin of a step that reads nothing big then costs what `metaflow spin`
        costs; `promote()` loads everything in the worker afterwards, so later spins are warm.
        """
        key = f"{spec.source}:{spec.ident}"
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        if spec.source == "metaflow":
            loaded = self._load_metaflow(spec, lazy=lazy)
        else:
            loaded = self._load_spin(spec)
        with self._lock:
            self._items[key] = loaded
            self._items.move_to_end(key)
            self._evict(keep=key)
        return loaded

    def _evict(self, keep: str) -> None:
        total = sum(p.nbytes for p in self._items.values())
        for key in list(self._items):
            if total <= self.budget:
                break
            if key == keep:
                continue
            total -= self._items.pop(key).nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _find_loaded_value(self, pathspec: str, name: str) -> tuple[bool, Any]:
        hit = self._items.get(f"metaflow:{pathspec}")
        if hit is not None and name in hit.values:
            return True, hit.values[name]
        return False, None

    def has_lazy(self) -> bool:
        with self._lock:
            return any(
                isinstance(p.values, LazyValues)
                and not p.values.complete()
                and not p.values.too_big
                for p in self._items.values()
            )

    def promote(self) -> None:
        """Load every deferred artifact in this process (the worker), for warm spins."""
        with self._lock:
            items = list(self._items.values())
        for p in items:
            if isinstance(p.values, LazyValues) and not p.values.complete():
                others = sum(q.nbytes for q in items if q is not p)
                if others + p.nbytes > self.budget:
                    # Too big to hold: it stays lazy (each spin reads what its step touches).
                    p.values.too_big = True
                    continue
                p.values.load_all()
                p.nbytes = 0
                _finish(p)

    def _load_metaflow(self, spec: ParentSpec, lazy: bool = False) -> LoadedParent:
        try:
            return self._load_metaflow_direct(spec, lazy=lazy)
        except Exception:
            return self._load_metaflow_client(spec)

    def _load_metaflow_direct(self, spec: ParentSpec, lazy: bool = False) -> LoadedParent:
        """All artifacts of a task in one datastore read, as `metaflow spin` does.

        The task is located through the Client API (its `ds-type`/`ds-root` metadata), so any
        datastore Metaflow supports works; unlike `DataArtifact.data` this skips the Client's
        on-disk blob cache, which would write every parent blob a second time.
        """
        from metaflow import Task
        from metaflow.datastore import FlowDataStore
        from metaflow.plugins import DATASTORES

        task = Task(spec.ident, _namespace_check=False)
        meta = task.metadata_dict
        impl = [d for d in DATASTORES if d.TYPE == meta["ds-type"]][0]
        flow_name, run_id, step_name, task_id = spec.ident.split("/")
        fds = FlowDataStore(flow_name, environment=None, storage_impl=impl, ds_root=meta["ds-root"])
        attempt = int(meta.get("attempt", task.current_attempt or 0))
        tds = fds.get_task_datastore(run_id, step_name, task_id, attempt=attempt, mode="r")
        names = [n for n, _ in tds.items()]
        keys, refs = {}, {}
        for name in names:
            sha = tds._objects[name]
            keys[name] = ("mf", sha)
            refs[name] = {"kind": "metaflow", "pathspec": spec.ident, "name": name, "sha": sha}
        if lazy:
            values: Any = LazyValues(names, lambda n: next(tds.load_artifacts([n]))[1], tds._info)
            # Small artifacts load now (one read); only big ones wait until touched or promoted.
            small = [
                n for n in names if int((tds._info.get(n) or {}).get("size") or 0) <= LAZY_MIN_BYTES
            ]
            for name, obj in tds.load_artifacts(small):
                values[name] = obj
        else:
            values = dict(tds.load_artifacts(names))
        return _finish(LoadedParent(spec.ident, "metaflow", spec.step, values, keys, refs))

    def _load_metaflow_client(self, spec: ParentSpec) -> LoadedParent:
        from metaflow import Task

        task = Task(spec.ident, _namespace_check=False)
        task._iter_filter = lambda _x: True  # private artifacts (_foreach_stack, ...) too
        values, keys, refs = {}, {}, {}
        for art in task:
            values[art.id] = art.data
            keys[art.id] = ("mf", art.sha)
            refs[art.id] = {
                "kind": "metaflow",
                "pathspec": spec.ident,
                "name": art.id,
                "sha": art.sha,
            }
        return _finish(LoadedParent(spec.ident, "metaflow", spec.step, values, keys, refs))

    def _load_spin(self, spec: ParentSpec) -> LoadedParent:
        from flowspin.store.reader import resolve_ref

        rec = None
        for path in self.store.spins.glob(f"*/{spec.step}/{spec.ident}.msgpack"):
            import msgpack

            rec = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
            break
        if rec is None:
            raise SpinSetupError(
                "MissingSpin",
                f"spin {spec.ident} of step {spec.step} is gone from the store; use --reset",
            )
        values, keys, refs = {}, {}, {}
        try:
            for name, entry in rec.get("artifacts", {}).items():
                ref = entry.get("ref")
                if not ref:
                    continue
                if ref.get("kind") == "metaflow":
                    found, value = self._find_loaded_value(ref["pathspec"], name)
                    if not found:
                        value = resolve_ref(self.store, ref)
                    keys[name] = ("mf", ref.get("sha"))
                else:
                    value = resolve_ref(self.store, ref)
                    keys[name] = ("fs", ref["sha"])
                values[name] = value
                refs[name] = ref
        except (LookupError, ValueError, TypeError, AttributeError) as exc:
            # A damaged blob is removed on detection, so spinning the step again rewrites it.
            raise SpinSetupError(
                "DamagedSpin",
                f"spin {spec.ident} of step {spec.step}, which this spin chains from, cannot "
                f"be read: {exc}. Spin {spec.step} again, or pass --reset to use the base run",
            ) from None
        return _finish(LoadedParent(spec.ident, "spin", spec.step, values, keys, refs))


class LazyValues(dict):
    """Artifacts read from the datastore on first access (and kept).

    A dict subclass whose entries appear only once loaded, so code that copies or iterates
    what is *loaded* never triggers a read by accident; `names` lists every artifact.
    """

    def __init__(self, names: list[str], loader: Any, mf_info: dict[str, Any]) -> None:
        super().__init__()
        self.names = list(names)
        self._names = set(names)
        self._loader = loader
        self.mf_info = mf_info
        self.too_big = False  # True: over the memory budget, never promoted
        # Shared with the LoadedParent: whichever process loads a value fingerprints it.
        self.fingerprints: dict[str, Any] = {}

    def __missing__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        from flowspin.spin import fingerprint

        value = self._loader(name)
        self.fingerprints[name] = fingerprint.take(value)
        self[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._names or dict.__contains__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def __iter__(self):
        return iter(self.names + [k for k in dict.keys(self) if k not in self._names])

    def __len__(self) -> int:
        return len(set(self.names) | set(dict.keys(self)))

    def keys(self):  # type: ignore[override]
        return list(iter(self))

    def items(self):  # type: ignore[override]
        return [(k, self[k]) for k in self]

    def values(self):  # type: ignore[override]
        return [self[k] for k in self]

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self._names:
            self._names.add(name)
            self.names.append(name)
        dict.__setitem__(self, name, value)

    def is_loaded(self, name: str) -> bool:
        return dict.__contains__(self, name)

    def complete(self) -> bool:
        return all(dict.__contains__(self, n) for n in self.names)

    def load_all(self) -> None:
        for name in self.names:
            self[name]

    def lazy_info(self, name: str) -> dict[str, Any]:
        info = self.mf_info.get(name) or {}
        raw = str(info.get("type") or "")
        if raw.startswith("<class '") and raw.endswith("'>"):
            raw = raw[8:-2]
        return {
            "type": raw.removeprefix("builtins."),
            "repr": "<not loaded: the step did not read it>",
            "size": int(info.get("size") or 0),
        }


def _finish(p: LoadedParent) -> LoadedParent:
    from flowspin.spin import fingerprint
    from flowspin.spin.child import short_repr, type_name

    if isinstance(p.values, LazyValues):
        p.fingerprints = p.values.fingerprints
        loaded = [
            (n, dict.__getitem__(p.values, n)) for n in p.values.names if p.values.is_loaded(n)
        ]
        for name in p.values.names:
            if not p.values.is_loaded(name):
                info = p.values.lazy_info(name)
                p.nbytes += info["size"]
                if not name.startswith("_"):
                    p.info[name] = info
    else:
        loaded = list(p.values.items())
    for name, value in loaded:
        if name not in p.fingerprints:
            p.fingerprints[name] = fingerprint.take(value)
        size = _sizeof(value)
        p.nbytes += size
        if not name.startswith("_"):
            p.info[name] = {"type": type_name(value), "repr": short_repr(value), "size": size}
    return p
