"""Benchmark of the response models against a naive PyMC model, measured in the same run.

Baseline: the textbook hierarchical model, centred and not marginalised,

    mu_s ~ Beta(1, 1), kappa ~ Gamma(2, 0.1), p_j ~ Beta(mu kappa, (1 - mu) kappa),
    r_j ~ Binomial(n_j, p_j),

sampled with ``pm.sample()`` and its defaults ("the default PyMC sampler"). Since PyMC 6,
``pm.sample()`` runs nutpie whenever nutpie is installed (as here) and compiles the model on
every call; the table says which sampler actually ran. A second baseline row forces PyMC's
own NUTS (``nuts_sampler="pymc"``, one process per chain, two at a time on 2 cores).
Every case draws 4 chains x 1000 draws after 1000 tuning steps (target_accept 0.9) from the
bundled data (default: ORR by target, the 15/15 case).

* cold: the first fit in a fresh Python process (imports done; compilation included);
* warm: the median of three further fits in that process (what a user re-running an analysis,
  a prior sensitivity analysis or a simulation study sees).

Ratios are case time / baseline time of the same kind (cold/cold, warm/warm): below 1 is
faster. ``ESS/s`` is the smallest bulk ESS over the hyperparameters per warm second.

Scale (``--scale``, also printed after the table): the exact engine on 30 / 300 / 3,000 /
30,000 simulated cohorts (5-40 patients each, ``by="none"``): the grid posterior, the pooled
rate, kappa, the new-cohort rate and every cohort's rate (mean, SD, 95% interval). Wall and
CPU seconds (best of three), the ratio to the 30-cohort time of the same run, and the peak
memory that Python allocates meanwhile (``tracemalloc``, a separate run).

Run:  python benchmarks/bench_response.py [--endpoint orr|cr] [--by target] [--json] [--scale]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

CASES = {
    "naive-centred/default": "baseline: centred, non-marginalised, pm.sample() defaults",
    "naive-centred/pymc": "the same with PyMC's own NUTS",
    "beta-binomial/nutpie": "pclbayes default (marginalised, cached nutpie compile)",
    "beta-binomial/pymc": "pclbayes beta-binomial with PyMC's NUTS",
    "logit-normal/nutpie": "pclbayes logit-normal (non-centred), nutpie",
    "logit-normal/pymc": "pclbayes logit-normal with PyMC's NUTS",
    "beta-binomial/exact": "pclbayes exact engine (numerical integration)",
}


def _naive_fit(eb, endpoint: str, by: str, seed: int, sampler: str) -> dict:
    import arviz as az
    import numpy as np
    import pymc as pm

    from pclbayes.response.counts import prepare

    d = prepare(eb, endpoint=endpoint, by=by)
    coords = {"stratum": list(d.strata), "cohort": list(d.units)}
    with pm.Model(coords=coords):
        mu = pm.Beta("mu", 1.0, 1.0, dims="stratum")
        kappa = pm.Gamma("kappa", alpha=2.0, beta=0.1)
        s = d.stratum_index
        p = pm.Beta("p", mu[s] * kappa, (1 - mu[s]) * kappa, dims="cohort")
        pm.Binomial("y", n=d.n, p=p, observed=d.r, dims="cohort")
        extra = {} if sampler == "default" else {"nuts_sampler": sampler}
        idata = pm.sample(draws=1000, tune=1000, chains=4, target_accept=0.9,
                          random_seed=seed, progressbar=False, **extra)
    ess = az.ess(idata["posterior"].to_dataset()[["mu", "kappa"]], method="bulk")
    return {"divergences": int(np.asarray(idata["sample_stats"]["diverging"]).sum()),
            "min_ess": float(min(float(ess[v].min()) for v in ess.data_vars)),
            "ran": idata["sample_stats"].attrs.get("inference_library", "?")}


def _pclbayes_fit(eb, endpoint: str, by: str, case: str, seed: int) -> dict:
    from pclbayes.errors import ConvergenceWarning
    from pclbayes.response import ResponseModel
    from pclbayes.sampling import SamplerSettings

    model, engine = case.split("/")
    method = "exact" if engine == "exact" else "mcmc"
    sampler = SamplerSettings(sampler="nutpie" if engine == "exact" else engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported in the table instead
        fit = ResponseModel(endpoint=endpoint, by=by, model=model, method=method,
                            sampler=sampler).fit(eb, seed=seed)
    d = fit.diagnostics_
    ran = "exact" if method == "exact" else fit.idata_["sample_stats"].attrs.get(
        "inference_library", "?")
    return {"divergences": d.divergences,
            "min_ess": None if method == "exact" else float(d.min_ess_bulk), "ran": ran}


def worker(case: str, endpoint: str, by: str, repeats: int) -> dict:
    """Time one case: a cold fit, then ``repeats`` warm fits (run in a fresh process)."""
    import logging

    from pclbayes.data import load

    logging.getLogger("pymc").setLevel(logging.ERROR)
    eb = load()

    def once(seed: int) -> tuple[float, dict]:
        start = time.perf_counter()
        if case.startswith("naive"):
            info = _naive_fit(eb, endpoint, by, seed, case.split("/")[1])
        else:
            info = _pclbayes_fit(eb, endpoint, by, case, seed)
        return time.perf_counter() - start, info

    cold, info = once(1)
    warm = [once(seed)[0] for seed in range(2, 2 + repeats)]
    return {"case": case, "cold": cold, "warm": statistics.median(warm), **info}


SCALE_SIZES = (30, 300, 3000, 30000)


def _simulated_counts(m: int, seed: int = 1):
    """``m`` cohorts of 5-40 patients, rates from Beta(10.5, 4.5) (mean 0.7, kappa 15)."""
    import numpy as np
    import pandas as pd

    from pclbayes.response.counts import from_frame

    rng = np.random.default_rng(seed)
    n = rng.integers(5, 41, size=m)
    r = rng.binomial(n, rng.beta(0.7 * 15, 0.3 * 15, size=m))
    frame = pd.DataFrame({"cohort": [f"c{i}" for i in range(m)], "n": n, "responders": r})
    return from_frame(frame, endpoint="x", by="none", source="simulated")


def _exact_engine(counts, priors) -> None:
    """Every number the exact engine reports for one stratum, and every cohort's rate."""
    from pclbayes.response.exact import fit_exact

    ex = fit_exact(counts, priors)
    ex.mu_summary(0)
    ex.kappa_summary(0)
    ex.predictive_summary(0)
    ex.cohort_summaries()


