"""Cards of one spun step, rendered inside the spin child with Metaflow's own card classes.

`current.card` is Metaflow's real `CardComponentCollector`, set up from the step's `@card`
decorators the way the card decorator does it, so `append`, `current.card[id]`, `extend`,
`get(type=...)` and the default-editable rules behave exactly as in a run. After the step
function returns, each card class renders with the components still live in this process and
a Task-like view of the spun task (`taskview.SpinTask`). Card failures become error cards and
notices: a card never fails a spin.
"""

from __future__ import annotations

import re
import signal
import sys
import time
import traceback
from typing import Any

from flowspin.cards import files
from flowspin.cards.taskview import SpinTask

NOTEBOOK_TYPE = "notebook"


class _NoCreator:
    """Card creator for spins: runtime refreshes are accepted and ignored (a spin is short)."""

    def create(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Timeout(Exception):
    pass


class SpinCards:
    def __init__(self, step_func: Any) -> None:
        from metaflow.plugins.cards.component_serializer import (
            CardComponentCollector,
            get_card_class,
        )
        from metaflow.plugins.cards.exception import CARD_ID_PATTERN

        self.warnings: list[str] = []
        self.collector = CardComponentCollector(logger=self._log, card_creator=_NoCreator())
        self.decos = [d for d in getattr(step_func, "decorators", []) if d.name == "card"]
        for deco in self.decos:
            attrs = dict(deco.attributes)
            card_type = attrs.get("type") or "default"
            cls = get_card_class(card_type)
            if card_type == NOTEBOOK_TYPE:
                cls = None  # flowspin renders notebook cards itself (see notebook.py)
            card_id = attrs.get("id")
            if card_id is not None and re.match(CARD_ID_PATTERN, str(card_id)) is None:
                self._log(f"@card id {card_id!r} is not a valid id; use letters, digits and _")
                card_id = None
            self.collector._add_card(
                card_type,
                card_id,
                attrs,
                _options(attrs.get("options")),
                editable=bool(cls is not None and cls.ALLOW_USER_COMPONENTS),
                customize=str(attrs.get("customize")) == "True",
                runtime_card=bool(cls is not None and cls.RUNTIME_UPDATABLE),
                refresh_interval=attrs.get("refresh_interval", 5),
            )
        if self.decos:
            self.collector._finalize()

    def needs_saved_artifacts(self) -> bool:
        """A notebook card reads the spin's artifacts from the store while it renders."""
        return any(
            (dict(d.attributes).get("type") or "default") == NOTEBOOK_TYPE for d in self.decos
        )

    def _log(self, msg: str, timestamp: bool = False, bad: bool = False, **_: Any) -> None:
        self.warnings.append(str(msg))
        print(msg, file=sys.stderr)

    # --- rendering ---------------------------------------------------------------------
    def render(
        self,
        flow: Any,
        job: dict[str, Any],
        report: dict[str, Any],
        notices: list[str],
        t0: float | None = None,
    ) -> list[dict[str, Any]]:
        """Render every card of the step; return `[{type, id, path}]` for the spin result.

        `t0` is the child's `perf_counter()` at the spin's start (the card's "created at").
        """
        if not self.decos:
            return []
        if report.get("error"):
            notices.append("cards not rendered: the step failed (as in a Metaflow run)")
            return []
        started = time.time() - (time.perf_counter() - t0) if t0 is not None else None
        t0 = time.perf_counter()
        flow_name = report.get("flow") or type(flow).__name__
        task = build_task(flow, job, report, flow_name, started)
        try:
            graph_dict, graph_info = _graph(flow)
        except Exception as exc:  # a DAG broken mid-edit: the card loses its graph, not the spin
            notices.append(
                f"cards drawn without the flow's graph: it is invalid ({type(exc).__name__}: "
                f"{exc}); `flowspin check` shows why"
            )
            graph_dict, graph_info = {}, {"steps": {}, "start_step": "start", "end_step": "end"}
        folder = files.step_dir(job["workspace"], flow_name, job["step"])
        taken: set[str] = set()
        out: list[dict[str, Any]] = []
        first_html = None
        for uuid, meta in self.collector._cards_meta.items():
            card_type, card_id = meta["type"], meta["card_id"]
            stem = files.card_stem(card_type, card_id, taken)
            path = folder / f"{stem}.html"
            if card_type == NOTEBOOK_TYPE:
                from flowspin.cards.notebook import render_notebook_card

                html, problem = render_notebook_card(
                    meta["card_options"], flow, job, report, task, path
                )
            else:
                html, problem = self._render_one(uuid, meta, task, flow, graph_dict, graph_info)
            files.write_html(path, html)
            entry: dict[str, Any] = {"type": card_type, "id": card_id, "path": str(path)}
            if problem:
                entry["error"] = problem
                notices.append(f"card {card_id or card_type} of {job['step']}: {problem}")
            out.append(entry)
            # latest.html: the card `current.card.append` edits, else the first one.
            if first_html is None or uuid == self.collector._default_editable_card:
                first_html = html
        if self.warnings:
            notices.extend(f"@card: {w}" for w in dict.fromkeys(self.warnings))
        files.write_index(folder, job.get("spin_id", ""), out, base_run=job.get("run_id") or None)
        if first_html is not None:
            files.write_html(folder / files.LATEST, first_html)
        report.setdefault("timings", {})["cards_ms"] = (time.perf_counter() - t0) * 1e3
        return out

    def _render_one(
        self,
        uuid: str,
        meta: dict[str, Any],
        task: SpinTask,
        flow: Any,
        graph_dict: Any,
        graph_info: Any,
    ) -> tuple[str, str | None]:
        """HTML of one card, or Metaflow's error card with the traceback, and a problem line."""
        from metaflow.plugins.cards.component_serializer import get_card_class

        card_type = meta["type"]
        cls = get_card_class(card_type)
        if cls is None:
            msg = (
                f"no card type {card_type!r} is installed; built-in types: default, blank; "
                "custom types come from metaflow_extensions packages"
            )
            return error_card(task, msg), msg
        timeout = _number(meta["decorator_attributes"].get("timeout"), 45)
        try:
            components = serialize_components(self.collector, uuid, self._log)
            card = _instantiate(cls, meta["card_options"], components, graph_dict, graph_info, flow)
            data = self.collector._get_latest_data(uuid, final=True, mode="render")
            cls.runtime_data = _constant_property(data)
            with _alarm(timeout):
                html = card.render(task)
            if not isinstance(html, str) or not html:
                raise ValueError(f"{cls.__name__}.render returned {type(html).__name__}, not HTML")
            return html.replace(cls.RELOAD_POLICY_TOKEN, "final"), None
        except _Timeout:
            msg = f"rendering took longer than the card's timeout ({timeout:g} s)"
            return error_card(task, msg), msg
        except Exception as exc:
            tb = traceback.format_exc()
            return error_card(task, tb), f"{type(exc).__name__}: {exc}"


def serialize_components(collector: Any, uuid: str, log: Any) -> list[Any]:
    """Like Metaflow's serializer, but a component that fails shows its error in the card.

    (Metaflow drops such a component silently; while developing a card you want to see why.)
    """
    from metaflow.plugins.cards.card_modules.basic import (
        SectionComponent,
        SerializationErrorComponent,
    )
    from metaflow.plugins.cards.card_modules.card import MetaflowCardComponent
    from metaflow.plugins.cards.card_modules.components import UserComponent

    store = collector._card_component_store.get(uuid)
    if store is None:
        return []
    comps = list(store)
    out: list[Any] = []
    for comp in comps:
        if not isinstance(comp, MetaflowCardComponent):
            continue
        name = type(comp).__name__
        try:
            rendered = comp.render()
            if not isinstance(rendered, (str, dict)):
                raise TypeError(f"render() returned {type(rendered).__name__}, not str or dict")
            import json

            json.dumps(rendered)
        except Exception:
            tb = traceback.format_exc()
            log(f"component {name} failed to render:\n{tb}")
            rendered = SerializationErrorComponent(name, tb).render()
        out.append(rendered)
    if out and any(isinstance(c, UserComponent) for c in comps):
        out = [SectionComponent(contents=out).render()]
    return out


def error_card(task: Any, message: str) -> str:
    """Metaflow's ErrorCard with `message`; plain HTML if even that cannot render."""
    try:
        from metaflow.plugins.cards.card_modules.basic import ErrorCard

        card = ErrorCard()
        return card.render(task, stack_trace=message).replace(card.RELOAD_POLICY_TOKEN, "final")
    except Exception:
        import html

        return (
            "<!doctype html><html><body><h2>Card failed to render</h2><pre>"
            f"{html.escape(message)}</pre></body></html>"
        )


def build_task(
    flow: Any, job: dict[str, Any], report: dict[str, Any], flow_name: str, started: float | None
) -> SpinTask:
    """The spun task as cards see it: every artifact it holds, with the values in memory."""
    entries = report.get("artifacts") or {}
    param_names = {name for name, _ in _parameters(flow)}
    artifacts: dict[str, tuple[Any, int]] = {}
    params: dict[str, tuple[Any, int]] = {}
    for name, entry in entries.items():
        if name.startswith("_"):
            continue
        try:
            value = getattr(flow, name)
        except Exception:
            continue
        target = params if name in param_names else artifacts
        target[name] = (value, int(entry.get("size") or 0))
    user = job.get("user", "flowspin")
    run_id = str(job.get("run_id") or "spin")
    return SpinTask(
        flow_name,
        run_id,
        job["step"],
        str(job.get("task_id") or "spin"),
        artifacts,
        tags=[f"user:{user}", "flowspin:spin", f"flowspin_spin_id:{job.get('spin_id', '')}"],
        parameters=params,
        started=started,
        index=job.get("split_index"),
    )


def _parameters(flow: Any) -> list[tuple[str, Any]]:
    try:
        return list(flow._get_parameters())
    except Exception:
        return []


def _constant_property(value: Any) -> property:
    """A read-only attribute that always answers `value` (a card class's runtime data)."""

    def get(_self: Any) -> Any:
        return value

    return property(fget=get)


def _graph(flow: Any) -> tuple[Any, Any]:
    graph = flow._graph
    graph_dict, _ = graph.output_steps()
    info = {
        "steps": graph_dict,
        "start_step": getattr(graph, "start_step", "start"),
        "end_step": getattr(graph, "end_step", "end"),
    }
    return graph_dict, info


def _instantiate(cls, options, components, graph_dict, graph_info, flow):
    import inspect

    try:
        accepts_info = "graph_info" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        accepts_info = False
    extra = {"graph_info": graph_info} if accepts_info else {}
    kwargs = dict(components=components, graph=graph_dict, flow=flow, **extra)
    if options:
        kwargs["options"] = options
    return cls(**kwargs)


def _options(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        import json

        try:
            value = json.loads(raw)
            return value if isinstance(value, dict) else {}
        except ValueError:
            return {}
    return {}


def _number(raw: Any, default: float) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return default


class _alarm:
    """SIGALRM-based time limit (the spin child is a single-threaded main process)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        def _raise(signum: int, frame: Any) -> None:
            raise _Timeout()

        self.old = signal.signal(signal.SIGALRM, _raise)
        signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.001))

    def __exit__(self, *exc: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
