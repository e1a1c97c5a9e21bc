"""What the static parser records about a flow file: the model every other part reads."""

from __future__ import annotations

import textwrap

from flowspin.analysis import Expr, Span, check_source, parse_source


def parse(source: str):
    return parse_source(textwrap.dedent(source).lstrip(), "flow.py")


SOURCE = '''
import metaflow
from metaflow import Config, FlowSpec, Parameter, card, retry, step


class Base(FlowSpec):
    alpha = Parameter("alpha", default=0.5, help="rate", type=float)
    cfg = Config("settings", default_value={"mode": "x"})
    size = Parameter(name="n", default=len("abc"))

    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.fan, foreach="items")


class Child(Base):
    @card(type="blank", id="report")
    @retry(times=3)
    @step
    def fan(self):
        """One item."""
        self.value, (self.other, self.third) = self.input, (1, 2)
        self.count: int = 0
        self.count += self.alpha
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.values = [i.value for i in inputs]
        self.next({"again": self.gather_more, self.cfg.mode: self.end}, condition="route")

    @step
    def gather_more(self):
        self.next({"loop": self.gather_more, "done": self.end}, condition="route")

    @step
    def end(self):
        pass


class Other(metaflow.FlowSpec):
    @step(start=True)
    def begin(self):
        self.next(self.a, self.b)

    @metaflow.step
    def a(self):
        self.next(self.j)

    @step
    def b(self):
        self.next(self.j, num_parallel=4)

    @step
    def j(self, inputs):
        self.next(self.finish)

    @step(end=True)
    def finish(self):
        pass


class NotAFlow:
    @step
    def start(self):
        pass
'''


def test_every_flowspec_subclass_is_a_flow_with_inherited_steps() -> None:
    model = parse(SOURCE)
    assert [f.name for f in model.flows] == ["Base", "Child", "Other"]
    base, child, other = model.flows
    assert base.is_base and not child.is_base
    assert list(child.steps) == ["fan", "gather", "gather_more", "end", "start"]
    assert child.steps["start"].defined_in == "Base"
    assert child.steps["fan"].defined_in is None
    assert [p.attr for p in child.parameters] == ["alpha", "cfg", "size"]
    assert other.bases == ["FlowSpec"]


def test_steps_have_lines_spans_and_decorators() -> None:
    child = parse(SOURCE).flows[1]
    fan = child.steps["fan"]
    assert fan.span.line == 20 and fan.span.end_line == 25
    assert fan.name_span == Span(20, 8, 20, 11)
    assert [d.name for d in fan.decorators] == ["card", "retry"]
    assert fan.decorator("card").args == {"type": "blank", "id": "report"}
    assert fan.decorator("retry").args == {"times": 3}
    assert fan.decorator("card").span.line == 17
    assert fan.docstring == "One item."
    assert child.step_at(17) is fan and child.step_at(25) is fan
    assert not fan.takes_inputs and child.steps["gather"].takes_inputs


def test_parameters_and_configs() -> None:
    base = parse(SOURCE).flows[0]
    alpha, cfg, size = base.parameters
    assert (alpha.attr, alpha.name, alpha.kind, alpha.default, alpha.help, alpha.type) == (
        "alpha",
        "alpha",
        "Parameter",
        0.5,
        "rate",
        "float",
    )
    assert alpha.span.line == 6
    assert (cfg.attr, cfg.name, cfg.kind, cfg.default) == (
        "cfg",
        "settings",
        "Config",
        {"mode": "x"},
    )
    assert (size.name, size.default, size.has_default) == ("n", Expr('len("abc")'), True)


def test_transitions_and_node_types() -> None:
    model = parse(SOURCE)
    child, other = model.flows[1], model.flows[2]
    start = child.steps["start"]
    t = start.transition
    assert (t.kind, t.targets, t.foreach, t.is_tail, t.valid) == (
        "foreach",
        ["fan"],
        "items",
        True,
        True,
    )
    assert t.foreach_span.line == 13
    gather = child.steps["gather"].transition
    assert gather.kind == "switch" and gather.condition == "route"
    assert gather.switch_cases == {"again": "gather_more", "self.cfg.mode": "end"}
    recursive = child.steps["gather_more"]
    assert recursive.out_steps == ["gather_more", "end"]
    assert recursive.node_type == "switch" and "gather_more" in recursive.in_steps
    types = {name: s.node_type for name, s in child.steps.items()}
    assert types == {
        "start": "foreach",
        "fan": "linear",
        "gather": "switch",
        "gather_more": "switch",
        "end": "end",
    }
    assert child.steps["fan"].in_steps == ["start"]
    assert (other.start_step, other.end_step) == ("begin", "finish")
    other_types = {name: s.node_type for name, s in other.steps.items()}
    assert other_types == {
        "begin": "split",
        "a": "linear",
        "b": "parallel_foreach",
        "j": "join",
        "finish": "end",
    }
    assert other.steps["b"].transition.num_parallel == 4
    assert other.steps["j"].in_steps == ["a", "b"]


