"""Logit-normal model (NUTS, non-centred) against brute-force numerical integration.

The reference integrates the cohort effects out of the binomial likelihood with 40-point
Gauss-Hermite quadrature and the two hyperparameters (intercept, sigma) on a fine grid,
independently of PyMC, nutpie and pclbayes' own code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from pclbayes.data import load
from pclbayes.response import ResponseModel
from pclbayes.sampling import SamplerSettings


def _grid_posterior(n: np.ndarray, r: np.ndarray):
    alpha = np.linspace(-7.0, 12.0, 381)          # intercept (log-odds)
    sigma = np.linspace(0.0075, 4.5, 300)         # between-cohort SD
    z, wz = np.polynomial.hermite_e.hermegauss(40)
    wz = wz / wz.sum()
    logp = stats.norm(0, 1.5).logpdf(alpha)[:, None] + stats.halfnorm(scale=1).logpdf(sigma)
    eta = alpha[:, None, None] + sigma[None, :, None] * z
    log_p, log_q = -np.logaddexp(0, -eta), -np.logaddexp(0, eta)
    for nj, rj in zip(n, r, strict=True):
        lik = np.exp(rj * log_p + (nj - rj) * log_q) @ wz   # binomial coefficient cancels
        logp = logp + np.log(lik)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    pooled = special.expit(eta) @ wz
    return alpha, sigma, w, pooled


def _weighted_quantiles(values, w, probs):
    order = np.argsort(values.ravel())
    cum = np.cumsum(w.ravel()[order])
    return np.interp(probs, cum - 0.5 * w.ravel()[order], values.ravel()[order])


@pytest.mark.heavy
@pytest.mark.parametrize("endpoint", ["cr", "orr"])
def test_logit_normal_matches_numerical_integration(endpoint: str) -> None:
    eb = load()
    fit = ResponseModel(endpoint=endpoint, by="none", model="logit-normal",
                        sampler=SamplerSettings(draws=3000, target_accept=0.99)
                        ).fit(eb, seed=20260321)
    d = fit.counts_
    alpha, sigma, w, pooled = _grid_posterior(d.n, d.r)
    s = fit.summary().query("source != 'prior'").set_index("quantity")
    ref = {
        "mu_logit": np.broadcast_to(alpha[:, None], w.shape),
        "sigma": np.broadcast_to(sigma[None, :], w.shape),
        "pooled_rate": pooled,
    }
    for quantity, values in ref.items():
        row = s.loc[quantity]
        mean = float(np.sum(w * values))
        assert abs(row["mean"] - mean) <= 3 * row["mcse_mean"], (quantity, row["mean"], mean)
        lo, hi = _weighted_quantiles(values, w, [0.025, 0.975])
        scale = 0.02 if quantity == "pooled_rate" else 0.1
        assert row["lower"] == pytest.approx(lo, abs=scale), quantity
        assert row["upper"] == pytest.approx(hi, abs=scale if endpoint == "cr" else 2 * scale)
    assert fit.diagnostics_.divergences == 0
