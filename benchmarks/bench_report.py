"""Time ``pclbayes report``: cold, warm, warm with every fit sampled again, and --quick.

Each run is a fresh process with its own PyTensor compile cache and fit cache
(:mod:`pclbayes.fitcache`), both empty at the start:

* cold: the first report (everything compiled and sampled);
* stored: the same report again; every input is unchanged, so the report the first run
  stored is copied (:mod:`pclbayes.report.stored`);
* from the fit cache: the same report with the stored report removed, so that every fit
  is read from the fit cache and the page is made again (what a run whose fits are all
  cached but whose specification files changed, say a title, does);
* warm --refit: the same report with the compile cache only (every fit sampled again);
* --quick: a first quick report after the full one (compiled models reused, quick fits
  sampled); and the same quick report again.

* --quick, cold: a quick report in a fresh process with empty caches of its own.

Prints seconds and ratios against a baseline measured in the same run: one default
specification fitted in a fresh process with an empty compile cache
(``pclbayes fit models/response_cr_by_target.toml``), and writes them to
``benchmarks/results/report.json`` (the layout of ``_results.py``, read by
``readme_table.py``). Aims (2 quiet cores): cold <= 25 s, every fit from the cache <= 4 s
(both ways), --quick cold <= 10 s.

Run: python benchmarks/bench_report.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "pclbayes"]


def timed(args: list[str], tmp: str, name: str, fresh_page: bool = False) -> float:
    if fresh_page:  # the reports stored by earlier runs (the fits stay in the cache)
        shutil.rmtree(f"{tmp}/fits/reports")
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp}/compiled",
           "PCLBAYES_CACHE_DIR": f"{tmp}/fits"}
    start = time.perf_counter()
    subprocess.run(EXE + args + ["--out", f"{tmp}/{name}"], cwd=ROOT, check=True,
                   capture_output=True, env=env)
    return time.perf_counter() - start


BASELINE = "pclbayes fit models/response_cr_by_target.toml (cold)"


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import machine, write

    before = machine()
    with tempfile.TemporaryDirectory() as base_dir, tempfile.TemporaryDirectory() as tmp, \
            tempfile.TemporaryDirectory() as quick_dir:
        base = timed(["fit", "models/response_cr_by_target.toml"], base_dir, "base")
        runs = [
            ("pclbayes report (cold)", timed(["report", "--quiet"], tmp, "cold"), 25),
            ("pclbayes report (every fit from the fit cache, the stored report copied)",
             timed(["report", "--quiet"], tmp, "stored"), 4),
            ("pclbayes report (every fit from the fit cache, the page made again)",
             timed(["report", "--quiet"], tmp, "warm", fresh_page=True), 4),
            ("pclbayes report --refit (warm compile cache, every fit sampled)",
             timed(["report", "--quiet", "--refit"], tmp, "refit"), None),
            ("pclbayes report --quick (cold)",
             timed(["report", "--quiet", "--quick"], quick_dir, "quick-cold"), 10),
            ("pclbayes report --quick (warm compile cache)",
             timed(["report", "--quiet", "--quick", "--refit"], tmp, "quick"), None),
        ]
    print(f"{'baseline: ' + BASELINE:<70}{base:6.1f} s  (1.0x)")
    for label, sec, target in runs:
        verdict = "" if target is None else (
            f"; aim <= {target} s: {'met' if sec <= target else 'not met'}")
        print(f"{label:<70}{sec:6.1f} s  ({sec / base:4.1f}x baseline{verdict})")
    results = {BASELINE: {"median": base, "times": [base]}}
    results.update({label: {"median": sec, "times": [sec]} for label, sec, _ in runs})
    path = write("report", baseline=BASELINE, results=results, repeat=1, before=before,
                 note="bundled data and models/, fresh processes")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
