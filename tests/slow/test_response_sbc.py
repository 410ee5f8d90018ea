"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of the response models.

Draw hyperparameters from the prior, simulate cohorts, fit, and record the rank of the true
value among the posterior draws: for a correct sampler and likelihood the ranks are uniform.
The MCMC fits use short chains (ESS below the gate's 400), so the gate's ConvergenceWarning
is expected and silenced here; divergences are still counted and bounded.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pclbayes.errors import ConvergenceWarning
from pclbayes.response import ResponseModel
from pclbayes.sampling import SamplerSettings

pytestmark = pytest.mark.slow

N = np.array([8, 12, 20, 15, 10, 25])
GROUP = np.array(["A", "A", "A", "B", "B", "B"])


def _simulate(rng: np.random.Generator):
    mu = rng.beta(1.0, 1.0, size=2)                 # default prior Beta(1, 1)
    kappa = rng.gamma(2.0, 10.0)                    # default prior Gamma(2, rate 0.1)
    s = (GROUP == "B").astype(int)
    p = rng.beta(mu[s] * kappa, (1 - mu[s]) * kappa)
    r = rng.binomial(N, p)
    frame = pd.DataFrame({"cohort": [f"c{i}" for i in range(len(N))], "n": N, "responders": r,
                          "arm": GROUP})
    return frame, {"mu_A": mu[0], "mu_B": mu[1], "kappa": kappa, "p0": p[0]}


def _ranks(fit, truth, thin: int) -> dict[str, int]:
    post = fit.idata_["posterior"]
    draws = {
        "mu_A": post["pooled_rate"].sel(arm="A").values.ravel()[::thin],
        "mu_B": post["pooled_rate"].sel(arm="B").values.ravel()[::thin],
        "kappa": post["kappa"].values.ravel()[::thin],
        "p0": post["cohort_rate"].sel(cohort="c0/A").values.ravel()[::thin],
    }
    return {k: int(np.sum(v < truth[k])) for k, v in draws.items()}


def _uniformity_pvalue(ranks: np.ndarray, n_ranks: int, bins: int = 10) -> float:
    counts = np.histogram(ranks, bins=bins, range=(0, n_ranks + 1))[0]
    return stats.chisquare(counts).pvalue


def test_sbc_beta_binomial_mcmc() -> None:
    rng = np.random.default_rng(20260321)
    settings = SamplerSettings(draws=400, tune=400, chains=2)
    thin, sims = 8, 200
    ranks: dict[str, list[int]] = {"mu_A": [], "mu_B": [], "kappa": [], "p0": []}
    divergent_fits = 0
    for i in range(sims):
        frame, truth = _simulate(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = ResponseModel(by="arm", method="mcmc", sampler=settings).fit(frame, seed=i)
        divergent_fits += fit.diagnostics_.divergences > 0
        for k, v in _ranks(fit, truth, thin).items():
            ranks[k].append(v)
    n_ranks = 2 * 400 // thin
    for k, v in ranks.items():
        assert _uniformity_pvalue(np.asarray(v), n_ranks) > 0.001 / 4, k
    assert divergent_fits <= 0.02 * sims


def test_sbc_exact_engine() -> None:
    rng = np.random.default_rng(7)
    sims, size = 200, 99
    ranks: dict[str, list[int]] = {"mu_A": [], "mu_B": [], "kappa": [], "p0": []}
    for i in range(sims):
        frame, truth = _simulate(rng)
        fit = ResponseModel(by="arm", method="exact",
                            sampler=SamplerSettings(draws=size, chains=1)).fit(frame, seed=i)
        for k, v in _ranks(fit, truth, 1).items():
            ranks[k].append(v)
    for k, v in ranks.items():
        assert _uniformity_pvalue(np.asarray(v), size) > 0.001 / 4, k
