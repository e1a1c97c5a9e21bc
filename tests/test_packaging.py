"""flowspin as a user installs it: the wheel and sdist `python -m build` makes, installed into a
fresh venv that sees nothing of this checkout, with only the core dependencies (no extras).

Offline by construction. The build runs without isolation (`--no-isolation`: setuptools and
`build` come from the dev extra, nothing is downloaded), and the wheel goes in with
`pip install --no-index --no-deps`. Its dependencies cannot come from an index either, and
pointing the fresh venv at the whole test venv (a .pth to its site-packages) would also give it
the notebook and mcp extras, hiding exactly what a lean install lacks. So the fresh venv gets a
folder with links to just the distributions the core requirements need (their closure, read
from the installed metadata, markers evaluated), and one .pth naming that folder: what
`pip install flowspin-*.whl` would have installed, from files already on this machine.
`pip check` in that venv then proves the closure complete.

The extension's half: the manifest carries what the Marketplace shows (icon, license, changelog,
its own README, a walkthrough), and `npm run package`'s vsce command packs exactly that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The standard library's from Python 3.11 on; on 3.10 these tests are skipped, not failed.
tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
NOTEBOOK_PACKAGES = {"papermill", "nbformat", "nbconvert", "ipykernel"}
PACKAGED_EXAMPLE = "flowspin/examples/demo/flow.py"


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_core_dependencies_have_no_notebook_packages() -> None:
    """The notebook-card packages are most of an install; only the `notebook` extra has them."""
    project = PYPROJECT["project"]
    assert not _names(project["dependencies"]) & NOTEBOOK_PACKAGES
    extras = project["optional-dependencies"]
    assert _names(extras["notebook"]) == NOTEBOOK_PACKAGES
    assert "mcp" in _names(extras["mcp"])
    # The hint a notebook card gives without the extra names the same requirements.
    from flowspin.cards.notebook import _NOTEBOOK_EXTRA

    assert sorted(_NOTEBOOK_EXTRA) == sorted(r.replace(" ", "") for r in extras["notebook"])


def test_the_repository_example_is_the_packaged_one() -> None:
    """`make demo`, the docs and the README show examples/demo/flow.py; `flowspin demo` copies
    the one inside the package. They must not drift apart."""
    assert (REPO / "examples/demo/flow.py").read_bytes() == (
        REPO / "server" / PACKAGED_EXAMPLE
    ).read_bytes()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheel and sdist from a copy of the sources a release uses (so the build's `build/` and
    egg-info never land in the working tree other tests and people use)."""
    root = tmp_path_factory.mktemp("build")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "server",
        src / "server",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    out = root / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("flowspin-*.whl")
    (sdist,) = out.glob("flowspin-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_wheel_carries_the_example_the_license_and_lean_metadata(built) -> None:
    with zipfile.ZipFile(built["wheel"]) as whl:
        names = set(whl.namelist())
        info = f"flowspin-{VERSION}.dist-info"
        meta = whl.read(f"{info}/METADATA").decode()
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    assert PACKAGED_EXAMPLE in names
    assert f"{info}/licenses/LICENSE" in names
    assert "flowspin = flowspin.cli:main" in entry_points
    assert not [n for n in names if n.startswith(("tests/", "examples/"))]
    requires = re.findall(r"^Requires-Dist: (.+)$", meta, re.M)
    core = [r for r in requires if "extra ==" not in r]
    notebook = [r for r in requires if 'extra == "notebook"' in r]
    assert core and not _names(core) & NOTEBOOK_PACKAGES
    assert _names(notebook) == NOTEBOOK_PACKAGES
    assert re.search(r'^Requires-Dist: mcp.*extra == "mcp"', meta, re.M)
    assert "License-Expression: Apache-2.0" in meta


def test_sdist_builds_the_same_package(built) -> None:
    """`python -m build` made the wheel from the sdist, so the sdist is complete; it carries
    the license and the example, and none of the repository's tests."""
    with tarfile.open(built["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml", f"server/{PACKAGED_EXAMPLE}"} <= names
    assert not [n for n in names if n.startswith("tests/")]


def _core_closure() -> list[metadata.Distribution]:
    """The installed distributions `pip install flowspin` (no extras) would bring: the core
    requirements and theirs, with environment markers evaluated and no extras."""
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    seen: dict[str, metadata.Distribution] = {}
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        dist = metadata.distribution(req.name)
        assert req.specifier.contains(dist.version, prereleases=True), (req, dist.version)
        seen[name] = dist
        for sub in dist.requires or []:
            sub_req = Requirement(sub)
            # Its own requirements, and those of the extras it was asked for (`pkg[extra]`).
            if sub_req.marker is None or any(
                sub_req.marker.evaluate({"extra": e}) for e in ("", *req.extras)
            ):
                sub_req.marker = None
                todo.append(sub_req)
    return list(seen.values())


def _link_closure(folder: Path) -> list[str]:
    """Links in `folder` to each closure distribution's top-level files (its modules and its
    .dist-info, as its RECORD lists them). Returns the distributions' names."""
    folder.mkdir()
    names = []
    for dist in _core_closure():
        assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD"
        names.append(canonicalize_name(dist.metadata["Name"]))
        for top in {f.parts[0] for f in dist.files if f.parts and f.parts[0] != ".."}:
            if top == "__pycache__" or top.endswith(".pth") or (folder / top).exists():
                continue
            target = Path(dist.locate_file(top))
            if target.exists():
                (folder / top).symlink_to(target)
    return names


@pytest.fixture(scope="module")
def lean_venv(built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the built wheel and, through one .pth, the core dependencies only."""
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = root / "core-deps"
    _link_closure(deps)
    (Path(purelib) / "flowspin-core-deps.pth").write_text(f"{deps}\n")
    # This venv's pip installs into the fresh one (`pip --python`): no pip inside it, no index.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-index",
            "--no-deps",
            str(built["wheel"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def _user_env(home: Path) -> dict[str, str]:
    """A user's environment: nothing of this checkout on PYTHONPATH, caches in the test's
    folder (so the demo's scratch folder is the test's too)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "METAFLOW_"))}
    env.update(
        METAFLOW_USER="tester",
        USERNAME="tester",
        XDG_CACHE_HOME=str(home / "cache"),
        METAFLOW_HOME=str(home / ".metaflowconfig"),
    )
    return env


