"""The body of one spin, run inside a forked (or fresh) child process.

Builds the flow object the way Metaflow's task runner does (datastore, foreach and iteration
stacks, parameters, `current`), but with parent artifacts served from memory and without the
CLI; runs the step; reports changed artifacts, the transition and any error. Everything this
module does dies with the child, so the worker's warm state is never touched.
"""

from __future__ import annotations

import os
import reprlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from flowspin.protocol import error_info
from flowspin.spin.flowload import (
    FlowLoadError,
    drop_changed_modules,
    exec_flow_file,
    find_flow_class,
    load_module_from_path,
)
from flowspin.spin.memds import MemDataStore
from flowspin.spin.persist import PendingBlobs

IGNORED_DECORATORS = {
    "retry",
    "catch",
    "resources",
    "kubernetes",
    "batch",
    "conda",
    "pypi",
    "conda_base",
    "pypi_base",
}
REPR_LIMIT = 1000


def _long_repr() -> reprlib.Repr:
    """A repr that shows the first 50 items of a long container. Set by attribute: the
    keyword arguments of `reprlib.Repr` exist only from Python 3.12."""
    shown = reprlib.Repr()
    shown.maxlist = shown.maxdict = shown.maxset = shown.maxtuple = 50
    shown.maxlevel = 3
    return shown


def short_repr(value: Any) -> str:
    try:
        if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > 200:
            text = _long_repr().repr(value)
        else:
            text = repr(value)
    except Exception as exc:  # a broken __repr__ must not fail the spin
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    return text[:REPR_LIMIT]


def type_name(value: Any) -> str:
    cls = type(value)
    mod = cls.__module__
    return cls.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{cls.__qualname__}"


def user_frame(tb: Any, flow_file: str, workspace: str) -> tuple[str, int]:
    """The innermost frame in user code: the flow file or any workspace (non-library) file."""
    frames = traceback.extract_tb(tb)
    for fr in reversed(frames):
        if _is_user_file(fr.filename, flow_file, workspace):
            return fr.filename, fr.lineno or 0
    return (frames[-1].filename, frames[-1].lineno or 0) if frames else (flow_file, 0)


def _is_user_file(name: str, flow_file: str, workspace: str) -> bool:
    if name == flow_file or name == str(Path(flow_file).resolve()):
        return True
    here = str(Path(__file__).resolve().parent.parent)
    return name.startswith(workspace) and not name.startswith(here) and "site-packages" not in name


def step_traceback(error: BaseException, flow_file: str, workspace: str) -> str:
    """The traceback from the first frame of user code on (as IPython shows it): the frames
    of flowspin's child and Metaflow's task runner above the step say nothing about the bug.
    Left whole when no frame is the user's."""
    tb = error.__traceback__
    while tb is not None:
        if _is_user_file(tb.tb_frame.f_code.co_filename, flow_file, workspace):
            break
        tb = tb.tb_next
    if tb is None:
        tb = error.__traceback__
    return "".join(traceback.format_exception(type(error), error, tb))


