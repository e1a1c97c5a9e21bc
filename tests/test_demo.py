"""The quick start's main job (`make demo` -> `flowspin demo`) keeps working end to end."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_checks_runs_and_spins_the_example(tmp_path: Path) -> None:
    env = dict(os.environ, METAFLOW_USER="tester", USERNAME="tester")
    proc = subprocess.run(
        [sys.executable, "-m", "flowspin", "demo", "--workspace", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "no problems found" in out
    assert "start  foreach  -> train" in out  # the graph
    assert "run card (end step):" in out
    card = Path(out.split("run card (end step):", 1)[1].split()[0])
    assert "Best alpha: 1.0" in card_text(card)
    # cold spin, warm spin, and the @card step: all ok, from the run just made
    assert out.count("status=ok") == 3, out
    assert "best alpha" in out  # the end step's stdout streamed live
    assert "second spin (warm worker)" in out and "timings" in out
    # One duration per spin (the worker's), and the cold worker's start once, apart.
    assert len(re.findall(r"^status=ok .* spin took [\d.]+ ms$", out, re.M)) == 3, out
    assert out.count("to start the worker and import the flow") == 1, out


def card_text(card: Path) -> str:
    """A Metaflow card's visible data: its components travel as base64 JSON in the page."""
    html = card.read_text()
    blobs = re.findall(r'__MF_DATA__\["[^"]+"\] = "([A-Za-z0-9+/=]+)"', html)
    return html + "".join(base64.b64decode(b).decode() for b in blobs)
