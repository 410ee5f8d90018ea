"""Exact operating characteristics vs a per-trial simulation baseline, timed in one run.

Run with ``python benchmarks/bench_oc.py``. The exact method evaluates the success indicator
once for r = 0..n and multiplies it by a (rates x responders) binomial pmf matrix. The
baselines simulate 10,000 trials per true rate in a Python loop over rates:

* "simulation": the posterior probability of every simulated trial is computed (vectorised
  over the trials of one rate, nothing cached across rates);
* "scalar loop": one posterior per simulated trial in a plain Python loop; timed on a subset
  of trials and scaled up to the full 100 x 10,000 (reported as an extrapolation).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pclbayes.planning import (
    BetaMixture,
    decision_rule,
    operating_characteristics,
    posterior,
    posterior_prob,
    robustify,
)

PRIOR = robustify(
    BetaMixture([0.46, 0.19, 0.19, 0.16], [33.95, 19.44, 12.27, 2.25], [103.0, 41.5, 55.9, 5.48]),
    weight=0.2,
    mean=0.5,
)
RULE = decision_rule(0.2, 0.9)
RATES = np.linspace(0.01, 0.99, 100)
N_SIM = 10_000


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def simulation_oc(n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(RATES.size)
    for i, rate in enumerate(RATES):
        r = rng.binomial(n, rate, size=N_SIM)
        prob = posterior_prob(PRIOR, r, n, RULE.criteria[0].threshold)
        out[i] = np.mean(prob > RULE.criteria[0].prob)
    return out


def scalar_loop_seconds(n: int, rng: np.random.Generator, trials: int = 300) -> float:
    r = rng.binomial(n, 0.3, size=trials)
    t0 = time.perf_counter()
    for ri in r:
        _ = posterior(PRIOR, int(ri), n).sf(0.2) > 0.9
    per_trial = (time.perf_counter() - t0) / trials
    return per_trial * N_SIM * RATES.size


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import machine

    before = machine()
    rng = np.random.default_rng(2024)
    print(f"Exact OC on {RATES.size} true rates, prior with {PRIOR.n_components} components")
    for n in (24, 50, 100, 200):
        t = best_time(lambda n=n: operating_characteristics(PRIOR, n, RULE, RATES))
        print(f"  n = {n:3d}: exact {1e3 * t:7.2f} ms")
    n = 200
    exact_t = best_time(lambda: operating_characteristics(PRIOR, n, RULE, RATES))
    exact = operating_characteristics(PRIOR, n, RULE, RATES).prob_success
    t0 = time.perf_counter()
    sim = simulation_oc(n, rng)
    sim_t = time.perf_counter() - t0
    max_se = np.sqrt(0.25 / N_SIM)
    print(f"\nn = {n}, {N_SIM} simulated trials per rate:")
    print(f"  exact                    {1e3 * exact_t:9.2f} ms")
    print(f"  simulation (per rate)    {1e3 * sim_t:9.2f} ms   ratio {sim_t / exact_t:8.1f}x")
    loop_t = scalar_loop_seconds(n, rng)
    print(f"  scalar loop (extrapol.)  {1e3 * loop_t:9.0f} ms   ratio {loop_t / exact_t:8.0f}x")
    dev = np.max(np.abs(sim - exact))
    print(f"  max |simulation - exact| = {dev:.4f} (MC standard error <= {max_se:.4f})")
    print(f"  exact under 50 ms: {exact_t < 0.05}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import write

    base = f"simulated OC, {N_SIM:,} trials x {RATES.size} rates (n = {n})"
    path = write("oc", baseline=base, repeat=5, before=before, results={
        base: {"median": sim_t, "max_abs_difference": float(dev), "mc_se_max": max_se},
        f"exact OC, {RATES.size} rates (n = {n}), in process": {"median": exact_t},
        f"scalar loop, one posterior per trial (n = {n}, extrapolated)": {"median": loop_t},
    }, note="in-process seconds (best of 5 for the exact method)")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