@pytest.mark.metaflow
def test_the_installed_wheel_is_a_working_lean_flowspin(lean_venv: Path, tmp_path: Path) -> None:
    py = str(lean_venv / "bin" / "python")
    flowspin = str(lean_venv / "bin" / "flowspin")
    env = _user_env(tmp_path)
    version = subprocess.run(
        [flowspin, "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert version.returncode == 0 and VERSION in version.stdout, version
    demo_help = subprocess.run(
        [flowspin, "demo", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert demo_help.returncode == 0 and "scratch" in demo_help.stdout, demo_help
    probe = textwrap.dedent(
        """
        import importlib.util, json, flowspin
        from flowspin.commands.demo import EXAMPLE
        print(json.dumps({
            "flowspin": flowspin.__file__,
            "example": str(EXAMPLE),
            "missing": [m for m in ("papermill", "nbconvert", "ipykernel", "nbformat", "mcp")
                        if importlib.util.find_spec(m) is None],
        }))
        """
    )
    out = subprocess.run([py, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert facts["flowspin"].startswith(str(lean_venv)), facts  # the wheel, not the checkout
    assert facts["example"].startswith(str(lean_venv)) and Path(facts["example"]).is_file()
    assert sorted(facts["missing"]) == ["ipykernel", "mcp", "nbconvert", "nbformat", "papermill"]
    # Without the mcp extra, `flowspin mcp` says how to add it to this very interpreter.
    mcp = subprocess.run(
        [flowspin, "mcp"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert mcp.returncode == 2 and f"{py} -m pip install 'mcp>=2,<3'" in mcp.stderr, mcp
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", py, "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.metaflow
def test_flowspin_demo_runs_from_the_wheel(lean_venv: Path, tmp_path: Path) -> None:
    """The new user's first command, with the default scratch folder (under XDG_CACHE_HOME)."""
    proc = subprocess.run(
        [str(lean_venv / "bin" / "flowspin"), "demo"],
        capture_output=True,
        text=True,
        env=_user_env(tmp_path),
        cwd=tmp_path,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"workspace: {tmp_path / 'cache' / 'flowspin-demo'}" in out
    assert out.count("status=ok") == 3, out
    assert len(re.findall(r"spin took [\d.]+ ms", out)) == 3, out  # one duration per spin
    assert "to start the worker" in out  # the cold worker's start, once, apart


NOTEBOOK_FLOW = """
from metaflow import FlowSpec, card, step


class NbFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.report)

    @card(type="notebook")
    @step
    def report(self):
        self.answer = 42
        self.nb_options_dict = dict(input_path="report.ipynb")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NbFlow()
"""


@pytest.mark.metaflow
def test_a_notebook_card_without_the_extra_says_which_to_install(
    lean_venv: Path, tmp_path: Path
) -> None:
    """No papermill in a lean install: the spin stays ok, and its notice and card name the
    extra and a command that installs it into the worker's interpreter."""
    py = str(lean_venv / "bin" / "python")
    (tmp_path / "flow.py").write_text(NOTEBOOK_FLOW.lstrip())
    (tmp_path / "report.ipynb").write_text("{}")  # never opened: the extra is checked first
    env = _user_env(tmp_path)
    env.update(
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(tmp_path),
    )
    run = subprocess.run(
        [py, "flow.py", "--no-pylint", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr  # a run's card failure is not fatal
    spin = subprocess.run(
        [str(lean_venv / "bin" / "flowspin"), "spin", "flow.py", "report", "--no-daemon", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(spin.stdout)
    assert result["status"] == "ok", spin.stdout + spin.stderr
    (notice,) = [n for n in result["notices"] if "notebook" in n]
    assert "`notebook` extra" in notice and "papermill" in notice
    assert f"{py} -m pip install 'papermill" in notice
    (card,) = result["cards"]
    assert "`notebook` extra" in Path(card["path"]).read_text()


# --- the VS Code extension -------------------------------------------------------------------

MANIFEST = json.loads((REPO / "package.json").read_text())
VSCE = REPO / "node_modules" / ".bin" / "vsce"


def test_the_manifest_has_what_the_marketplace_shows() -> None:
    """Icon, license, changelog, a README of its own and a walkthrough whose pages exist."""
    assert (REPO / MANIFEST["icon"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Apache License" in (REPO / "LICENSE").read_text()
    assert MANIFEST["license"] == "Apache-2.0"
    assert (REPO / "CHANGELOG.md").is_file()
    package = MANIFEST["scripts"]["package"]
    assert "--skip-license" not in package and "--readme-path extension/README.md" in package
    assert "make " not in (REPO / "extension/README.md").read_text()  # users have no Makefile
    (walkthrough,) = MANIFEST["contributes"]["walkthroughs"]
    steps = {s["id"]: s for s in walkthrough["steps"]}
    assert list(steps) == ["install", "open", "spin", "card", "run"]
    commands = {c["command"] for c in MANIFEST["contributes"]["commands"]}
    for step in steps.values():
        assert (REPO / step["media"]["markdown"]).is_file(), step
        for event in step["completionEvents"]:
            if event.startswith("onCommand:"):
                assert event.split(":", 1)[1] in commands, event
        for target in re.findall(r"\(command:(flowspin\.[A-Za-z]+)", step["description"]):
            assert target in commands, target
    # The "Install flowspin" button of the missing-flowspin warning opens the install step by
    # the ids VS Code gives it: <publisher>.<name>#<walkthrough id>#<step id>.
    client = (REPO / "extension/client.ts").read_text()
    extension_id = f"{MANIFEST['publisher']}.{MANIFEST['name']}"
    assert f"const EXTENSION_ID = '{extension_id}';" in client
    assert f"const WALKTHROUGH_ID = '{walkthrough['id']}';" in client
    assert "step: `${category}#install`" in client


@pytest.mark.skipif(not VSCE.exists(), reason="node packages not installed (make setup-node)")
def test_the_vsix_carries_what_a_user_needs_and_nothing_else(tmp_path: Path) -> None:
    """`npm run package`'s own vsce command, offline, on a copy of what it packages. The copy
    drops `vscode:prepublish` (the bundle build other tests use; its output is stubbed) and
    adds a tests/ folder and the TypeScript sources, which must stay out of the .vsix."""
    for name in ("package.json", ".vscodeignore", "CHANGELOG.md", "LICENSE"):
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "media", tmp_path / "media")
    shutil.copytree(REPO / "extension", tmp_path / "extension")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_x.py").write_text("")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist/extension.js").write_text("exports.activate = () => {};\n")
    (tmp_path / "dist/flowPanel.js").write_text("(() => {})();\n")  # the flow panel's page
    (tmp_path / "dist/extension.js.map").write_text("{}")
    manifest = dict(
        MANIFEST, scripts={k: v for k, v in MANIFEST["scripts"].items() if k != "vscode:prepublish"}
    )
    (tmp_path / "package.json").write_text(json.dumps(manifest, indent=2))
    args = MANIFEST["scripts"]["package"].split()
    assert args[:2] == ["vsce", "package"]
    vsix = tmp_path / "out.vsix"
    proc = subprocess.run(
        [str(VSCE), *args[1:], "--out", str(vsix)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with zipfile.ZipFile(vsix) as zf:
        names = set(zf.namelist())
        readme = zf.read("extension/readme.md").decode()
        vsixmanifest = zf.read("extension.vsixmanifest").decode()
    assert readme == (REPO / "extension/README.md").read_text()
    walkthrough = {
        f"extension/media/walkthrough/{s}.md" for s in ("install", "open", "spin", "card", "run")
    }
    assert {
        "extension/package.json",
        "extension/dist/extension.js",
        "extension/dist/flowPanel.js",
        "extension/LICENSE.txt",
        "extension/changelog.md",
        "extension/media/icon.png",
        "extension/media/cardView.js",
        *walkthrough,
    } <= names
    assert "<Icon>extension/media/icon.png</Icon>" in vsixmanifest
    assert not [
        n for n in names if "/tests/" in n or n.endswith((".ts", ".map")) or "/server/" in n
    ]
