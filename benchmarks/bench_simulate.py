"""Throughput of ``pclbayes simulate``: the same small study serially, on 2 processes, on Dask.

Run with ``python benchmarks/bench_simulate.py [--study survival_single_arm]
[--replicates 8] [--workers 2]``. The study is a bundled one (``studies/<name>.toml``) with
its ``replicates`` lowered, or ``--study toy`` for the test suite's beta-binomial toy. It is
run three times into fresh stores:

* serial (this process),
* ``--workers`` local processes,
* a local Dask cluster of ``--workers`` single-threaded workers (started and closed here).

For each it prints the wall time (start-up of the workers, preparing the study and every
task), the throughput :math:`T = \\text{tasks} / \\text{wall}` and its ratio to serial, and
checks that the three stores hold identical rows (``results(timing=False)``, compared as
CSV text). The per-task cost :math:`c` is the mean of the stored ``seconds`` (the time of
``run_task`` alone) of the serial run; the extrapolation to 100,000 tasks on :math:`N`
machines of :math:`W` workers each is

.. math:: t(N) \\approx \\frac{100{,}000\\,c}{N W e} + s,

with :math:`e` the parallel efficiency measured on Dask here (the serial run's work
divided by :math:`W` over the Dask wall time after the cluster is up; it includes each
worker preparing the study and the scheduling overhead) and :math:`s` the measured
start-up of the cluster. Results, with the machine (CPUs, load average), are written to
``benchmarks/results/simulate.json``. The machine's load changes wall times; compare
ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "simulate.json"
TOY_DIR = ROOT / "tests" / "unit"
EXTRAPOLATE_TASKS = 100_000


def load(name: str, replicates: int):
    """The study to time: a bundled spec with fewer replicates, or the toy."""
    from pclbayes.simulate.spec import bundled_studies, study_from_spec

    if name == "toy":
        sys.path.insert(0, str(TOY_DIR))
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(TOY_DIR), os.environ.get("PYTHONPATH", "")])
        from simulate_toy import TOY_KIND

        raw = {"study": {"kind": TOY_KIND, "name": "toy", "title": "toy", "seed": 1,
                         "replicates": replicates},
               "grid": {"true_rate": [0.2, 0.4, 0.6]}, "toy": {"n": 20}}
        return study_from_spec(raw, None)
    path = bundled_studies()[name]
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    raw["study"]["replicates"] = replicates
    return study_from_spec(raw, path)


def timed(study, executor, root: Path, label: str):
    from pclbayes.simulate.runner import run_study
    from pclbayes.simulate.store import ResultStore

    started: list[float] = []
    start_workers = executor.start

    def start_and_time(*args):
        t0 = time.perf_counter()
        start_workers(*args)
        started.append(time.perf_counter() - t0)

    executor.start = start_and_time
    start = time.perf_counter()
    result = run_study(study, root / label, executor=executor)
    wall = time.perf_counter() - start
    store = ResultStore.open(root / label)
    rows = store.results()
    return {"label": label, "executor": result.executor, "tasks": result.ran,
            "errors": result.errors, "wall_seconds": wall, "start_seconds": started[0],
            "task_seconds_mean": float(rows["seconds"].mean()),
            "task_seconds_sum": float(rows["seconds"].sum()),
            "throughput": result.ran / wall}, store.results(timing=False).to_csv()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="survival_single_arm",
                        help="bundled study name, or 'toy' (default survival_single_arm)")
    parser.add_argument("--replicates", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON file")
    args = parser.parse_args()

    from pclbayes._files import atomic_write_text
    from pclbayes.simulate.executors import DaskExecutor, ProcessExecutor, SerialExecutor

    study = load(args.study, args.replicates)
    tasks = len(study.scenarios()) * args.replicates
    load_before = os.getloadavg()
    print(f"study {study.spec['study']['name']} ({study.spec['study']['kind']}): {tasks} tasks "
          f"({len(study.scenarios())} scenarios x {args.replicates} replicates); "
          f"{os.cpu_count()} CPUs, load {load_before[0]:.1f}")
    runs, tables = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, executor in (("serial", SerialExecutor()),
                                ("processes", ProcessExecutor(args.workers)),
                                ("dask", DaskExecutor(local_workers=args.workers))):
            run, table = timed(study, executor, Path(tmp), label)
            runs.append(run)
            tables.append(table)
    serial = runs[0]
    identical = all(t == tables[0] for t in tables)
    print(f"{'executor':<28}{'wall s':>9}{'tasks/s':>10}{'x serial':>10}")
    for run in runs:
        run["ratio_to_serial"] = run["throughput"] / serial["throughput"]
        print(f"{run['executor']:<28}{run['wall_seconds']:>9.2f}{run['throughput']:>10.2f}"
              f"{run['ratio_to_serial']:>10.2f}")
    print(f"identical rows on all three executors: {'yes' if identical else 'NO'}")
    cost = serial["task_seconds_mean"]
    dask = runs[2]
    workers = args.workers
    startup = dask["start_seconds"]
    # steady state: serial work per worker over the wall time after the cluster is up
    efficiency = (serial["task_seconds_sum"] / workers) / max(
        dask["wall_seconds"] - startup, 1e-9)
    print(f"per-task cost (run_task alone, serial): {cost * 1000:.1f} ms; per-task wall "
          f"serially, with the study's preparation: {serial['wall_seconds'] / tasks * 1000:.1f}"
          f" ms; Dask parallel efficiency on {workers} workers: {efficiency:.2f}; "
          f"cluster start-up about {startup:.1f} s")
    lines = {}
    for machines in (1, 10, 100):
        seconds = EXTRAPOLATE_TASKS * cost / (machines * workers * max(efficiency, 1e-3))
        seconds += startup
        lines[str(machines)] = seconds
        print(f"extrapolation: {EXTRAPOLATE_TASKS:,} tasks on {machines} machine(s) of "
              f"{workers} workers: about {seconds / 3600:.2f} h")
    if not args.no_write:
        payload = {
            "benchmark": "simulate",
            "study": study.spec["study"]["name"], "kind": study.spec["study"]["kind"],
            "tasks": tasks, "workers": workers,
            "machine": {"nproc": os.cpu_count(), "load_average": list(load_before),
                        "load_average_after": list(os.getloadavg()),
                        "python": platform.python_version(), "platform": platform.platform()},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "identical": identical, "per_task_seconds": cost,
            "dask_efficiency": efficiency, "dask_startup_seconds": startup,
            "runs": runs,
            "extrapolation_100000_tasks_seconds_by_machines": lines,
        }
        atomic_write_text(RESULTS, json.dumps(payload, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
