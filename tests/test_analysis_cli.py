"""`flowspin check` and `flowspin graph` as a user (or a tool parsing the JSON) runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import write_flow

CORPUS = Path(__file__).parent / "corpus"
MANY = CORPUS / "broken" / "many_problems.py"
SWITCH = CORPUS / "valid" / "switch_recursion.py"
INHERIT = CORPUS / "valid" / "inheritance.py"


def flowspin(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowspin", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_json_follows_the_contract(workdir: Path) -> None:
    broken_syntax = write_flow(workdir, "class F(:\n", name="bad.py")
    no_flow = write_flow(workdir, "x = 1\n", name="plain.py")
    proc = flowspin("check", "--json", MANY, INHERIT, broken_syntax, no_flow)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert list(data) == ["flows"]
    entries = data["flows"]
    assert [(Path(e["file"]).name, e["flow"]) for e in entries] == [
        ("many_problems.py", "ManyProblemsFlow"),
        ("inheritance.py", "BaseFlow"),
        ("inheritance.py", "TrainFlow"),
        ("inheritance.py", "OtherFlow"),
        ("bad.py", None),
        ("plain.py", None),
    ]
    keys = ["rule", "severity", "message", "line", "column", "end_line", "end_column", "step"]
    for entry in entries:
        assert list(entry) == ["file", "flow", "diagnostics"]
        for d in entry["diagnostics"]:
            assert list(d) == keys
            assert d["severity"] in ("error", "warning", "information", "hint")
            assert d["line"] >= 1 and d["column"] >= 1
    many = entries[0]["diagnostics"]
    unknown = next(d for d in many if d["rule"] == "unknown-transition")
    # `        self.next(self.mege)` -> `self.mege` starts at character 19 (1-based)
    assert (unknown["line"], unknown["column"], unknown["end_column"]) == (14, 19, 28)
    assert unknown["step"] == "load" and "'merge'" in unknown["message"]
    assert {d["rule"] for d in many} >= {"missing-transition", "orphan-step", "invalid-step-name"}
    assert [d["rule"] for d in entries[4]["diagnostics"]] == ["syntax-error"]
    assert entries[4]["diagnostics"][0]["column"] == 9
    assert entries[5]["diagnostics"] == []


def test_check_human_output_and_exit_codes() -> None:
    proc = flowspin("check", MANY)
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"{MANY}:13:15: warning undefined-artifact: self.total")
    assert f"{MANY}:14:19: error unknown-transition:" in proc.stdout
    assert "error(s)" in proc.stdout.splitlines()[-1]

    clean = flowspin("check", SWITCH, INHERIT)
    assert clean.returncode == 0, clean.stdout
    assert "no problems found" in clean.stdout


def test_check_warnings_alone_exit_zero(workdir: Path) -> None:
    flow = write_flow(
        workdir,
        """
        from metaflow import FlowSpec, step
        class F(FlowSpec):
            @step
            def start(self):
                self.next(self.end)
            @step
            def end(self):
                print(self.missing)
        """,
    )
    proc = flowspin("check", flow)
    assert proc.returncode == 0
    assert "warning undefined-artifact" in proc.stdout


def test_missing_file_is_a_clear_error(workdir: Path) -> None:
    proc = flowspin("check", workdir / "nope.py", SWITCH)
    assert proc.returncode == 2
    assert "nope.py: no such file" in proc.stderr
    graph = flowspin("graph", workdir / "nope.py")
    assert graph.returncode == 2 and "no such file" in graph.stderr
    folder = flowspin("check", workdir)
    assert folder.returncode == 2 and "is a directory" in folder.stderr


def test_graph_json_lists_steps_edges_decorators_and_parameters() -> None:
    proc = flowspin("graph", "--json", CORPUS / "valid" / "cards_configs.py")
    assert proc.returncode == 0, proc.stderr
    (flow,) = json.loads(proc.stdout)["flows"]
    assert (flow["name"], flow["start"], flow["end"]) == ("CardsFlow", "start", "end")
    assert flow["edges"] == [["start", "process"], ["process", "end"]]
    start = flow["steps"][0]
    assert (start["name"], start["line"], start["type"]) == ("start", 21, "start")
    assert start["decorators"][0] == {
        "name": "card",
        "args": {"type": "blank", "id": "summary"},
        "positional": [],
    }
    assert [(p["attr"], p["kind"], p["default"]) for p in flow["parameters"]] == [
        ("config", "Config", {"size": 3}),
        ("size", "Parameter", 3),
    ]

    switch = json.loads(flowspin("graph", "--json", SWITCH).stdout)["flows"][0]
    refine = next(s for s in switch["steps"] if s["name"] == "refine")
    assert refine["type"] == "switch" and refine["condition"] == "state"
    assert refine["switch_cases"] == {"again": "refine", "done": "pick"}


def test_graph_human_output_is_a_readable_table() -> None:
    proc = flowspin("graph", SWITCH)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("SwitchFlow")
    assert any("Parameter mode ('mode') = 'fast'" in line for line in lines)
    refine = next(line for line in lines if " refine " in line and "switch on" in line)
    assert "'again' -> refine" in refine and "'done' -> pick" in refine


def test_rules_are_listed_with_severity_and_origin() -> None:
    proc = flowspin("check", "--rules")
    assert proc.returncode == 0
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()}
    assert rows["unknown-transition"] == "error"
    assert rows["undefined-artifact"] == "warning"
    assert "flowspin only" in next(
        line for line in proc.stdout.splitlines() if line.startswith("step-shadows-parameter")
    )
    no_files = flowspin("check")
    assert no_files.returncode == 2 and "at least one flow file" in no_files.stderr


def test_graph_of_a_flow_built_from_several_files() -> None:
    flow_file = CORPUS / "projects" / "valid_package_base" / "flow.py"
    data = json.loads(flowspin("graph", "--json", flow_file).stdout)
    (flow,) = data["flows"]
    steps = {s["name"]: s for s in flow["steps"]}
    assert set(steps) == {"start", "load", "train", "end"}
    assert steps["load"]["defined_in"] == "LoadMixin"
    assert steps["load"]["file"].endswith("pipelines/mixins.py")
    assert steps["train"]["file"] is None and steps["train"]["in"] == ["load"]
    assert [(p["attr"], bool(p["file"])) for p in flow["parameters"]] == [
        ("scale", False),
        ("count", True),
    ]
    human = flowspin("graph", flow_file).stdout
    assert "(from LoadMixin, pipelines/mixins.py)" in human
    assert "pipelines/mixins.py:5" in human