def scale_worker(sizes: tuple[int, ...], repeats: int = 3) -> list[dict]:
    """Time and measure the exact engine at each number of cohorts (in one process)."""
    import tracemalloc

    import numpy as np

    from pclbayes.response.defaults import default_priors

    priors = default_priors("beta-binomial")
    _exact_engine(_simulated_counts(30), priors)          # imports and first calls
    out = []
    for m in sizes:
        counts = _simulated_counts(m)
        wall, cpu = [], []
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            _exact_engine(counts, priors)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        tracemalloc.start()
        _exact_engine(counts, priors)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        distinct = len(np.unique(np.stack([counts.n, counts.r], axis=1), axis=0))
        out.append({"cohorts": m, "distinct": distinct, "wall": min(wall), "cpu": min(cpu),
                    "peak_mb": peak / 2**20})
    for r in out:
        r["wall_ratio"] = r["wall"] / out[0]["wall"]
    return out


FULL_FIT_SIZES = (30, 300, 3000)


def full_fit_worker(sizes: tuple[int, ...] = FULL_FIT_SIZES) -> list[dict]:
    """Time the whole ``ResponseModel(by="none").fit`` (default engine) and its summary.

    Everything a user waits for: the grid posterior, 4,000 draws of every cohort's rate,
    prediction and log-likelihood, the prior draws, the DataTree and the summary table
    (one run per size, in one process after a 30-cohort warm-up).
    """
    import resource

    import numpy as np
    import pandas as pd

    from pclbayes.response import ResponseModel

    def frame(m: int) -> pd.DataFrame:
        rng = np.random.default_rng(1)
        n = rng.integers(5, 41, size=m)
        r = rng.binomial(n, rng.beta(0.7 * 15, 0.3 * 15, size=m))
        return pd.DataFrame({"cohort": [f"c{i}" for i in range(m)], "n": n, "responders": r})

    ResponseModel(by="none").fit(frame(30), seed=1).summary()
    out = []
    for m in sizes:
        data = frame(m)
        w0, c0 = time.perf_counter(), time.process_time()
        fit = ResponseModel(by="none").fit(data, seed=1)
        fit.summary()
        out.append({"cohorts": m, "wall": time.perf_counter() - w0,
                    "cpu": time.process_time() - c0,
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return out


def print_scale(rows: list[dict]) -> None:
    """The scale table."""
    print("\nexact engine vs number of cohorts (5-40 patients each, by none); "
          f"ratios vs {rows[0]['cohorts']} cohorts in this run")
    head = (f"{'cohorts':>8}{'distinct':>10}{'wall s':>9}{'cpu s':>9}{'x 30':>7}"
            f"{'peak MB':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['cohorts']:>8}{r['distinct']:>10}{r['wall']:>9.3f}{r['cpu']:>9.3f}"
              f"{r['wall_ratio']:>7.2f}{r['peak_mb']:>9.1f}")


def _results():
    """``benchmarks/_results.py`` (beside this file)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _results

    return _results


def run_scale(as_json: bool) -> list[dict]:
    """The scale section in a fresh process; written to ``results/response_scale.json``."""
    before = _results().machine()
    out = subprocess.run([sys.executable, __file__, "--scale-worker"], capture_output=True,
                         text=True, check=True)
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    if not as_json:
        print_scale(rows)
    full = subprocess.run([sys.executable, __file__, "--full-fit-worker"], capture_output=True,
                          text=True, check=True)
    full_rows = json.loads(full.stdout.strip().splitlines()[-1])
    if not as_json:
        print("\nwhole fit (default engine: draws, DataTree, summary), by none")
        for r in full_rows:
            print(f"{r['cohorts']:>8} cohorts {r['wall']:>8.2f} s wall {r['cpu']:>8.2f} s cpu "
                  f"{r['peak_rss_mb']:>8.0f} MB peak RSS")
    label = "exact engine, {:,} cohorts (in process)".format
    whole = "whole fit and summary, {:,} cohorts (in process)".format
    results = {label(r["cohorts"]): {"median": r["wall"], **r} for r in rows}
    results.update({whole(r["cohorts"]): {"median": r["wall"], **r} for r in full_rows})
    _results().write(
        "response_scale", baseline=label(rows[0]["cohorts"]), repeat=3, before=before,
        results=results,
        note="engine rows: best of three, every number of the summary; whole-fit rows: one "
             "run, with 4,000 draws of every cohort's rate, prediction and log-likelihood")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="orr")
    parser.add_argument("--by", default="target")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--scale", action="store_true",
                        help="only the exact engine's scale section")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--scale-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--full-fit-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.endpoint, args.by, args.repeats)))
        return 0
    if args.scale_worker:
        print(json.dumps(scale_worker(SCALE_SIZES)))
        return 0
    if args.full_fit_worker:
        print(json.dumps(full_fit_worker()))
        return 0
    if args.scale:
        rows = run_scale(args.json)
        if args.json:
            print(json.dumps(rows, indent=2))
        return 0
    before = _results().machine()
    results = []
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", case, "--endpoint", args.endpoint, "--by",
             args.by, "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = results[0]
    for r in results:
        r["cold_ratio"] = r["cold"] / base["cold"]
        r["warm_ratio"] = r["warm"] / base["warm"]
        r["ess_per_s"] = None if r["min_ess"] is None else r["min_ess"] / r["warm"]
    label = f"{args.endpoint.upper()} by {args.by}, first fit in a process: {{}}".format
    _results().write(
        "response", baseline=label(base["case"]), repeat=1, before=before,
        results={label(r["case"]): {"median": r["cold"], **r} for r in results},
        note=f"cold = first fit of a fresh process (compile included, imports excluded); "
             f"warm = median of {args.repeats} further fits")
    if args.json:
        print(json.dumps({"cases": results, "scale": run_scale(True)}, indent=2))
        return 0
    print(f"response models, {args.endpoint.upper()} by {args.by}, bundled data; "
          "4 chains x 1000 draws (+1000 tuning); ratios vs the baseline in this run")
    head = (f"{'case':<23}{'ran':<8}{'cold s':>8}{'x base':>8}{'warm s':>8}{'x base':>8}"
            f"{'div':>5}{'min ESS':>9}{'ESS/s':>8}")
    print(head)
    print("-" * len(head))
    for r in results:
        ess = "-" if r["min_ess"] is None else f"{r['min_ess']:.0f}"
        eps = "-" if r["ess_per_s"] is None else f"{r['ess_per_s']:.0f}"
        print(f"{r['case']:<23}{r['ran']:<8}{r['cold']:>8.2f}{r['cold_ratio']:>8.2f}{r['warm']:>8.2f}"
              f"{r['warm_ratio']:>8.3f}{r['divergences']:>5}{ess:>9}{eps:>8}")
    run_scale(False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
