"""Wall time of quick ``pclbayes`` commands in fresh processes, next to interpreter baselines.

Run with ``python benchmarks/bench_startup.py [--repeat 5]``. Every command runs in a new
process ``--repeat`` times; the table shows the median wall time :math:`\\tilde t` (and the
fastest and slowest run) and two ratios measured in the same run:

* ``x python``: :math:`\\tilde t / \\tilde t_0`, with :math:`t_0` the time of
  ``python -c pass`` (the interpreter alone);
* ``x pymc``: :math:`\\tilde t / \\tilde t_1`, with :math:`t_1` the time of
  ``python -c "import pymc"`` (what any command that loads the sampler pays first).

Two more interpreter runs time the libraries a command cannot do without: numpy and
``scipy.special`` for ``plan oc`` (binomial sums), pandas, ``scipy.special``,
``scipy.interpolate`` and xarray for an exact fit (data tables, special functions, the grid
posterior's quantiles, the DataTree), and the same with PyMC and nutpie (which imports
all of ArviZ, matplotlib's pyplot included) for an MCMC fit; they are the floor under those
commands' times.

Fits run with an empty fit cache each time (``PCLBAYES_CACHE_DIR`` a new directory), so
every run fits. The results, with the machine (CPU count, load average before and after,
Python version), are written to ``benchmarks/results/startup.json``. The machine's load
changes wall times; compare ratios from one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"

PRIOR = {"format": "pclbayes-prior", "format_version": 1, "family": "beta",
         "components": [{"name": "flat", "weight": 1.0, "a": 1.0, "b": 1.0}]}
"""Beta(1, 1) as a prior file (``plan oc --prior`` takes a JSON file)."""

BASELINES = {
    "python -c pass": ["-c", "pass"],
    'python -c "import pymc"': ["-c", "import pymc"],
    # what a command cannot avoid importing: the floor under its time
    "imports of plan oc (numpy, scipy.special)": ["-c", "import numpy, scipy.special"],
    "imports of an exact fit (pandas, scipy.special, scipy.interpolate, xarray)":
        ["-c", "import pandas, scipy.special, scipy.interpolate, xarray"],
    "imports of an MCMC fit (pandas, xarray, PyMC, nutpie and the ArviZ it imports)":
        ["-c", "import pandas, xarray, pymc, nutpie"],
}


def commands(prior_path: Path) -> dict[str, list[str]]:
    """``{label: arguments of python -m pclbayes}`` of the timed commands."""
    fit = ["fit", "response", "--endpoint", "cr", "--by", "target", "--json"]
    return {
        "pclbayes --help": ["--help"],
        "pclbayes validate": ["validate"],
        "pclbayes plan oc": ["plan", "oc", "--prior", str(prior_path), "--n", "20",
                             "--threshold", "0.3", "--prob", "0.9", "--true", "0.2,0.4"],
        "pclbayes fit response": fit,
        "pclbayes fit response --method mcmc": [*fit, "--method", "mcmc"],
        "pclbayes fit survival": ["fit", "survival", "--endpoint", "pfs", "--by", "target",
                                  "--json"],
    }


def wall_time(argv: list[str], cache_root: Path) -> float:
    """Seconds from start to exit of ``python argv`` in a new process (empty fit cache)."""
    cache = Path(tempfile.mkdtemp(dir=cache_root))
    env = {**os.environ, "PCLBAYES_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return elapsed


def measure(argv: list[str], repeat: int, cache_root: Path) -> dict[str, float | list[float]]:
    """Median, fastest and slowest of ``repeat`` fresh-process wall times."""
    times = [wall_time(argv, cache_root) for _ in range(repeat)]
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "times": times}


def machine() -> dict[str, object]:
    """CPU count, load average (1, 5, 15 min) and the interpreter."""
    return {"nproc": os.cpu_count(), "load_average": list(os.getloadavg()),
            "python": platform.python_version(), "platform": platform.platform()}


def table(rows: dict[str, dict], base: float, pymc: float) -> str:
    """The results as aligned text."""
    width = max(len(k) for k in rows)
    lines = [f"{'command':<{width}}  {'median s':>8}  {'min s':>6}  {'max s':>6}  "
             f"{'x python':>8}  {'x pymc':>6}"]
    for label, r in rows.items():
        lines.append(f"{label:<{width}}  {r['median']:8.3f}  {r['min']:6.3f}  {r['max']:6.3f}  "
                     f"{r['median'] / base:8.1f}  {r['median'] / pymc:6.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args()
    before = machine()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="pclbayes-bench-") as tmp:
        root = Path(tmp)
        prior_path = root / "flat.json"
        prior_path.write_text(json.dumps(PRIOR))
        for label, argv in BASELINES.items():
            rows[label] = measure(argv, args.repeat, root)
            print(f"{label}: {rows[label]['median']:.3f} s", file=sys.stderr)
        for label, argv in commands(prior_path).items():
            rows[label] = measure(["-m", "pclbayes", *argv], args.repeat, root)
            print(f"{label}: {rows[label]['median']:.3f} s", file=sys.stderr)
    base = rows["python -c pass"]["median"]
    pymc = rows['python -c "import pymc"']["median"]
    for r in rows.values():
        r["ratio_python"] = r["median"] / base
        r["ratio_pymc"] = r["median"] / pymc
    print(table(rows, base, pymc))
    after = machine()
    print(f"\n{before['nproc']} CPUs, Python {before['python']}; load average "
          f"{' '.join(f'{x:.2f}' for x in before['load_average'])} before, "
          f"{' '.join(f'{x:.2f}' for x in after['load_average'])} after")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "startup", "repeat": args.repeat, "baseline": "python -c pass",
        "machine": {**before, "load_average_after": after["load_average"]},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows}, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