def test_artifact_writes_and_reads() -> None:
    fan = parse(SOURCE).flows[1].steps["fan"]
    assert [w.name for w in fan.writes] == ["value", "other", "third", "count", "count"]
    assert [r.name for r in fan.reads] == ["input", "count", "alpha"]
    count_read = fan.reads[1]
    assert count_read.span == Span(24, 8, 24, 18)
    # self.next and its targets are transitions, not artifact reads
    gather = parse(SOURCE).flows[1].steps["gather"]
    assert [r.name for r in gather.reads] == ["cfg"]


def test_start_and_end_markers_and_single_step_flows() -> None:
    one = parse(
        """
        from metaflow import FlowSpec, step
        class One(FlowSpec):
            @step
            def only(self):
                pass
        """
    ).flows[0]
    assert (one.start_step, one.end_step, one.steps["only"].node_type) == ("only", "only", "end")


def test_columns_are_characters_not_bytes() -> None:
    model = parse(
        """
        from metaflow import FlowSpec, step
        class F(FlowSpec):
            @step
            def start(self):
                x = "héllo"; self.next(self.end)
            @step
            def end(self):
                pass
        """
    )
    target = model.flows[0].steps["start"].transition.target_spans[0]
    line = 'x = "héllo"; self.next(self.end)'
    assert target.col == 8 + line.index("self.end")


def test_syntax_error_is_one_diagnostic_at_the_error() -> None:
    model, diags = check_source("from metaflow import step\n\nclass F(:\n    pass\n")
    assert model.flows == []
    assert [(d.rule, d.span.line, d.span.col) for d in diags] == [("syntax-error", 3, 8)]


def test_files_without_flows_give_nothing() -> None:
    assert check_source("") == (parse_source(""), [])
    model, diags = check_source("class A:\n    def next(self):\n        self.x = self.y\n")
    assert model.flows == [] and diags == []


def test_invalid_transition_shapes_are_flagged_like_metaflow() -> None:
    model = parse(
        """
        from metaflow import FlowSpec, step
        class F(FlowSpec):
            @step
            def start(self):
                self.next(self.c, self.a, self.b)
            @step
            def c(self):
                target = self.end
                self.next(target)
            @step
            def a(self):
                self.next({"x": self.end, key: self.end}, condition="c")
            @step
            def b(self):
                self.next(self.end, foo=1)
            @step
            def end(self):
                pass
        """
    )
    steps = model.flows[0].steps
    for name in ("c", "a", "b"):
        assert steps[name].transition.valid is False, name
        assert steps[name].metaflow_type is None
        assert steps[name].transition.invalid_reason


def test_many_consecutive_splits_are_checked_without_path_enumeration() -> None:
    """60 splits in a row have 2**60 paths: a path-walking checker would never finish."""
    lines = ["from metaflow import FlowSpec, step", "class F(FlowSpec):"]

    def add(name: str, nxt: str, join: bool = False) -> None:
        args = "self, inputs" if join else "self"
        lines.extend(["    @step", f"    def {name}({args}):", f"        self.next({nxt})"])

    add("start", "self.s0")
    for i in range(60):
        add(f"s{i}", f"self.a{i}, self.b{i}")
        add(f"a{i}", f"self.j{i}")
        add(f"b{i}", f"self.j{i}")
        add(f"j{i}", f"self.s{i + 1}" if i < 59 else "self.end", join=True)
    lines.extend(["    @step", "    def end(self):", "        pass"])
    model, diagnostics = check_source("\n".join(lines) + "\n")
    assert len(model.flows[0].steps) == 242
    assert diagnostics == []


def test_reads_are_not_flagged_when_artifacts_are_set_by_computed_names() -> None:
    source = """
from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self):
        for key in ("a", "b"):
            setattr(self, key, 1)
        self.next(self.end)
    @step
    def end(self):
        print(self.a, self.b)
"""
    assert check_source(source)[1] == []
    assert [d.rule for d in check_source(source.replace("setattr", "print"))[1]] == [
        "undefined-artifact",
        "undefined-artifact",
    ]


