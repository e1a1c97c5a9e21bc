"""The CLI's unhappy paths (issue 19): every common failure carries the user to the fix.

A closed pipe ends a command quietly; `--help` describes every command; a spin names its cards
and its traceback starts at the step; the demo prints one duration per spin and leaves no
folder behind; a failed run says where and how to resume before anything of Metaflow's
internals; a run without a user name is refused in one line before Metaflow starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import metaflow_env, run_flowspin, run_metaflow, write_flow

FLOW = """
from metaflow import FlowSpec, card, current, step
from metaflow.cards import Markdown


class UnhappyFlow(FlowSpec):
    @step
    def start(self):
        self.rows = [1, 2]
        self.next(self.report)

    @card(type="blank", id="summary")
    @step
    def report(self):
        current.card["summary"].append(Markdown("rows: %d" % len(self.rows)))
        self.next(self.broken)

    @step
    def broken(self):
        total = sum(self.rows)
        self.ratio = total / 0  # the failing line
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UnhappyFlow()
"""

BAD_LINE = "        self.ratio = total / 0  # the failing line"
USER_VARIABLES = ("METAFLOW_USER", "USER", "LOGNAME", "USERNAME", "SUDO_USER")


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A workspace whose flow ran once and failed at `broken` (so start and report are a
    base for spins)."""
    workdir = tmp_path_factory.mktemp("unhappy")
    (workdir / ".flowspin").mkdir()
    flow = write_flow(workdir, FLOW)
    proc = run_metaflow(flow, "run", check=False)
    assert proc.returncode != 0 and "ZeroDivisionError" in proc.stdout + proc.stderr
    return workdir, flow


def flowspin_to_closed_pipe(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`flowspin ARGS | head -0`: stdout is a pipe whose reader is gone before the first
    write, so every write fails as it would once `head` has what it wanted."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "flowspin", *args],
            cwd=workdir, env=metaflow_env(workdir), stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=300,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--rules"],
        ["check", "flow.py", "--json"],
        ["graph", "flow.py", "--json"],
        ["show", "flow.py", "--json"],
        ["show", "flow.py", "report", "--json"],
        ["spin", "flow.py", "report", "--no-daemon"],
        ["--help"],
    ],
    ids=" ".join,
)
def test_a_closed_pipe_ends_a_command_quietly(ran: tuple[Path, Path], args: list[str]) -> None:
    workdir, _ = ran
    if args[:2] == ["show", "flow.py"] and len(args) == 4:
        spun = run_flowspin(workdir, "spin", "flow.py", "report", "--no-daemon", "--json")
        assert '"status": "ok"' in spun.stdout, spun.stdout + spun.stderr
    proc = flowspin_to_closed_pipe(workdir, *args)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    # argparse's --help ignores write errors itself and exits 0
    assert proc.returncode == (0 if args == ["--help"] else 141)


def test_a_closed_pipe_after_the_first_line_is_quiet_too(ran: tuple[Path, Path]) -> None:
    """`flowspin check --rules | head -1`, with the reader gone after one line."""
    workdir, _ = ran
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "check", "--rules"], cwd=workdir,
        env=metaflow_env(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert first.startswith(b"syntax-error")
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert code in (0, 141)  # 0 when it had written everything before the reader left


def test_the_warm_shell_spin_is_quiet_on_a_closed_pipe(ran: tuple[Path, Path]) -> None:
    workdir, _ = ran
    try:
        proc = flowspin_to_closed_pipe(workdir, "spin", "flow.py", "report", "--json")
        assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
        assert proc.returncode == 141
    finally:
        run_flowspin(workdir, "daemon", "stop")


def test_every_command_has_a_one_line_help_and_a_description() -> None:
    from flowspin.cli import SUBCOMMANDS, build_parser

    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "--help"], capture_output=True, text=True,
        env=dict(os.environ, COLUMNS="80"), timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    listing = proc.stdout.split("COMMAND\n", 1)[1].split("\n\n", 1)[0].splitlines()
    names = [name.replace("_", "-") for name in SUBCOMMANDS]
    # one line per command: its name, then what it does, and nothing wraps
    assert [line.split()[0] for line in listing] == names, proc.stdout
    assert all(len(line.split()) > 2 for line in listing), proc.stdout

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name in names:
        text = commands.choices[name].format_help()  # what `flowspin NAME --help` prints
        paragraphs = text.split("\n\n")
        assert len(paragraphs) > 2 and not paragraphs[1].startswith(("positional", "options")), (
            f"`flowspin {name} --help` has no description:\n{text}"
        )


