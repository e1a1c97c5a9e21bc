"""Flow panel render time: the panel's page script (dist/flowPanel.js, dagre layout + SVG) in
headless chromium, fed generated `flowspin/flowGraph` answers of 20 and 200 steps (every node
kind, a recursive switch, every status), on a fresh page each time, plus a redraw of the same
graph with new statuses (the layout is kept). Budget (issue 15): 200 steps drawn <= 500 ms.

Run: `.venv/bin/python benchmarks/bench_flow_panel.py` (seconds; needs `npm run build`, the
Node 24 and chromium of scripts/setup-e2e.sh and playwright-core). The measuring is
bench_flow_panel.mjs; this wrapper finds Node and builds the bundle if it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("FLOWSPIN_E2E_CACHE", Path.home() / ".cache" / "flowspin-e2e"))


def main() -> int:
    node = CACHE / "node" / "bin" / "node"
    node_cmd = str(node) if node.is_file() else shutil.which("node")
    if not node_cmd or not (REPO / "node_modules" / "playwright-core").is_dir():
        print("needs Node and playwright-core: run scripts/setup-node.sh and scripts/setup-e2e.sh")
        return 1
    if not (REPO / "dist" / "flowPanel.js").is_file():
        subprocess.run(["npm", "run", "--silent", "bundle"], cwd=REPO, check=True)
    return subprocess.call([node_cmd, str(HERE / "bench_flow_panel.mjs"), *sys.argv[1:]], cwd=REPO)


if __name__ == "__main__":
    sys.exit(main())
