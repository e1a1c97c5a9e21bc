"""Notebook cards for spins: `@card(type="notebook")` run with papermill, shown with nbconvert.

The step sets `self.nb_options_dict` in the shape metaflow-card-notebook uses:
`input_path` (required), `output_path`, `exclude_input` (or `exclude_nb_input`),
`parameters`, and any other `papermill.execute_notebook` keyword (`kernel_name`, `cwd`, ...),
also accepted nested under `options`. The card option `options_dict_nm` renames the artifact.

Injected parameters: flow_name, run_id, step_name, task_id, pathspec, and flowspin_spin_id /
flowspin_flow_file, so a notebook can read the spun task through
`flowspin.load_spin(flowspin_flow_file, step_name, flowspin_spin_id).artifacts`. For that, the
spin's record is written before the notebook runs (the worker rewrites it with the full result
afterwards). The executed notebook is kept beside the card as `<card>.ipynb`. A notebook that
raises still gives a card: the executed notebook up to the failing cell, with its traceback.

papermill, nbconvert, ipykernel and nbformat are flowspin's `notebook` extra, not dependencies
(they are most of an install). Without them a notebook card is a card that says which extra to
install, and the spin carries the same line as a notice: the step itself is unaffected.
"""

from __future__ import annotations

import html as _html
import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

KERNEL_NAME = "flowspin-python3"
_PAPERMILL_KEYS = {
    "kernel_name",
    "cwd",
    "language",
    "engine_name",
    "request_save_on_cell_execute",
    "prepare_only",
    "start_timeout",
    "execution_timeout",
    "report_mode",
    "log_output",
    "progress_bar",
    "stdout_file",
    "stderr_file",
}


# The modules a notebook card imports, and the distribution each comes from (the `notebook`
# extra in pyproject.toml; jupyter_client comes with ipykernel).
NOTEBOOK_MODULES = {
    "papermill": "papermill",
    "nbformat": "nbformat",
    "nbconvert": "nbconvert",
    "ipykernel": "ipykernel",
    "jupyter_client": "ipykernel",
}
# Used when flowspin's own metadata cannot be read (a source tree on PYTHONPATH).
_NOTEBOOK_EXTRA = ("papermill>=2.6", "nbformat>=5.9", "nbconvert>=7.0", "ipykernel>=6.0")


class NotebookOptionsError(ValueError):
    pass


def missing_notebook_packages() -> list[str]:
    """The distributions of the `notebook` extra this interpreter lacks, in a stable order."""
    missing = [
        dist
        for module, dist in NOTEBOOK_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]
    return list(dict.fromkeys(missing))


def notebook_extra_requirements() -> list[str]:
    """The `notebook` extra as flowspin's installed metadata declares it (so the hint cannot
    drift from pyproject.toml), else the list it had when this was written."""
    try:
        from importlib.metadata import requires

        reqs = requires("flowspin") or []
    except Exception:
        reqs = []
    extra = [
        r.split(";", 1)[0].strip().replace(" ", "")
        for r in reqs
        if ";" in r and "extra" in r.split(";", 1)[1] and '"notebook"' in r.split(";", 1)[1]
    ]
    return extra or list(_NOTEBOOK_EXTRA)


def missing_extra_message(missing: list[str]) -> str:
    """One line: what is missing, and a command that installs it into *this* interpreter (the
    worker's, which may not be the one on the user's PATH). `flowspin[notebook]` alone is not
    followable while flowspin is installed from a checkout or a wheel file."""
    reqs = " ".join(f"'{r}'" for r in notebook_extra_requirements())
    return (
        f"notebook cards need flowspin's `notebook` extra ({', '.join(missing)} missing in "
        f"{sys.executable}): install it with `{sys.executable} -m pip install {reqs}` "
        "(from a checkout: `pip install -e '.[notebook]'`; from a wheel: "
        "`pip install 'flowspin-<version>-py3-none-any.whl[notebook]'`)"
    )