def test_a_card_step_spin_names_its_card(ran: tuple[Path, Path]) -> None:
    workdir, _ = ran
    proc = run_flowspin(workdir, "spin", "flow.py", "report", "--no-daemon")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    named = re.search(r"^card \(blank summary\): (\S+)$", proc.stdout, re.M)
    assert named, proc.stdout
    card = Path(named[1])
    assert card.is_file() and card.is_relative_to(workdir / ".flowspin")


def test_a_failed_spin_traceback_starts_at_the_step(ran: tuple[Path, Path]) -> None:
    workdir, flow = ran
    line = flow.read_text().splitlines().index(BAD_LINE) + 1
    proc = run_flowspin(workdir, "spin", "flow.py", "broken", "--no-daemon")
    assert proc.returncode == 1
    err = proc.stderr
    lines = err.splitlines()
    header = lines.index("Traceback (most recent call last):")
    assert lines[header + 1] == f'  File "{flow}", line {line}, in broken', err
    assert "total / 0" in err and "ZeroDivisionError: division by zero" in err
    assert "spin/child.py" not in err and "metaflow/task.py" not in err, err
    assert "ZeroDivisionError" in proc.stdout  # the one-line result
    # the JSON result keeps its traceback for tools; the human rendering is what is trimmed
    data = run_flowspin(workdir, "spin", "flow.py", "broken", "--no-daemon", "--json")
    assert "total / 0" in data.stdout


def test_trimming_keeps_a_trimmed_or_foreign_traceback_as_it_is() -> None:
    """Another layer may already trim at the source; trimming again changes nothing, and a
    traceback with no user frame at all is not emptied."""
    from flowspin.errors_text import TracebackTrimmer, trim_traceback

    machinery = str(Path(__file__).resolve().parents[1] / "server/flowspin/spin/child.py")
    library = os.path.join(sys.prefix, "lib", "site-packages", "metaflow", "task.py")
    full = (
        "Traceback (most recent call last):\n"
        f'  File "{machinery}", line 360, in _run\n'
        "    run(step)\n"
        f'  File "{library}", line 113, in _exec_step_function\n'
        "    step_function()\n"
        '  File "/home/me/flow.py", line 13, in broken\n'
        "    self.ratio = total / 0\n"
        "ZeroDivisionError: division by zero\n"
    )
    trimmed = trim_traceback(full)
    assert trimmed.splitlines()[1] == '  File "/home/me/flow.py", line 13, in broken'
    assert trim_traceback(trimmed) == trimmed
    foreign = full.replace("/home/me/flow.py", library)
    assert trim_traceback(foreign) == foreign
    # streamed in pieces, around other output, it comes out the same
    text = "before\n" + full + "after"
    trimmer = TracebackTrimmer()
    pieces = [trimmer.feed(text[i : i + 5]) for i in range(0, len(text), 5)]
    assert "".join(pieces) + trimmer.flush() == "before\n" + trimmed + "after"