def test_incomplete_flows_this_file_never_runs_are_bases_for_other_files() -> None:
    base = """
from metaflow import FlowSpec, step
class Base(FlowSpec):
    @step
    def start(self):
        self.next(self.process)
"""
    model, diagnostics = check_source(base)
    assert model.flows[0].is_base and diagnostics == []
    run_here = base + "\n\nif __name__ == '__main__':\n    Base()\n"
    rules = {d.rule for d in check_source(run_here)[1]}
    assert rules == {"end-has-transition", "unknown-transition"}  # one step: start is end


def test_step_at_includes_the_step_decorator_line() -> None:
    flow = parse(SOURCE).flows[2]
    begin = flow.steps["begin"]
    assert begin.first_line == 42 and begin.span.line == 43
    assert flow.step_at(42) is begin and flow.step_at(46) is flow.steps["a"]


def test_flows_built_on_a_base_flow_from_another_module() -> None:
    source = """
from metaflow import step
from base import BaseFlow


class Child(BaseFlow):
    @step
    def process(self):
        print(self.inherited_value)
        self.next(self.end)

    @step
    def end(self):
        pass

    @step
    def Bad(self):
        pass


if __name__ == "__main__":
    Child()
"""
    model, diagnostics = check_source(source)
    (child,) = model.flows
    assert child.has_external_bases and list(child.steps) == ["process", "end", "Bad"]
    # start lives in BaseFlow, which is not found (no file to look in): no missing-start or
    # orphan errors, no undefined-artifact warning, one hint saying so; step-local rules
    # still apply.
    assert {(d.rule, d.step) for d in diagnostics} == {
        ("invalid-step-name", "Bad"),
        ("missing-transition", "Bad"),
        ("unresolved-base", None),
    }


def test_positions_survive_crlf_and_form_feeds() -> None:
    source = (
        "from metaflow import FlowSpec, step\r\n"
        "class F(FlowSpec):\r\n"
        "    x = 1  # \x0c a form feed str.splitlines() would treat as a line break\r\n"
        "    @step\r\n"
        "    def start(self):\r\n"
        "        self.next(self.end)\r\n"
        "    @step\r\n"
        "    def end(self):\r\n"
        "        print(self.nope)\r\n"
    )
    model, diagnostics = check_source(source)
    assert model.flows[0].steps["start"].name_span == Span(5, 8, 5, 13)
    assert [(d.rule, d.span) for d in diagnostics] == [
        ("undefined-artifact", Span(9, 14, 9, 23))
    ]


def test_catch_variables_and_extension_decorators_are_not_undefined_reads() -> None:
    source = """
from metaflow import FlowSpec, catch, retry, step
from somewhere import tensorboard


class F(FlowSpec):
    @catch(var="failure")
    @step
    def start(self):
        self.next(self.train)

    @tensorboard
    @step
    def train(self):
        print(self.obtb.log_dir, self.failure)
        self.next(self.end)

    @retry(times=2)
    @step
    def end(self):
        print(self.failure, self.obtb)
"""
    diagnostics = check_source(source)[1]
    # `failure` comes from @catch; `obtb` may come from @tensorboard, but not in `end`
    assert [(d.rule, d.step, d.span.line) for d in diagnostics] == [
        ("undefined-artifact", "end", 21)
    ]


def test_a_flow_with_start_and_end_is_checked_before_it_has_a_main_block() -> None:
    source = """
from metaflow import FlowSpec, step
class Draft(FlowSpec):
    @step
    def start(self):
        self.next(self.middle)

    @step
    def end(self):
        pass
"""
    model, diagnostics = check_source(source)
    assert not model.flows[0].is_base
    assert "unknown-transition" in {d.rule for d in diagnostics}


def test_unknown_flow_decorators_may_inject_attributes() -> None:
    """`@comet_flow` sets `self.comet_experiment`; a flow decorator flowspin does not know
    may set anything, so reads are not flagged (as with unknown step decorators). Metaflow's
    own flow decorators set nothing, so reads stay checked under them."""
    source = """
from metaflow import FlowSpec, project, step
from comet_ml.integration.metaflow import comet_flow


@{decorator}
class CometFlow(FlowSpec):
    @step
    def start(self):
        self.comet_experiment.log_metric("x", 1)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CometFlow()
"""
    model, diagnostics = check_source(source.format(decorator='comet_flow(project_name="p")'))
    assert model.flows[0].decorators == ["comet_flow"] and diagnostics == []
    _, diagnostics = check_source(source.format(decorator='project(name="p")'))
    assert [d.rule for d in diagnostics] == ["undefined-artifact"]
