"""Benchmark of the Weibull survival fit.

1. Bundled data: cold and warm fit times of ``SurvivalModel`` (exact censored likelihood,
   nutpie, compiled-model cache) as ratios against a naive baseline measured in the same
   run: ``pm.Censored(pm.Weibull)`` with the same linear predictor, sampled by PyMC's
   default NUTS. Each method runs in a fresh subprocess: "cold" is its first fit there
   (compilation included, imports excluded), "warm" its second fit of the same model.
2. Scaling: fit time against the number of simulated patients (15, 1,500 and, with
   ``--large``, 150,000; 3 cohorts) and of cohorts (3, 30 and, with ``--large``, 300;
   1,500 patients). A fifth of the patients get a
   target-switched second episode; about 30% of episodes are censored. The 150,000-patient
   fits run once (cold only: compile + sampling).

3. Scale (``--scale``): one fit per size (1,500, 15,000 and 150,000 patients; 3 cohorts, a
   2-level ``arm`` column, single episodes, ``by="arm"``, 2 chains x 500 draws), each in a
   fresh subprocess, with the wall time split into compile (nutpie/numba, once per process),
   sample and post-process (everything else in ``fit`` plus the KM, PPC and cohort-check
   tables), the peak resident memory of the process, the peak traced (numpy) memory of the
   post-processing, and every time as a ratio to the 1,500-patient run of the same
   invocation. On 2 shared cores (warm numba cache), 1,500 / 15,000 / 150,000 patients:
   compile 10 / 14 / 21 s, sample 1.8 / 4.2 / 37 s, rest of the fit 1.7 / 6.1 / 24 s, KM,
   PPC and summary tables 0.8 / 1.7 / 3.7 s, peak RSS 0.6 / 0.8 / 1.2 GB (the cohort-check
   table, ``--tables ...,check_table``, is not included in these numbers).

Run ``python benchmarks/bench_survival.py [--large] [--json]`` (2 cores: a few minutes
without ``--large``) or ``python benchmarks/bench_survival.py --scale [--sizes 1500 15000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

DRAWS = dict(draws=1000, tune=1000, chains=4)

_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {bench_dir!r})
import bench_survival as b
method, n_pat, n_coh, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
labels = ("cold", "warm") if sys.argv[5] == "2" else ("cold",)
data = None if n_pat == 0 else b.simulate(n_pat, n_coh, seed)
fit = b.fit_ours if method == "pclbayes" else b.fit_naive
out = {{"warm": float("nan")}}
for label in labels:
    t0 = time.perf_counter()
    info = fit(data, seed)
    out[label] = time.perf_counter() - t0
    out[label + "_info"] = info
print(json.dumps(out))
"""


SCALE_SIZES = (1_500, 15_000, 150_000)
SCALE_DRAWS = dict(draws=500, tune=500, chains=2)