def render_notebook_card(
    card_options: dict[str, Any],
    flow: Any,
    job: dict[str, Any],
    report: dict[str, Any],
    task: Any,
    card_path: Path,
) -> tuple[str, str | None]:
    """(HTML, problem or None). Never raises: every failure becomes a readable card."""
    missing = missing_notebook_packages()
    if missing:
        msg = missing_extra_message(missing)
        return _message_card("Notebook card not rendered", msg), msg
    try:
        nb = notebook_options(card_options, task, Path(job["flow_file"]).parent)
    except NotebookOptionsError as exc:
        return _message_card("Notebook card not rendered", str(exc)), str(exc)
    params = dict(nb["parameters"])
    params.update(
        flow_name=task.path_components[0],
        run_id=task.path_components[1],
        step_name=task.path_components[2],
        task_id=task.id,
        pathspec=task.pathspec,
        flowspin_spin_id=job.get("spin_id", ""),
        flowspin_flow_file=str(job["flow_file"]),
    )
    notices = []
    if job.get("persist", True):
        _write_provisional_record(job, report)
    else:
        notices.append("--no-persist: the notebook cannot read this spin through load_spin")
    executed = card_path.with_suffix(".ipynb")
    out_path = Path(nb["output_path"]) if nb["output_path"] else executed
    kwargs = dict(nb["papermill"])
    kwargs.setdefault("kernel_name", ensure_kernel(job["workspace"]))
    kwargs.setdefault("cwd", str(Path(job["flow_file"]).parent))
    kwargs.setdefault("progress_bar", False)
    kwargs.setdefault("log_output", False)
    if not _notebook_language(nb["input_path"]):
        kwargs.setdefault("language", "python")
    problem = None
    t0 = time.perf_counter()
    try:
        import papermill as pm

        out_path.parent.mkdir(parents=True, exist_ok=True)
        pm.execute_notebook(str(nb["input_path"]), str(out_path), parameters=params, **kwargs)
    except Exception as exc:
        problem = _notebook_problem(exc)
    if not out_path.is_file():  # papermill failed before writing anything (e.g. no kernel)
        msg = problem or "papermill wrote no output notebook"
        return _message_card("Notebook card failed", msg), msg
    if out_path != executed:
        executed.write_bytes(out_path.read_bytes())
    try:
        body = to_html(out_path, nb["exclude_input"])
    except Exception:
        tb = traceback.format_exc()
        return _message_card("Notebook card: nbconvert failed", tb), "nbconvert failed"
    elapsed = time.perf_counter() - t0
    print(f"notebook card {nb['input_path'].name}: {elapsed:.1f} s", file=sys.stderr)
    if problem:
        banner = (
            '<div style="background:#fde8e8;border:1px solid #c33;padding:8px;margin:8px">'
            f"<b>The notebook failed:</b> {_html.escape(problem)}</div>"
        )
        body = body.replace("<body", "<body data-flowspin-error='1'", 1)
        body = _insert_after_body(body, banner)
    for notice in notices:
        print(f"notebook card: {notice}", file=sys.stderr)
    return body, problem


