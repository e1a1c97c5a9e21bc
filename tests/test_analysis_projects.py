"""Flows built from classes in other files of the project: bases and mixins are found the way
`python flow.py` imports them (absolute from the flow's folder, relative inside a package,
re-exports followed), parsed but never imported, and become part of the flow's model."""

from __future__ import annotations

import textwrap
from pathlib import Path

from flowspin.analysis import check_model, parse_file

BASE = """
from metaflow import FlowSpec, Parameter, step


class BaseFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.rows = [1, 2]
        self.next(self.train)

    @step
    def end(self):
        print(self.model)
"""

CHILD = """
from metaflow import step
{imports}


class Child({bases}):
    @step
    def train(self):
        self.model = sum(self.rows) * self.alpha
        self.next(self.end)


if __name__ == "__main__":
    Child()
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def child(imports: str, bases: str = "BaseFlow") -> str:
    return CHILD.format(imports=imports, bases=bases)


def test_a_base_flow_from_a_sibling_module_completes_the_graph(tmp_path: Path) -> None:
    write(tmp_path, {"base.py": BASE, "flow.py": child("from base import BaseFlow")})
    model = parse_file(tmp_path / "flow.py")
    (flow,) = model.flows
    assert set(flow.steps) == {"start", "train", "end"}
    assert not flow.has_external_bases and flow.start_step == "start"
    start = flow.steps["start"]
    assert start.file == str(tmp_path / "base.py") and start.defined_in == "BaseFlow"
    assert start.out_steps == ["train"] and flow.steps["train"].in_steps == ["start"]
    assert [p.attr for p in flow.parameters] == ["alpha"]
    assert flow.parameters[0].file == str(tmp_path / "base.py")
    assert model.dependencies == {str(tmp_path / "base.py"): (tmp_path / "base.py").read_text()}
    assert check_model(model) == []
    # The cursor's step is looked up in this file only: base lines are another file's.
    assert flow.step_at(start.span.line) is None or flow.step_at(start.span.line).file is None


def test_packages_relative_imports_and_re_exports(tmp_path: Path) -> None:
    mixin = """
    from metaflow import step


    class LoadMixin:
        @step
        def load(self):
            self.rows = [3]
            self.next(self.train)
    """
    base = BASE.replace("self.next(self.train)", "self.next(self.load)").replace(
        "class BaseFlow(FlowSpec):", "class BaseFlow(FlowSpec, LoadMixin):"
    )
    base = base.replace("from metaflow", "from .mixins import LoadMixin\nfrom metaflow", 1)
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .core.base import BaseFlow\n",
            "pkg/core/__init__.py": "",
            "pkg/core/base.py": base,
            "pkg/core/mixins.py": mixin,
            "flow.py": child("from pkg import BaseFlow"),
            "flow2.py": child("import pkg.core.base as b", "b.BaseFlow"),
            "flow3.py": child("import pkg.core.base", "pkg.core.base.BaseFlow"),
            "flow4.py": child("from pkg import core", "core.base.BaseFlow"),
        },
    )
    for name in ("flow.py", "flow2.py", "flow3.py", "flow4.py"):
        model = parse_file(tmp_path / name)
        (flow,) = model.flows
        assert set(flow.steps) == {"start", "load", "train", "end"}, name
        assert flow.steps["load"].defined_in == "LoadMixin"
        assert check_model(model) == [], name


def test_whole_flow_rules_apply_again(tmp_path: Path) -> None:
    renamed = BASE.replace("def start(self):", "def begin(self):")
    write(tmp_path, {"base.py": renamed, "flow.py": child("from base import BaseFlow")})
    rules = {d.rule for d in check_model(parse_file(tmp_path / "flow.py"))}
    assert "missing-start-step" in rules

    write(tmp_path, {"base.py": BASE, "flow.py": child("from base import BaseFlow")})
    typo = (tmp_path / "flow.py").read_text().replace("self.next(self.end)", "self.next(self.ed)")
    (tmp_path / "flow.py").write_text(typo)
    found = check_model(parse_file(tmp_path / "flow.py"))
    assert [d.rule for d in found] == ["unknown-transition"]  # `end` stranded: said there


def test_a_finding_in_a_base_step_goes_on_the_class_and_names_the_file(tmp_path: Path) -> None:
    broken = BASE.replace("print(self.model)", "print(self.modle)")
    write(tmp_path, {"base.py": broken, "flow.py": child("from base import BaseFlow")})
    (diag,) = check_model(parse_file(tmp_path / "flow.py"))
    assert diag.rule == "undefined-artifact" and diag.step == "end"
    assert diag.span.line == 5  # `class Child(...)` in flow.py
    assert "base.py line 14" in diag.message
    assert diag.origin is not None and diag.origin[0] == str(tmp_path / "base.py")
    assert diag.origin[1].line == 14


def test_unresolvable_bases_keep_the_partial_check_with_one_hint(tmp_path: Path) -> None:
    write(tmp_path, {"flow.py": child("from some_installed_package import BaseFlow")})
    found = check_model(parse_file(tmp_path / "flow.py"))
    assert [(d.rule, d.severity) for d in found] == [("unresolved-base", "hint")]
    # A base file that does not parse is not guessed at either.
    write(
        tmp_path, {"base.py": "class BaseFlow(:\n", "flow.py": child("from base import BaseFlow")}
    )
    found = check_model(parse_file(tmp_path / "flow.py"))
    assert [d.rule for d in found] == ["unresolved-base"]


def test_import_cycles_and_self_reexports_end(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.py": "from b import BaseFlow\n",
            "b.py": "from a import BaseFlow\n",
            "flow.py": child("from a import BaseFlow"),
        },
    )
    (flow,) = parse_file(tmp_path / "flow.py").flows
    assert flow.unresolved_bases == ["BaseFlow"]


def test_the_base_file_alone_is_a_base_only_when_subclassed(tmp_path: Path) -> None:
    write(tmp_path, {"base.py": BASE})
    # No subclass anywhere: a flow being written, whose target is missing.
    assert "unknown-transition" in {d.rule for d in check_model(parse_file(tmp_path / "base.py"))}
    write(tmp_path, {"flow.py": child("from base import BaseFlow")})
    model = parse_file(tmp_path / "base.py")
    assert model.flows[0].is_base and check_model(model) == []


def test_reads_go_through_the_given_reader(tmp_path: Path) -> None:
    write(tmp_path, {"base.py": BASE, "flow.py": child("from base import BaseFlow")})
    unsaved = BASE.replace("self.next(self.train)", "self.next(self.trian)")

    def read(path: str) -> str | None:
        return unsaved if path.endswith("base.py") else Path(path).read_text()

    from flowspin.analysis import parse_source

    model = parse_source((tmp_path / "flow.py").read_text(), str(tmp_path / "flow.py"), read)
    assert model.dependencies[str(tmp_path / "base.py")] == unsaved
    assert [d.rule for d in check_model(model)] == ["unknown-transition"]


def test_attributes_set_by_overridden_helpers_of_a_mixin_count(tmp_path: Path) -> None:
    """`setup()` in a mixin calls `super().__init__(...)`, which sets `self.n_nodes` in the
    mixin's own base: the override does not hide what the overridden method sets."""
    mixin = """
    class Task:
        def __init__(self, n_nodes):
            self.n_nodes = n_nodes


    class Batch(Task):
        def __init__(self):
            pass

        def setup(self):
            super().__init__(n_nodes=2)
    """
    flow = """
    from metaflow import FlowSpec, step
    from tasks import Batch


    class TuneFlow(FlowSpec, Batch):
        @step
        def start(self):
            self.setup()
            print(self.n_nodes)
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        TuneFlow()
    """
    write(tmp_path, {"tasks.py": mixin, "flow.py": flow})
    assert check_model(parse_file(tmp_path / "flow.py")) == []


