"""EXNEX and the co-data MAP prior by real PyMC sampling against the exact quadrature.

The PyMC model marginalises each PCL cohort's EX/NEX membership in the likelihood
(``logaddexp`` of the two components, Neuenschwander et al. 2016); the probability of
exchangeability is the posterior mean of the EX share, and the MAP prior of a new cohort is
drawn from the posterior of (mu, tau). Agreement is required within four Monte-Carlo
standard errors (ArviZ MCSE) plus a small quadrature allowance.
"""

from __future__ import annotations

import numpy as np
import pytest

from pclbayes.planning import hierarchical_posterior

pytestmark = pytest.mark.slow

PCL = [(7, 11), (1, 2), (0, 8)]
CODATA = [(12, 28), (20, 40)]


def _sample(p_ex: float, seed: int = 5):
    import arviz as az
    import pymc as pm
    import pytensor.tensor as pt

    r = np.array([p[0] for p in PCL])
    n = np.array([p[1] for p in PCL])
    rc = np.array([p[0] for p in CODATA])
    nc = np.array([p[1] for p in CODATA])
    with pm.Model():
        mu = pm.Normal("mu", 0, 1.5)
        tau = pm.HalfNormal("tau", 1)
        zc = pm.Normal("zc", 0, 1, shape=len(CODATA))
        pm.Binomial("yc", n=nc, p=pm.math.invlogit(mu + tau * zc), observed=rc)
        z_ex = pm.Normal("z_ex", 0, 1, shape=len(PCL))
        x_nex = pm.Normal("x_nex", 0, 2, shape=len(PCL))
        x_ex = mu + tau * z_ex
        log_ex = np.log(p_ex) + pm.logp(pm.Binomial.dist(n=n, p=pm.math.invlogit(x_ex)), r)
        log_nex = np.log1p(-p_ex) + pm.logp(pm.Binomial.dist(n=n, p=pm.math.invlogit(x_nex)),
                                            r)
        pm.Potential("mixture", pt.sum(pt.logaddexp(log_ex, log_nex)))
        pm.Deterministic("share_ex", pt.exp(log_ex - pt.logaddexp(log_ex, log_nex)))
        new = pm.Normal("z_new", 0, 1)
        pm.Deterministic("theta_new", pm.math.invlogit(mu + tau * new))
        idata = pm.sample(draws=2000, tune=1500, chains=4, target_accept=0.95,
                          random_seed=seed, progressbar=False, compute_convergence_checks=False)
    return idata, az


def test_exnex_probability_of_exchangeability_matches_pymc():
    idata, az = _sample(0.5)
    post = idata.posterior
    exact = hierarchical_posterior(PCL, CODATA, p_exchangeable=0.5)
    share = post["share_ex"]
    mcse = az.mcse(share).values
    est = share.mean(("chain", "draw")).values
    assert np.all(np.abs(exact.p_exchangeable - est) < 4 * mcse + 5e-3)
    theta = post["theta_new"]
    assert abs(exact.predictive().mean - float(theta.mean())) < (
        4 * float(az.mcse(theta).values) + 5e-3)