def test_the_demo_prints_one_duration_per_spin_and_leaves_no_folder(tmp_path: Path) -> None:
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, METAFLOW_USER="tester", USERNAME="tester",
               XDG_CACHE_HOME=str(cache), TMPDIR=str(tmp))
    cards: list[Path] = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "flowspin", "demo"], capture_output=True, text=True,
            env=env, timeout=600,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        sections = proc.stdout.split("\n== ")
        spins = [s for s in sections if s.startswith("spin ")]
        assert len(spins) == 3, proc.stdout
        for i, section in enumerate(spins):
            durations = re.findall(r"[\d.]+ ms", section)
            startup = re.findall(r"[\d.]+ ms to start the worker", section)
            assert len(durations) - len(startup) == 1, section
            assert len(startup) == (1 if i == 0 else 0), section
            assert re.search(r"spin took [\d.]+ ms", section), section
        cards.append(Path(re.findall(r"^spin card: (\S+)$", proc.stdout, re.M)[-1]))
    # one scratch folder, reused: the last demo's card is there, nothing piles up in TMPDIR
    assert [p.name for p in cache.iterdir()] == ["flowspin-demo"]
    assert cards[-1].is_file() and cards[-1].is_relative_to(cache / "flowspin-demo")
    assert not [p for p in tmp.iterdir() if p.name.startswith("flowspin-demo")]


def test_a_failed_run_says_where_and_how_to_resume_first(ran: tuple[Path, Path]) -> None:
    workdir, flow = ran
    line = flow.read_text().splitlines().index(BAD_LINE) + 1
    proc = run_flowspin(workdir, "run", "flow.py")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout.splitlines()
    failed = f"FAILED (flow.py:{line}): ZeroDivisionError: division by zero"
    first = next(i for i, text in enumerate(out) if failed in text)
    # the user's frame and exception come right after; Metaflow's machinery is folded
    right_after = "\n".join(out[first + 1 : first + 6])
    assert f'File "{flow}", line {line}, in broken' in right_after, proc.stdout
    assert "total / 0" in right_after and "folded; --verbose shows them" in right_after
    assert "site-packages" not in proc.stdout and "Internal error" not in proc.stdout
    # the last lines on the screen: the failure again, then how to resume
    tail = [text for text in out if text.strip()][-2:]
    assert failed in tail[0] and tail[1].endswith("flowspin run flow.py --resume broken")

    verbose = run_flowspin(workdir, "run", "flow.py", "--verbose")
    assert verbose.returncode == 1
    assert "metaflow/task.py" in verbose.stdout and "folded" not in verbose.stdout


@pytest.mark.parametrize(
    ("extra", "says"),
    [({}, "none of METAFLOW_USER, USERNAME or USER is set"), ({"USER": "root"}, "USER says root")],
    ids=["no user", "root"],
)
def test_a_run_without_a_user_name_says_what_to_set(
    ran: tuple[Path, Path], extra: dict[str, str], says: str
) -> None:
    workdir, _ = ran
    env = {k: v for k, v in metaflow_env(workdir).items() if k not in USER_VARIABLES}
    env["METAFLOW_HOME"] = str(workdir / "no-config")
    runs_before = sorted((workdir / ".metaflow" / "UnhappyFlow").iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "run", "flow.py"], cwd=workdir,
        env={**env, **extra}, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    assert "export METAFLOW_USER=" in proc.stderr
    assert sorted((workdir / ".metaflow" / "UnhappyFlow").iterdir()) == runs_before


WAITING = """
import os
import time
from metaflow import FlowSpec, step


class WaitFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.wait)

    @step
    def wait(self):
        if os.environ.get("FLOWSPIN_TEST_MARKER"):
            open(os.environ["FLOWSPIN_TEST_MARKER"], "w").close()
            time.sleep(600)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WaitFlow()
"""


def test_ctrl_c_of_a_json_spin_prints_one_cancelled_object(workdir: Path) -> None:
    import json
    import signal

    from conftest import wait_until

    flow = write_flow(workdir, WAITING)
    run_metaflow(flow, "run")
    marker = workdir / "started"
    env = {**metaflow_env(workdir), "FLOWSPIN_TEST_MARKER": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowspin", "spin", "flow.py", "wait", "--json"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(marker.exists, 120, "the step to start")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    reply = json.loads(out)  # exactly one object
    assert reply["status"] == "cancelled" and reply["error"]["type"] == "Cancelled"
    again = run_flowspin(workdir, "spin", "flow.py", "start", "--json")
    assert json.loads(again.stdout)["status"] == "ok"
    run_flowspin(workdir, "daemon", "stop")