def test_a_flow_decorator_on_a_base_in_another_file_counts(tmp_path: Path) -> None:
    """A FlowMutator on the base (`@ConfigMutator(...) class BaseB`) may inject Parameters
    the subclass reads: reads are not checked, as with the subclass's own unknown decorator."""
    base = """
    from metaflow import FlowSpec, FlowMutator


    class ConfigMutator(FlowMutator):
        pass


    @ConfigMutator("cfg")
    class BaseB(FlowSpec):
        pass
    """
    flow = """
    from metaflow import step
    from base import BaseB


    class MutatedFlow(BaseB):
        @step
        def start(self):
            print(self.injected)
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        MutatedFlow()
    """
    write(tmp_path, {"base.py": base, "flow.py": flow})
    model = parse_file(tmp_path / "flow.py")
    assert model.flows[0].decorators == ["ConfigMutator"]
    assert check_model(model) == []


def test_a_base_mid_edit_in_the_editor_falls_back_to_the_saved_file(tmp_path: Path) -> None:
    write(tmp_path, {"base.py": BASE, "flow.py": child("from base import BaseFlow")})
    half_typed = BASE.replace("def end(self):", "def end(self")

    def read(path: str) -> str | None:
        return half_typed if path.endswith("base.py") else Path(path).read_text()

    from flowspin.analysis import parse_source

    model = parse_source((tmp_path / "flow.py").read_text(), str(tmp_path / "flow.py"), read)
    (flow,) = model.flows
    assert not flow.unresolved_bases and set(flow.steps) == {"start", "train", "end"}
    assert model.dependencies[str(tmp_path / "base.py")] == half_typed  # stale once fixed