def convert_param(raw: str, current: Any, param: Any) -> Any:
    ptype = (getattr(param, "kwargs", {}) or {}).get("type")
    target = current if current is not None else None
    if ptype is bool or isinstance(target, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    for typ in (int, float):
        if ptype is typ or (ptype is None and type(target) is typ):
            return typ(raw)
    if isinstance(target, (dict, list)):
        import json

        return json.loads(raw)
    return raw


def prepare(flow_file: str) -> tuple[float, int, Any, Any] | None:
    """Done ahead by a spare child while the worker is idle: run the flow file, find the class.

    Whatever this touches is copied (copy-on-write) before the spin is even requested.
    """
    try:
        st = os.stat(flow_file)
        module = exec_flow_file(flow_file)
        return (st.st_mtime, st.st_size, module, find_flow_class(module))
    except BaseException:
        return None


def _prepared_still_valid(prepared: Any, job: dict[str, Any]) -> bool:
    if not prepared:
        return False
    try:
        st = os.stat(job["flow_file"])
    except OSError:
        return False
    if (st.st_mtime, st.st_size) != prepared[:2]:
        return False
    for path, mtime in (job.get("module_snapshot") or {}).values():
        try:
            if os.stat(path).st_mtime != mtime:
                return False
        except OSError:
            return False
    return True


def execute(
    job: dict[str, Any],
    parents: list[dict[str, Any]],
    prepared: Any = None,
    pending: PendingBlobs | None = None,
) -> dict[str, Any]:
    """Run the step; return the child's report (never raises).

    Changed artifacts are pickled but not yet written: they are left in `pending`, so the
    caller can report first and write the bytes after (`PendingBlobs.write`).
    """
    if pending is None:
        pending = PendingBlobs(job)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    notices: list[str] = []
    flow_file = job["flow_file"]
    workspace = job["workspace"]
    step = job["step"]
    report: dict[str, Any] = {"status": "error", "notices": notices, "timings": timings}

    def fail(
        err_type: str, message: str, file: str = "", line: int = 0, tb: str = ""
    ) -> dict[str, Any]:
        report["error"] = error_info(err_type, message, traceback=tb, file=file, line=line)
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        return report

    try:
        if _prepared_still_valid(prepared, job) and step in {n.name for n in prepared[3]._graph}:
            cls = prepared[3]
        else:
            report["reloaded"] = drop_changed_modules(job.get("module_snapshot") or {})
            module = exec_flow_file(flow_file)
            cls = find_flow_class(module, step)
    except FlowLoadError as exc:
        return fail(exc.err_type, exc.message, exc.file, exc.line)
    except BaseException as exc:  # import-time error in the flow file or its imports
        file, line = user_frame(exc.__traceback__, flow_file, workspace)
        return fail(
            type(exc).__name__,
            f"while loading the flow file: {exc}",
            file,
            line,
            traceback.format_exc(),
        )
    timings["load_ms"] = (time.perf_counter() - t0) * 1e3
    report["flow"] = cls.__name__

    graph = cls._graph
    if step not in {n.name for n in graph}:
        from flowspin.spin.plan import unknown_step

        unknown = unknown_step(cls.__name__, graph, step)
        return fail(unknown.err_type, unknown.message, flow_file, unknown.line)
    node = graph[step]
    try:
        return _run(job, parents, cls, graph, node, report, notices, timings, t0, fail, pending)
    except BaseException as exc:
        file, line = user_frame(exc.__traceback__, flow_file, workspace)
        return fail(
            type(exc).__name__, str(exc) or type(exc).__name__, file, line, traceback.format_exc()
        )


def _run(job, parents, cls, graph, node, report, notices, timings, t0, fail, pending):  # noqa: C901
    from metaflow import current
    from metaflow.datastore.inputs import Inputs
    from metaflow.task import MetaflowTask

    flow_file, workspace, step = job["flow_file"], job["workspace"], job["step"]

    # Overrides from --artifacts-module: new values for named artifacts, for every input.
    overrides: dict[str, Any] = {}
    if job.get("artifacts_module"):
        try:
            mod = load_module_from_path(job["artifacts_module"], "_flowspin_artifacts")
            overrides = dict(mod.ARTIFACTS)
        except AttributeError:
            return fail(
                "ArtifactsModule",
                f"{job['artifacts_module']} defines no ARTIFACTS dict",
                job["artifacts_module"],
            )

    inputs = []
    for i, p in enumerate(parents):
        ds = MemDataStore(
            p["values"], p["keys"], p["refs"], p.get("info"), p.get("fingerprints")
        )
        for k, v in overrides.items():
            ds.values[k] = v
            ds._objects[k] = ("override", i)
            ds.origin.pop(k, None)
            ds.fingerprints = {n: f for n, f in ds.fingerprints.items() if n != k}
        inputs.append(ds)

    join_type = None
    if node.type == "join":
        join_type = graph[node.split_parents[-1]].type
    shim = type("TaskShim", (), {})()
    flow = cls(use_cli=False)
    shim.flow = flow
    shim.ubf_context = None
    MetaflowTask._init_foreach(shim, step, join_type, inputs, job.get("split_index"))
    recursive = node.type == "split-switch" and step in node.out_funcs
    MetaflowTask._init_iteration(shim, step, inputs, recursive)

    flow._current_step = step
    flow._success = False
    flow._task_ok = None
    flow._exception = None
    output = None
    if join_type:
        output = MemDataStore()
        input_obj = Inputs(_clone(cls, ds) for ds in inputs)
        flow._set_datastore(output)
        param_names = MetaflowTask._init_parameters(shim, inputs[0], passdown=True)
    else:
        input_obj = None
        flow._set_datastore(inputs[0])
        param_names = MetaflowTask._init_parameters(shim, inputs[0], passdown=False)

    # --param overrides: read-only properties like Metaflow's own parameters.
    params = dict(flow._get_parameters())
    overridden: dict[str, Any] = {}
    for raw_name, raw in (job.get("params") or {}).items():
        name = raw_name.replace("-", "_")
        if name not in params:
            return fail(
                "UnknownParameter",
                f"{cls.__name__} has no parameter {raw_name!r}; "
                f"parameters: {', '.join(params) or 'none'}",
                flow_file,
            )
        current_value = inputs[0].values.get(name)
        try:
            value = convert_param(raw, current_value, params[name])
        except ValueError as exc:
            return fail(
                "InvalidParameter",
                f"--param {raw_name}={raw!r} is not a valid value for parameter {raw_name!r} "
                f"(base run value {current_value!r}): {exc}",
                flow_file,
            )
        setattr(cls, name, property(fget=lambda _s, v=value: v))
        overridden[name] = value

    from flowspin.cards import SpinCards

    cards = SpinCards(getattr(flow, step))  # current.card: Metaflow's collector
    card = cards.collector
    current._set_env(
        flow=flow,
        run_id=job["run_id"],
        step_name=step,
        task_id=job["task_id"],
        retry_count=0,
        origin_run_id=None,
        namespace=f"user:{job.get('user', 'flowspin')}",
        username=job.get("user", "flowspin"),
        metadata_str="flowspin@spin",
        is_running=True,
        tags=[],
    )
    current._update_env(
        {
            "parameter_names": param_names,
            "graph_info": inputs[0].values.get("_graph_info"),
            "card": card,
        }
    )

    step_func = getattr(flow, step)
    for deco in step_func.decorators:
        if deco.name in IGNORED_DECORATORS:
            notices.append(f"@{deco.name} ignored by spin (runs locally, once, showing errors)")
        elif deco.name == "environment":
            env_vars = (deco.attributes or {}).get("vars") or {}
            os.environ.update({str(k): str(v) for k, v in env_vars.items()})
    timings["build_ms"] = (time.perf_counter() - t0) * 1e3

    if job.get("debug"):
        # Debug Step: listen and wait for the client's breakpoints, right before the step.
        from flowspin.spin.debugstep import DebugTimeout, DebugUnavailable, listen_and_wait

        try:
            report["debug"] = listen_and_wait(job["debug"]["port"], job["debug"]["timeout"])
        except (DebugTimeout, DebugUnavailable) as exc:
            report["debug"] = getattr(exc, "info", {})
            return fail(type(exc).__name__, str(exc), flow_file, getattr(node, "func_lineno", 0))
        timings["debug_attach_ms"] = report["debug"]["attached_ms"]

    t_step = time.perf_counter()
    error = None
    try:
        if job.get("debug"):
            from flowspin.spin.debugstep import artifacts_listed

            with artifacts_listed(cls):
                MetaflowTask._exec_step_function(shim, step_func, step_func, input_obj)
        else:
            MetaflowTask._exec_step_function(shim, step_func, step_func, input_obj)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt (cancel) included
        error = exc
        print(step_traceback(exc, flow_file, workspace), end="", file=sys.stderr)
        if job.get("debug"):
            # Caught here, so debugpy would never see it: shown to the client as uncaught,
            # it stops at the raising line (post-mortem) when "uncaught" exceptions break.
            from flowspin.spin.debugstep import post_mortem

            sys.stderr.flush()
            post_mortem(exc)
    timings["step_ms"] = (time.perf_counter() - t_step) * 1e3
    sys.stdout.flush()
    sys.stderr.flush()

    if error is not None:
        file, line = user_frame(error.__traceback__, flow_file, workspace)
        etype = type(error).__name__
        msg = str(error)
        if isinstance(error, SystemExit):
            msg = f"the step called sys.exit({error.code!r}); a spin reports it as a failure"
        elif isinstance(error, KeyboardInterrupt):
            etype, msg = "Cancelled", "the spin was interrupted"
            report["cancelled"] = True
        tb = step_traceback(error, flow_file, workspace)
        report["error"] = error_info(etype, msg or etype, traceback=tb, file=file, line=line)

    # Transition taken.
    nxt: dict[str, Any] = {"type": node.type}
    transition = getattr(flow, "_transition", None)
    if transition:
        funcs, foreach = transition
        nxt["steps"] = list(funcs)
        if foreach:
            nxt["foreach"] = foreach
            nxt["num_splits"] = getattr(flow, "_foreach_num_splits", None)
        if node.type == "split-switch" and node.condition:
            try:
                nxt["condition"] = node.condition
                nxt["case"] = short_repr(getattr(flow, node.condition))
            except Exception:
                pass
    elif error is None and node.type != "end":
        report["error"] = error_info(
            "MissingNext",
            f"step {step} finished without calling self.next(...)",
            file=flow_file,
            line=getattr(node, "func_lineno", 0),
        )
    report["next"] = nxt

    t_collect = time.perf_counter()
    report["artifacts"] = collect(job, flow, inputs, output, overridden, report, pending)
    timings["collect_ms"] = (time.perf_counter() - t_collect) * 1e3
    if pending and cards.needs_saved_artifacts():
        # A notebook card reads this spin back through `load_spin` while it renders.
        pending.write(report["artifacts"])
    report["cards"] = cards.render(flow, job, report, notices, t0)
    if "error" not in report:
        report["status"] = "ok"
    elif report.get("cancelled"):
        report["status"] = "cancelled"
    timings["total_ms"] = (time.perf_counter() - t0) * 1e3
    if os.environ.get("FLOWSPIN_MEASURE_MEMORY"):
        report["memory"] = _child_memory()
    return report


def _child_memory() -> dict[str, float]:
    """RSS and private (copied or newly allocated) memory of this child, in MB."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/smaps_rollup") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Private_Dirty", "Private_Clean"):
                    out[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return out


def _clone(cls: type, ds: MemDataStore) -> Any:
    x = cls(use_cli=False)
    x._set_datastore(ds)
    return x


def collect(
    job: dict[str, Any],
    flow: Any,
    inputs: list[MemDataStore],
    output: MemDataStore | None,
    overridden: dict[str, Any],
    report: dict[str, Any],
    pending: PendingBlobs,
) -> dict[str, dict[str, Any]]:
    """Every artifact the spun task holds: changed ones pickled (their bytes written later, by
    `pending`), the rest referenced."""
    import types as _t

    from metaflow.parameters import Parameter

    from flowspin.spin import fingerprint
    from flowspin.store.store import pickle_value

    base = output if output is not None else inputs[0]
    current_vars: dict[str, Any] = {}
    for var in dir(flow):
        if var.startswith("__") or var in flow._EPHEMERAL:
            continue
        if hasattr(flow.__class__, var) and isinstance(getattr(flow.__class__, var), property):
            continue
        try:
            val = getattr(flow, var)
        except Exception:
            continue
        if isinstance(val, (_t.MethodType, _t.FunctionType, Parameter)):
            continue
        current_vars[var] = val
    for name, value in overridden.items():
        current_vars[name] = value

    arts: dict[str, dict[str, Any]] = {}
    unpicklable: list[str] = []
    is_loaded = getattr(base.values, "is_loaded", None)
    for name, value in current_vars.items():
        parent_has = name in base.values and name not in overridden
        if parent_has and is_loaded is not None and not is_loaded(name):
            parent_has = False  # never read, so re-assigned: no need to load the old value
        pickled = None
        if parent_has:
            same, pickled = fingerprint.compare(
                value, base.values[name], base.fingerprints.get(name)
            )
            if same:
                arts[name] = _entry_ref(name, value, base, changed=False)
                continue
        # `name` is Metaflow's own bookkeeping (the flow's class name), set in every task.
        changed = not (name == "name" and value == flow.__class__.__name__)
        entry = {"type": type_name(value), "repr": short_repr(value), "changed": changed}
        try:
            if pickled is None:
                pickled = pickle_value(value)
        except Exception as exc:
            unpicklable.append(name)
            entry.update(size=0, ref=None, error=f"{type(exc).__name__}: {exc}")
            arts[name] = entry
            continue
        entry.update(size=pickled.size, ref=None)
        pending.add(name, pickled)
        arts[name] = entry
    values: Any = base.values  # a LazyValues on a cold spin
    lazy = getattr(values, "is_loaded", None)
    for name in values:
        if name not in arts:
            if lazy is not None and not lazy(name):
                arts[name] = {
                    **values.lazy_info(name),
                    "changed": False,
                    "ref": base.origin.get(name),
                }
                continue
            arts[name] = _entry_ref(name, base.values[name], base, changed=False)
    return arts_finish(arts, unpicklable, job, report)


def arts_finish(arts, unpicklable, job, report):
    if unpicklable and "error" not in report:
        names = ", ".join(unpicklable)
        report["error"] = error_info(
            "UnpicklableArtifact",
            f"artifact(s) {names} cannot be pickled ({arts[unpicklable[0]]['error']}); "
            "the other artifacts were kept — store a picklable form (a path, a dict) instead",
            file=job["flow_file"],
        )
    return arts


def _entry_ref(name: str, value: Any, ds: MemDataStore, changed: bool) -> dict[str, Any]:
    cached = ds.info.get(name) if hasattr(ds, "info") else None
    if (
        cached is not None
        and not cached.get("repr", "").startswith("<not loaded")
        and ds.values.get(name) is value
    ):
        return {**cached, "changed": changed, "ref": ds.origin.get(name)}
    if name.startswith("_"):
        return {
            "type": type_name(value),
            "repr": "",
            "size": 0,
            "changed": changed,
            "ref": ds.origin.get(name),
        }
    try:
        size = sys.getsizeof(value)
    except Exception:
        size = 0
    return {
        "type": type_name(value),
        "repr": short_repr(value),
        "size": int(size),
        "changed": changed,
        "ref": ds.origin.get(name),
    }
