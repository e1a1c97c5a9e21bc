"""Run every benchmark in this folder, one after another, each printing its own table.

`make bench` calls this. Benchmarks are not tests: they measure the budgets of DESIGN.md side
by side with Metaflow's own commands and print figures; they assert nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("bench_*.py"))
    failed = []
    for script in scripts:
        print(f"\n#### {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"#### {script.name}: exit {code} after {time.perf_counter() - started:.0f} s")
        if code:
            failed.append(script.name)
    if failed:
        print("benchmarks that failed to run: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
