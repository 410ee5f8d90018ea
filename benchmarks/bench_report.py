"""Time ``pclbayes report``: cold, warm, warm with every fit sampled again, and --quick.

Each run is a fresh process with its own PyTensor compile cache and fit cache
(:mod:`pclbayes.fitcache`), both empty at the start:

* cold: the first report (everything compiled and sampled);
* warm: the same report again (compiled models and fits reused from the caches);
* warm --refit: the same report with the compile cache only (every fit sampled again);
* --quick: a first quick report after the full one (compiled models reused, quick fits
  sampled); and the same quick report again.

Prints seconds and ratios against a baseline measured in the same run: one default
specification fitted in a fresh process with an empty compile cache
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


def timed(args: list[str], tmp: str, name: str) -> float:
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp}/compiled",
           "PCLBAYES_CACHE_DIR": f"{tmp}/fits"}
    start = time.perf_counter()
    subprocess.run(EXE + args + ["--out", f"{tmp}/{name}"], cwd=ROOT, check=True,
                   capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as base_dir, tempfile.TemporaryDirectory() as tmp:
        base = timed(["fit", "models/response_cr_by_target.toml"], base_dir, "base")
        runs = [
            ("report, first run (cold)", timed(["report", "--quiet"], tmp, "cold"), 60),
            ("report, second run (warm)", timed(["report", "--quiet"], tmp, "warm"), 20),
            ("report --refit (warm compile cache, all fits sampled)",
             timed(["report", "--quiet", "--refit"], tmp, "refit"), None),
            ("report --quick, first quick run", timed(["report", "--quiet", "--quick"], tmp,
                                                      "quick"), 15),
            ("report --quick, again", timed(["report", "--quiet", "--quick"], tmp, "quick2"),
             15),
        ]
    print(f"{'baseline: one spec fitted in a fresh process':<58}{base:6.1f} s  (1.0x)")
    for label, sec, target in runs:
        verdict = "" if target is None else (
            f"; target < {target} s: {'ok' if sec < target else 'SLOWER THAN TARGET'}")
        print(f"{label:<58}{sec:6.1f} s  ({sec / base:4.1f}x baseline{verdict})")


if __name__ == "__main__":
    main()
