"""Wall time of the test suite, next to pytest's collection of it as the baseline.

Run with ``python benchmarks/bench_tests.py [--ci]`` from the repository. Each row runs
pytest once in a fresh process:

* ``pytest --collect-only`` (the baseline): importing and collecting every test, what any
  run pays before its first test;
* ``pytest``: the default suite, without the ``slow`` and ``heavy`` tests;
* with ``--ci``, also ``pytest -m "not slow"``: the set CI runs (the default suite plus the
  ``heavy`` tests: real MCMC fits, whole reports, fresh processes, a wheel build).

A run that fails is reported and nothing is written. The results, with the machine, are
written to ``benchmarks/results/tests.json`` (ratio: each row's time over the collection's).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import machine, write

ROOT = Path(__file__).resolve().parent.parent

RUNS = {
    "pytest --collect-only (collection)": ["--collect-only", "-q"],
    "pytest (default suite)": ["-q"],
}
CI_RUN = {'pytest -m "not slow" (the set CI runs)': ["-q", "-m", "not slow"]}


def _time(args: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="pclbayes-bench-tests-") as tmp:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                               *args], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PCLBAYES_CACHE_DIR": tmp})
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    print(f"{seconds:8.1f} s  pytest {' '.join(args)}: {proc.stdout.strip().splitlines()[-1]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help='also time pytest -m "not slow"')
    args = parser.parse_args(argv)
    before = machine()
    runs = {**RUNS, **(CI_RUN if args.ci else {})}
    results = {label: {"median": _time(argv_)} for label, argv_ in runs.items()}
    path = write("tests", baseline="pytest --collect-only (collection)", results=results,
                 repeat=1, before=before, note="one run each, fresh processes, empty fit cache")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