_SCALE_CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {bench_dir!r})
import bench_survival as b
tables = tuple(t for t in sys.argv[3].split(",") if t)
print(json.dumps(b.timed_scale_fit(int(sys.argv[1]), int(sys.argv[2]), tables)))
"""


def simulate_arms(n_patients: int, seed: int) -> pd.DataFrame:
    """Single episodes in 3 cohorts (log medians +0, +0.2, -0.15) with a 2-level ``arm``.

    Weibull shape 1.3, median 8 months (x exp(0.3) in arm ``trt``), exponential censoring
    with mean 30 months (about 20% censored).
    """
    rng = np.random.default_rng(seed)
    cohort = rng.integers(0, 3, n_patients)
    arm = rng.choice(["ctrl", "trt"], n_patients)
    eta = np.log(8.0) + 0.3 * (arm == "trt") + np.array([0.0, 0.2, -0.15])[cohort]
    t = np.exp(eta) * (rng.exponential(size=n_patients) / np.log(2.0)) ** (1 / 1.3)
    c = rng.exponential(30.0, n_patients)
    return pd.DataFrame({"cohort": [f"c{i}" for i in cohort], "arm": arm,
                         "time": np.minimum(t, c), "event": (t <= c).astype(int)})


SCALE_TABLES = ("km_table", "ppc_table", "check_table", "summary")


def timed_scale_fit(n_patients: int, seed: int, tables: tuple[str, ...] = SCALE_TABLES) -> dict:
    """One fit of :func:`simulate_arms` data, timed by phase (run in a fresh process).

    ``post_s`` is the rest of ``fit`` after sampling; every table in ``tables`` is timed on
    its own (``<table>_s``; an error is recorded as ``<table>_error``), and ``tables_s`` is
    their sum. Traced memory (tracemalloc, numpy included) is measured from the end of
    sampling: ``post_traced_mb`` for the rest of the fit, ``<table>_mb`` per table.
    """
    import resource
    import tracemalloc

    import pclbayes.nuts as nuts
    from pclbayes.sampling import SamplerSettings
    from pclbayes.survival import SurvivalModel

    phases: dict = {"compile_s": 0.0, "sample_s": 0.0}
    compiled, run = nuts._compiled, nuts.run_nuts  # SurvivalModel.fit imports run_nuts

    def timed_compile(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return compiled(*args, **kwargs)
        finally:
            phases["compile_s"] += time.perf_counter() - t0

    def timed_run(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            phases["sample_s"] += time.perf_counter() - t0
            tracemalloc.start()

    nuts._compiled, nuts.run_nuts = timed_compile, timed_run
    data = simulate_arms(n_patients, seed)
    t0 = time.perf_counter()
    m = SurvivalModel(by="arm", sampler=SamplerSettings(**SCALE_DRAWS)).fit(data, seed=seed)
    fit_s = time.perf_counter() - t0
    phases["sample_s"] -= phases["compile_s"]
    phases["post_s"] = fit_s - phases["sample_s"] - phases["compile_s"]
    phases["post_traced_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    phases["tables_s"] = 0.0
    for name in tables:
        tracemalloc.reset_peak()
        t1 = time.perf_counter()
        try:
            getattr(m, name)()
        except Exception as exc:  # recorded, so that the other phases are still reported
            phases[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
        phases[f"{name}_s"] = time.perf_counter() - t1
        phases[f"{name}_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        phases["tables_s"] += phases[f"{name}_s"]
    tracemalloc.stop()
    d = m.diagnostics_
    return {"patients": n_patients, **phases, "total_s": fit_s + phases["tables_s"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "centred": m.design_.cohort_centred, "divergences": d.divergences,
            "max_rhat": round(float(d.max_rhat), 4), "min_ess_bulk": int(d.min_ess_bulk)}


def run_scale(sizes: tuple[int, ...], seed: int,
              tables: tuple[str, ...] = SCALE_TABLES) -> pd.DataFrame:
    """The scale table: one subprocess per size, ratios to the first (smallest) size."""
    code = _SCALE_CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for n in sizes:
        res = subprocess.run([sys.executable, "-c", code, str(n), str(seed), ",".join(tables)],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"scale fit ({n} patients) failed:\n{res.stderr[-2000:]}")
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"  done: {rows[-1]}", flush=True)
    table = pd.DataFrame(rows)
    for col in ("compile_s", "sample_s", "post_s", "tables_s", "total_s"):
        table[col.replace("_s", "_ratio")] = table[col] / table[col].iloc[0]
    return table


def simulate(n_patients: int, n_cohorts: int, seed: int) -> pd.DataFrame:
    """Simulated episodes: Weibull (shape 1.4), two targets, 20% re-infused, ~30% censored."""
    from pclbayes.survival.weibull import draw_times

    rng = np.random.default_rng(seed)
    cohort = rng.integers(0, n_cohorts, n_patients)
    target = rng.choice(["BCMA", "GPRC5D"], n_patients, p=[0.6, 0.4])
    pcl = rng.choice(["primary", "secondary", None], n_patients, p=[0.45, 0.45, 0.1])
    second = rng.random(n_patients) < 0.2
    u = rng.normal(0.0, 0.3, n_cohorts)
    rows = {"cohort": [], "patient_id": [], "episode": [], "strategy": [], "target": [],
            "pcl_type": []}
    for p in range(n_patients):
        for ep in (1, 2) if second[p] else (1,):
            rows["cohort"].append(f"c{cohort[p]}")
            rows["patient_id"].append(str(p))
            rows["episode"].append(ep)
            rows["strategy"].append("first" if ep == 1 else "switch")
            tgt = target[p] if ep == 1 else ("GPRC5D" if target[p] == "BCMA" else "BCMA")
            rows["target"].append(tgt)
            rows["pcl_type"].append(pcl[p])
    df = pd.DataFrame(rows)
    eta = (np.log(8.0) + np.log(0.7) * (df["target"] == "GPRC5D")
           + np.log(1.2) * (df["strategy"] == "switch")
           + u[df["cohort"].str[1:].astype(int)]).to_numpy()
    cluster = pd.factorize(df["patient_id"])[0]
    t = draw_times(eta, np.full(eta.size, 1.4), 0.3, cluster, rng)
    c = rng.exponential(30.0, t.size)
    df["time"] = np.minimum(t, c)
    df["event"] = (t <= c).astype(int)
    return df


def fit_ours(data, seed: int) -> dict:
    """Fit ``SurvivalModel`` (defaults, by target)."""
    from pclbayes.sampling import SamplerSettings
    from pclbayes.survival import SurvivalModel

    settings = SamplerSettings(**DRAWS, target_accept=0.99)
    m = SurvivalModel(by="target", sampler=settings).fit(data, seed=seed)
    d = m.diagnostics_
    return {"divergences": d.divergences, "max_rhat": round(float(d.max_rhat), 4),
            "min_ess_bulk": int(d.min_ess_bulk), "centred": m.design_.cohort_centred}


def fit_naive(data, seed: int) -> dict:
    """The naive baseline: pm.Censored(pm.Weibull), no frailty, PyMC's default NUTS."""
    import pymc as pm

    from pclbayes.survival.data import prepare_data
    from pclbayes.survival.design import build_design

    d = build_design(prepare_data(data).table, by="target", frailty="none",
                     cohort_parametrisation="noncentred")
    times = np.exp(d.log_t)
    with pm.Model(coords={"term": d.term_labels, "cohort": d.cohorts}):
        mu = pm.Normal("log_median", 1.8, 1.2)
        beta = pm.Normal("beta", 0, 1, dims="term")
        sigma = pm.HalfNormal("sigma_cohort", 0.5)
        z = pm.Normal("z_cohort", 0, 1, dims="cohort")
        k = pm.LogNormal("shape", 0, 0.5)
        eta = mu + pm.math.dot(d.X, beta) + (sigma * z)[d.cohort_index]
        scale = pm.math.exp(eta) / np.log(2) ** (1 / k)
        pm.Censored("time", pm.Weibull.dist(alpha=k, beta=scale), lower=None,
                    upper=np.where(d.event == 1, np.inf, times), observed=times)
        idata = pm.sample(**DRAWS, target_accept=0.99, random_seed=seed, cores=2,
                          progressbar=False, nuts_sampler="pymc")
    return {"divergences": int(idata["sample_stats"]["diverging"].sum())}


