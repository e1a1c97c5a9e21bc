"""Multi-root workspaces in a real VS Code (code-server + chromium, tests/e2e/drive_multiroot.mjs).

One server serves the window. Each folder (alpha, beta) sets its own `flowspin.python`, a
wrapper that records which folder's interpreter started and in which directory, then runs the
test venv's Python. Checked: the server starts with the interpreter of the active editor's
folder, in that folder; `initializationOptions` carry the window's settings and each folder's
(`folder_settings`); a changed setting and an added folder are sent again
(`workspace/didChangeConfiguration` `{settings: {flowspin, folder_settings}}`). What the
extension sent is read from the LSP trace in the "flowspin" output channel.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import metaflow_env
from e2e_support import ARTIFACTS, CHROMIUM, code_server, drive, package_vsix, require_prerequisites

pytestmark = pytest.mark.e2e

FLOW = textwrap.dedent(
    """\
    from metaflow import FlowSpec, step


    class {name}(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        {name}()
    """
)


def _folder(root: Path, name: str, launches: Path) -> Path:
    folder = root / name
    (folder / ".vscode").mkdir(parents=True)
    (folder / f"{name}_flow.py").write_text(FLOW.format(name=f"{name.title()}Flow"))
    python = root / f"{name}-python"
    python.write_text(
        f'#!/bin/sh\necho "{name} $PWD $*" >> {launches}\nexec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    (folder / ".vscode" / "settings.json").write_text(json.dumps({"flowspin.python": str(python)}))
    return folder


def test_one_server_per_window_with_settings_per_folder(tmp_path: Path) -> None:
    require_prerequisites("the multi-root test")
    vsix = package_vsix(tmp_path / "flowspin.vsix")
    root = tmp_path / "multi"
    root.mkdir()
    launches = root / "launches.txt"
    alpha, beta = _folder(root, "alpha", launches), _folder(root, "beta", launches)
    (root / "gamma").mkdir()
    workspace_file = root / "multi.code-workspace"
    workspace_file.write_text(
        json.dumps({"folders": [{"path": "alpha"}, {"path": "beta"}], "settings": {}})
    )
    settings = {
        "files.autoSave": "off",
        "flowspin.trace": "verbose",
        # The client's own trace setting: verbose from the first message (initialize) on.
        "flowspinServer.trace.server": "verbose",
    }
    user_data = tmp_path / "user-data"
    with code_server(tmp_path, workspace_file, metaflow_env(root), [vsix], settings) as url:
        checks = drive(
            "drive_multiroot.mjs",
            {
                "url": url,
                "workspaceFile": str(workspace_file),
                "launches": str(launches),
                "logsDir": str(user_data / "logs"),
                "chromium": str(CHROMIUM),
                "artifacts": str(ARTIFACTS),
                "timeoutSeconds": 90,
            },
            tmp_path,
        )
    by_name = {c["check"]: c for c in checks}
    # Restarted with beta's file active: beta's interpreter, in beta; then alpha's, in alpha.
    # (the client adds --stdio).
    assert by_name["restart-in-beta"]["launch"].startswith(f"beta {beta} -m flowspin lsp")
    assert by_name["restart-in-alpha"]["launch"].startswith(f"alpha {alpha} -m flowspin lsp")

    def folders(section: dict) -> dict[str, str]:
        return {
            Path(f["uri"].removeprefix("file://")).name: f["settings"]["python"]
            for f in section["folder_settings"]
        }

    options = by_name["initialize"]["params"][-1]
    assert options["settings"]["python"] == ""  # the window's section: no folder's value
    assert folders(options) == {
        "alpha": str(root / "alpha-python"),
        "beta": str(root / "beta-python"),
    }

    changed = by_name["setting-sent"]["params"]["settings"]
    assert changed["flowspin"]["spin"]["timeout"] == 7
    assert folders(changed) == folders(options)

    added = by_name["folder-sent"]["params"]["settings"]
    assert folders(added) == {**folders(options), "gamma": ""}