def notebook_options(card_options: dict[str, Any], task: Any, base: Path) -> dict[str, Any]:
    """Validate the step's `nb_options_dict` (metaflow-card-notebook's shape)."""
    name = (card_options or {}).get("options_dict_nm", "nb_options_dict")
    if name not in task:
        raise NotebookOptionsError(
            f"@card(type='notebook') needs the step to set self.{name} = "
            "dict(input_path='report.ipynb', ...)"
        )
    raw = task[name].data
    if not isinstance(raw, dict):
        raise NotebookOptionsError(f"self.{name} must be a dict, not {type(raw).__name__}")
    opts = dict(raw)
    extra = opts.pop("options", None) or {}
    if not isinstance(extra, dict):
        raise NotebookOptionsError(f"self.{name}['options'] must be a dict of papermill options")
    input_path = opts.pop("input_path", None)
    if not input_path:
        raise NotebookOptionsError(f"self.{name} has no 'input_path' (the .ipynb to run)")
    path = Path(input_path)
    if not path.is_absolute():
        path = base / path
    if path.suffix != ".ipynb":
        raise NotebookOptionsError(f"input_path must be a .ipynb notebook, not {input_path}")
    if not path.is_file():
        raise NotebookOptionsError(f"input notebook {path} does not exist")
    output_path = opts.pop("output_path", None) or opts.pop("output_nb", None)
    if output_path and not Path(output_path).is_absolute():
        output_path = str(base / output_path)
    exclude = opts.pop("exclude_input", opts.pop("exclude_nb_input", False))
    params = opts.pop("parameters", None) or {}
    papermill = {k: v for k, v in {**opts, **extra}.items() if k in _PAPERMILL_KEYS}
    return {
        "input_path": path,
        "output_path": output_path,
        "exclude_input": bool(exclude),
        "parameters": dict(params),
        "papermill": papermill,
    }


def ensure_kernel(workspace: str | os.PathLike[str]) -> str:
    """A kernel for this interpreter: `python3` if Jupyter knows one, else our own kernelspec.

    Ours lives in `.flowspin/jupyter/kernels/` (added to JUPYTER_PATH for this process and the
    kernels it starts), so nothing is installed in the user's Jupyter folders.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        if "python3" in KernelSpecManager().find_kernel_specs():
            return "python3"
    except Exception:
        pass
    root = Path(workspace) / ".flowspin" / "jupyter"
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (flowspin)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    paths = os.environ.get("JUPYTER_PATH", "")
    if str(root) not in paths.split(os.pathsep):
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), paths) if p)
    return KERNEL_NAME


def to_html(notebook_path: Path, exclude_input: bool) -> str:
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    config.HTMLExporter.exclude_input = exclude_input
    exporter = HTMLExporter(config=config, template_name="lab")
    notebook = nbformat.read(str(notebook_path), as_version=4)
    body, _ = exporter.from_notebook_node(notebook)
    return body


def _write_provisional_record(job: dict[str, Any], report: dict[str, Any]) -> None:
    """Make this spin readable by `load_spin` while its notebook runs."""
    from flowspin.store.store import Store

    record = {
        "spin_id": job.get("spin_id", ""),
        "flow": report.get("flow", ""),
        "flow_file": job["flow_file"],
        "step": job["step"],
        "status": "running",
        "created": time.time(),
        "base": {"run_id": job.get("run_id", ""), "tasks": [], "chained_from": []},
        "split_index": job.get("split_index"),
        "persisted": True,
        "artifacts": report.get("artifacts") or {},
        "next": report.get("next") or {},
        "result": {},
    }
    try:
        Store(job["workspace"]).write_record(job["flow_file"], record)
    except Exception as exc:
        print(f"notebook card: could not save the spin for load_spin: {exc}", file=sys.stderr)


def _notebook_language(path: Path) -> str | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata") or {}
    except (OSError, ValueError):
        return None
    return (meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {}).get(
        "name"
    )


def _notebook_problem(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename:  # papermill's PapermillExecutionError: the failing cell's exception
        cell = getattr(exc, "exec_count", None)
        where = f" in cell {cell}" if cell is not None else ""
        return f"{ename}{where}: {getattr(exc, 'evalue', '')}"
    return f"{type(exc).__name__}: {exc}"


def _insert_after_body(page: str, fragment: str) -> str:
    start = page.find("<body")
    if start < 0:
        return fragment + page
    end = page.find(">", start)
    return page[: end + 1] + fragment + page[end + 1 :]


def _message_card(title: str, message: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{_html.escape(title)}</title></head><body><h2>{_html.escape(title)}</h2>"
        f"<pre>{_html.escape(message)}</pre></body></html>"
    )
