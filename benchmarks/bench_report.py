"""Time ``pclbayes report`` cold (fresh process), warm (second process) and --quick.

"Cold" starts with an empty PyTensor compile cache; "warm" reuses it. Prints seconds
and ratios against a baseline measured in the same run: one default specification
fitted in a fresh process with its own empty cache
(``pclbayes fit models/response_cr_by_target.toml``).
Targets: cold < 60 s, warm < 20 s, --quick < 15 s on 2 cores.

Run: python benchmarks/bench_report.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "pclbayes"]


def timed(args: list[str], compiledir: str) -> float:
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={compiledir}"}
    start = time.perf_counter()
    subprocess.run(EXE + args, cwd=ROOT, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = f"{tmp}/compiled"  # empty: the first run compiles everything (cold start)
        base = timed(["fit", "models/response_cr_by_target.toml"], f"{tmp}/base")
        cold = timed(["report", "--quiet", "--out", f"{tmp}/cold"], cache)
        warm = timed(["report", "--quiet", "--out", f"{tmp}/warm"], cache)
        quick = timed(["report", "--quiet", "--quick", "--out", f"{tmp}/quick"], cache)
    print(f"baseline: one spec fitted in a fresh process  {base:6.1f} s  (1.0x)")
    for label, sec, target in (("report, first run (cold)", cold, 60),
                               ("report, second run (warm)", warm, 20),
                               ("report --quick", quick, 15)):
        flag = "ok" if sec < target else "SLOWER THAN TARGET"
        print(f"{label:<44}{sec:6.1f} s  ({sec / base:4.1f}x baseline; target < {target} s: "
              f"{flag})")


if __name__ == "__main__":
    main()