def _child(method: str, n_pat: int, n_coh: int, seed: int, fits: int = 2) -> dict:
    code = _CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run([sys.executable, "-c", code, method, str(n_pat), str(n_coh), str(seed),
                          str(fits)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{method} ({n_pat} patients) failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true",
                        help="also 150,000 patients and 300 cohorts (long)")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="only the scaling table")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", action="store_true",
                        help="only the scale section (compile / sample / post-process split)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SCALE_SIZES),
                        help="patients per scale fit (the first is the ratio's reference)")
    parser.add_argument("--tables", default=",".join(SCALE_TABLES),
                        help="comma-separated tables timed after each scale fit")
    args = parser.parse_args(argv)
    results: dict = {"draws": DRAWS, "cores": os.cpu_count()}
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _results

    before = _results.machine()
    if args.scale:
        table = run_scale(tuple(args.sizes), args.seed, tuple(args.tables.split(",")))
        results["scale"] = table.to_dict("records")
        label = "Weibull fit and tables, {:,} patients (fresh process)".format
        rows = {label(r["patients"]): {"median": r["total_s"], **r}
                for r in results["scale"]}
        _results.write("survival_scale", baseline=label(int(table["patients"].iloc[0])),
                       repeat=1, before=before, results=rows,
                       note=f"{SCALE_DRAWS}; the fit (compile included) and its tables")
        print(f"\nScale (simulated, 3 cohorts, by arm; {SCALE_DRAWS}), seconds and MB:")
        shown = [c for c in table.columns if c.endswith(("_s", "_ratio", "_mb"))
                 or c in ("patients", "divergences", "max_rhat")]
        print(table[shown].T.to_string(float_format=lambda v: f"{v:.2f}"))
        if args.json:
            print(json.dumps(results, indent=2, default=str))
        return 0

    if not args.skip_baseline:
        ours = _child("pclbayes", 0, 0, args.seed)
        naive = _child("naive", 0, 0, args.seed)
        results["bundled"] = {"pclbayes": ours, "naive": naive}
        print("Bundled data (20 episodes, 3 cohorts), 4 chains x 1000 draws, seconds:")
        print(f"  {'':<34}{'cold':>8}{'warm':>8}")
        print(f"  {'pclbayes (exact loglik, nutpie)':<34}{ours['cold']:>8.2f}{ours['warm']:>8.2f}")
        print(f"  {'naive (pm.Censored, PyMC NUTS)':<34}{naive['cold']:>8.2f}"
              f"{naive['warm']:>8.2f}")
        print(f"  {'ratio pclbayes / naive':<34}{ours['cold'] / naive['cold']:>8.2f}"
              f"{ours['warm'] / naive['warm']:>8.2f}")
        print(f"  pclbayes diagnostics: {ours['warm_info']}; naive divergences: "
              f"{naive['warm_info']['divergences']}")
        base = "PFS by target, first fit in a process: naive pm.Censored, PyMC NUTS"
        _results.write("survival", baseline=base, repeat=1, before=before, results={
            base: {"median": naive["cold"], "warm": naive["warm"]},
            "PFS by target, first fit in a process: pclbayes": {
                "median": ours["cold"], "warm": ours["warm"]},
        }, note="cold = first fit of a fresh process (compile included, imports excluded)")

    sizes = [(15, 3), (1500, 3), (1500, 30)]
    if args.large:  # 150,000 patients take about 25 minutes on 2 cores
        sizes += [(1500, 300), (150_000, 3)]
    rows = []
    for n_pat, n_coh in sizes:
        start = time.perf_counter()
        # the largest sizes are fitted once (cold); warm fits only for the smaller ones
        r = _child("pclbayes", n_pat, n_coh, args.seed, fits=1 if n_pat > 10_000 else 2)
        info = r.get("warm_info", r["cold_info"])
        rows.append({"patients": n_pat, "cohorts": n_coh, "cold_s": r["cold"],
                     "warm_s": r["warm"], **info,
                     "wall_s": time.perf_counter() - start})
        print(f"  done: {rows[-1]}", flush=True)
    table = pd.DataFrame(rows)
    results["scaling"] = table.to_dict("records")
    print("\nScaling (simulated; pclbayes, 4 chains x 1000 draws), seconds:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
