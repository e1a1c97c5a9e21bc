"""The flow corpus: every rule fires on exactly the lines marked `# expect: rule-id`, valid flows
get no diagnostics, and real Metaflow agrees (it rejects each broken file that breaks one of its
rules, and accepts every valid flow), so the two linters cannot drift apart silently."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from conftest import metaflow_env, run_metaflow
from flowspin.analysis import check_model, parse_file
from flowspin.analysis.rules import RULES

CORPUS = Path(__file__).parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.py"))
BROKEN = sorted((CORPUS / "broken").glob("*.py"))
EXPECT = re.compile(r"#\s*expect:\s*(.+)$")
METAFLOW_LINE = re.compile(r"Validity checker found an issue in file .* on line (\d+)")
# A loop has no single "right" line: Metaflow picks the step that comes first alphabetically,
# flowspin the transition that closes the loop back to the earliest step in the file.
# A join without `inputs`: Metaflow reports at the end step, where its walk finds the split
# still open; flowspin where the branches meet, the step to fix.
LINE_MAY_DIFFER = {"cycle.py", "back_switch.py", "join_without_inputs.py"}


def expectations(path: Path) -> set[tuple[int, str]]:
    found = set()
    for lineno, text in enumerate(path.read_text().splitlines(), 1):
        match = EXPECT.search(text)
        if match:
            found.update((lineno, rule.strip()) for rule in match.group(1).split(","))
    return found


def has_flow(path: Path) -> bool:
    return "__main__" in path.read_text()


@pytest.fixture(scope="module")
def metaflow_checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CompletedProcess]:
    """`python flow.py --no-pylint check` for every corpus file, run once, a few at a time."""
    files = [p for p in VALID + BROKEN if has_flow(p)]

    def check(path: Path) -> tuple[str, CompletedProcess]:
        folder = tmp_path_factory.mktemp(f"{path.parent.name}-{path.stem}")
        copy = folder / "flow.py"
        shutil.copy(path, copy)
        return f"{path.parent.name}/{path.name}", run_metaflow(copy, "check", check=False)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(check, files))


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_flow_reports_every_expected_rule_on_its_line(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' markers"
    diagnostics = check_model(parse_file(path))
    assert {(d.span.line, d.rule) for d in diagnostics} == expected
    for d in diagnostics:
        assert d.severity == RULES[d.rule][0]
        assert d.message.endswith((".", "?", ")")), d.message
        if d.rule != "syntax-error":
            flow_level = d.rule.startswith("missing-") or d.rule == "unresolved-base"
            assert d.flow and d.step is not None or flow_level, d


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_flow_has_no_diagnostics(path: Path) -> None:
    assert check_model(parse_file(path)) == []


def test_every_rule_is_covered_by_the_corpus() -> None:
    covered = {rule for path in BROKEN for _, rule in expectations(path)}
    missing = set(RULES) - covered - {"internal-error"}
    assert not missing, f"rules without a broken corpus file: {sorted(missing)}"
    assert covered <= set(RULES), covered - set(RULES)


METAFLOW_BROKEN = [
    p for p in BROKEN if has_flow(p) and any(RULES[r][1] for _, r in expectations(p))
]
FLOWSPIN_ONLY = [p for p in BROKEN if has_flow(p) and p not in METAFLOW_BROKEN]


@pytest.mark.metaflow
@pytest.mark.parametrize("path", METAFLOW_BROKEN, ids=lambda p: p.name)
def test_metaflow_also_rejects_the_broken_flow(path: Path, metaflow_checks) -> None:
    proc = metaflow_checks[f"broken/{path.name}"]
    assert proc.returncode != 0, f"Metaflow accepted {path.name}:\n{proc.stdout}{proc.stderr}"
    match = METAFLOW_LINE.search(proc.stdout + proc.stderr)
    if match and int(match.group(1)) > 0 and path.name not in LINE_MAY_DIFFER:
        ours = {d.span.line for d in check_model(parse_file(path)) if d.severity == "error"}
        assert int(match.group(1)) in ours, (
            f"Metaflow points at line {match.group(1)}, flowspin at {sorted(ours)}"
        )


@pytest.mark.metaflow
@pytest.mark.parametrize("path", FLOWSPIN_ONLY, ids=lambda p: p.name)
def test_flowspin_catches_what_metaflow_check_lets_through(path: Path, metaflow_checks) -> None:
    proc = metaflow_checks[f"broken/{path.name}"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check_model(parse_file(path))


@pytest.mark.metaflow
@pytest.mark.parametrize("path", [p for p in VALID if has_flow(p)], ids=lambda p: p.name)
def test_metaflow_accepts_the_valid_flow(path: Path, metaflow_checks) -> None:
    proc = metaflow_checks[f"valid/{path.name}"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The graph looks good" in proc.stdout + proc.stderr


# --- projects: flows built from classes in several files ---------------------------------
# Each folder holds `flow.py` (run as `python flow.py`) or `<package>/flow.py` (run as
# `python -m <package>.flow`, so the flow itself can use relative imports).


def project_flow(project: Path) -> Path:
    top = project / "flow.py"
    return top if top.is_file() else next(project.glob("*/flow.py"))


PROJECTS = sorted(p for p in (CORPUS / "projects").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def metaflow_project_checks(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, CompletedProcess]:
    """`python flow.py --no-pylint check` (or `python -m pkg.flow ...`) in a copy of each
    project folder."""

    def check(project: Path) -> tuple[str, CompletedProcess]:
        folder = tmp_path_factory.mktemp(f"project-{project.name}") / project.name
        shutil.copytree(project, folder)
        flow = project_flow(folder)
        if flow.parent == folder:
            return project.name, run_metaflow(flow, "check", check=False)
        module = f"{flow.parent.name}.flow"
        proc = subprocess.run(
            [sys.executable, "-m", module, "--no-pylint", "check"],
            cwd=folder,
            env=metaflow_env(folder),
            capture_output=True,
            text=True,
            timeout=300,
        )
        return project.name, proc

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(check, PROJECTS))


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_project_flow_reports_exactly_the_expected_rules(project: Path) -> None:
    """Steps, parameters and artifacts of bases and mixins in other files are part of the
    flow: a valid project gets no diagnostic, a broken one exactly its marked rules."""
    flow_file = project_flow(project)
    diagnostics = check_model(parse_file(flow_file))
    assert {(d.span.line, d.rule) for d in diagnostics} == expectations(flow_file)
    if project.name.startswith("valid"):
        assert not expectations(flow_file)


@pytest.mark.metaflow
@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_metaflow_agrees_on_the_project(project: Path, metaflow_project_checks) -> None:
    proc = metaflow_project_checks[project.name]
    output = proc.stdout + proc.stderr
    expected = expectations(project_flow(project))
    if not any(RULES[rule][1] for _, rule in expected):
        assert proc.returncode == 0 and "The graph looks good" in output, output
        return
    assert proc.returncode != 0, f"Metaflow accepted {project.name}:\n{output}"
    match = re.search(r"issue in file (\S+) on line (\d+)", output)
    if match and Path(match.group(1)).name == "flow.py":
        assert int(match.group(2)) in {line for line, _ in expected}, output
