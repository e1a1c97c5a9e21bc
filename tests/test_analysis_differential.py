"""Differential test: random well-formed DAGs, some with one or two mutations, are accepted by
flowspin exactly when real Metaflow's `check` accepts them (fixed seeds, so failures replay)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import run_metaflow
from flowspin.analysis import check_source

SEEDS = [18, *range(1000, 1016)]  # 18: a step shared by two branches (last visit wins)


class _Builder:
    """Nested blocks (linear, static split, foreach, switch incl. self-loops) from start to end."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.steps: dict[str, dict] = {}
        self.count = 0

    def new(self) -> str:
        self.count += 1
        return f"s{self.count}"

    def block(self, entry: str, exit_: str, depth: int) -> None:
        kinds = ["linear", "split", "foreach", "switch", "linear"]
        kind = self.rng.choice(kinds) if depth < 3 else "linear"
        if kind == "linear":
            self.steps[entry] = {"join": False, "next": ("linear", [exit_])}
        elif kind in ("split", "foreach"):
            join = self.new()
            width = self.rng.randint(2, 3) if kind == "split" else 1
            heads = [self.new() for _ in range(width)]
            self.steps[entry] = {"join": False, "next": (kind, heads)}
            for head in heads:
                self.block(head, join, depth + 1)
            self.steps[join] = {"join": True, "next": ("linear", [exit_])}
        else:
            a, b = self.new(), self.new()
            cases = [a, b] if self.rng.random() < 0.7 else [a, entry]
            self.steps[entry] = {"join": False, "next": ("switch", cases)}
            for case in dict.fromkeys(cases):
                if case != entry:
                    self.block(case, exit_, depth + 1)


def generate(seed: int) -> str:
    rng = random.Random(seed)
    builder = _Builder(rng)
    builder.block("start", "end", 0)
    steps = builder.steps
    steps["end"] = {"join": False, "next": None}
    names = list(steps)
    for _ in range(rng.choice([0, 1, 1, 2])):
        name = rng.choice(names)
        step = steps[name]
        mutation = rng.choice(["target", "join", "drop", "kind"])
        if mutation == "join":
            step["join"] = not step["join"]
        elif mutation == "drop" and name != "end":
            step["next"] = None
        elif mutation in ("target", "kind") and step["next"]:
            kind, targets = step["next"]
            targets = list(targets)
            if mutation == "target":
                targets[rng.randrange(len(targets))] = rng.choice(names + ["nowhere"])
            else:
                kind = rng.choice(["linear", "split", "foreach", "switch"])
            step["next"] = (kind, targets)
    lines = ["from metaflow import FlowSpec, step", "", "", "class RandomFlow(FlowSpec):"]
    for name, step in steps.items():
        args = "self, inputs" if step["join"] else "self"
        lines += ["    @step", f"    def {name}({args}):", "        self.items = [1, 2]"]
        lines.append("        self.choice = 'k0'")
        if step["next"] is None:
            continue
        kind, targets = step["next"]
        refs = ", ".join(f"self.{t}" for t in targets)
        if kind in ("linear", "split"):
            lines.append(f"        self.next({refs})")
        elif kind == "foreach":
            lines.append(f"        self.next({refs}, foreach='items')")
        else:
            cases = ", ".join(f"'k{i}': self.{t}" for i, t in enumerate(targets))
            lines.append(f"        self.next({{{cases}}}, condition='choice')")
    lines += ["", "", "if __name__ == '__main__':", "    RandomFlow()", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def metaflow_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[int, str]]:
    def check(seed: int) -> tuple[int, tuple[int, str]]:
        folder = tmp_path_factory.mktemp(f"random-{seed}")
        path = folder / "flow.py"
        path.write_text(generate(seed))
        proc = run_metaflow(path, "check", check=False)
        return seed, (proc.returncode, proc.stdout + proc.stderr)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(check, SEEDS))


def test_generator_produces_both_valid_and_broken_flows() -> None:
    verdicts = [
        any(d.severity == "error" for d in check_source(generate(s))[1]) for s in range(200)
    ]
    assert 40 < sum(verdicts) < 160


@pytest.mark.metaflow
@pytest.mark.parametrize("seed", SEEDS)
def test_flowspin_and_metaflow_agree(seed: int, metaflow_verdicts) -> None:
    source = generate(seed)
    errors = [d for d in check_source(source)[1] if d.severity == "error"]
    returncode, output = metaflow_verdicts[seed]
    assert (returncode == 0) == (not errors), (
        f"seed {seed}: metaflow exit {returncode}, flowspin {[d.rule for d in errors]}\n"
        f"{source}\n{output[-600:]}"
    )
