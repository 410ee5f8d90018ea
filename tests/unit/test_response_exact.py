"""The exact engine against independent calculations.

* the beta-binomial likelihood on the grid against scipy's ``betabinom`` (incl. r = n);
* posterior summaries against adaptive 2-D quadrature (``scipy.integrate.dblquad``);
* a two-stratum, shared-kappa posterior against importance sampling from the prior;
* beta-mixture quantiles against root finding on scipy's beta CDF;
* recovery of known hyperparameters from simulated cohorts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

from pclbayes.data import load
from pclbayes.errors import SpecError
from pclbayes.priors import Prior
from pclbayes.response.counts import from_frame, prepare
from pclbayes.response.defaults import default_priors
from pclbayes.response.exact import _mixture_quantiles, fit_exact, log_likelihood

PRIORS = default_priors("beta-binomial")


@pytest.fixture(scope="module")
def eb():
    return load()


# --------------------------------------------------------------------------- likelihood
@pytest.mark.parametrize(("n", "r"), [(15, 15), (11, 0), (11, 7), (2, 1), (600, 450)])
def test_grid_likelihood_is_the_beta_binomial_pmf(n: int, r: int) -> None:
    x = np.array([-3.0, 0.2, 4.0, 9.0])        # logit(mu)
    y = np.array([-2.0, 0.5, 3.0, 7.0])         # log(kappa)
    mu = special.expit(x)[:, None]
    kappa = np.exp(y)[None, :]
    expected = stats.betabinom.logpmf(r, n, mu * kappa, (1 - mu) * kappa)
    np.testing.assert_allclose(log_likelihood(x, y, n, r), expected, rtol=1e-10, atol=1e-10)


def test_likelihood_tends_to_the_binomial_for_huge_kappa() -> None:
    # kappa = e^23 ~ 1e10: the beta-binomial is the binomial to ~n^2/kappa; a beta-function
    # difference would lose ~6 digits here, the rising-factorial form loses none
    x = np.array([special.logit(0.83)])
    got = log_likelihood(x, np.array([23.0]), 15, 12)[0, 0]
    assert got == pytest.approx(stats.binom.logpmf(12, 15, 0.83), abs=1e-7)


def test_all_responders_need_no_continuity_correction() -> None:
    # r = n: log P = sum_i log((a + i) / (kappa + i)), which tends to 0 as mu -> 1
    x = np.array([0.0, 10.0, 25.0])
    ll = log_likelihood(x, np.array([np.log(20.0)]), 15, 15)[:, 0]
    assert np.all(np.diff(ll) > 0) and ll[-1] == pytest.approx(0.0, abs=1e-8)


# --------------------------------------------------------------------------- quadrature
@pytest.fixture(scope="module")
def orr_none(eb):
    d = prepare(eb, endpoint="orr", by="none")
    return d, fit_exact(d, PRIORS)


def _dblquad_posterior(n, r):
    kp = stats.gamma(2, scale=10)

    def dens(m, k):
        a, b = m * k, (1 - m) * k
        return np.exp(np.sum(special.betaln(a + r, b + n - r) - special.betaln(a, b))) * \
            kp.pdf(k)

    def integral(f, mu_hi=1.0, k_hi=np.inf):
        return integrate.dblquad(lambda m, k: f(m, k) * dens(m, k), 0, k_hi, 0, mu_hi,
                                 epsabs=1e-13, epsrel=1e-10)[0]

    z = integral(lambda m, k: 1.0)
    return lambda f, mu_hi=1.0, k_hi=np.inf: integral(f, mu_hi, k_hi) / z


def test_exact_matches_adaptive_quadrature_when_all_respond(orr_none) -> None:
    d, ex = orr_none                                  # 2/2, 2/2, 11/11
    post = _dblquad_posterior(d.n, d.r)
    mu = ex.mu_summary(0)
    assert mu["mean"] == pytest.approx(post(lambda m, k: m), abs=2e-4)
    for p, q in zip((0.025, 0.5, 0.975), (mu["lower"], mu["median"], mu["upper"]),
                    strict=True):
        assert post(lambda m, k: 1.0, mu_hi=q) == pytest.approx(p, abs=1.5e-3)
    kappa = ex.kappa_summary(0)
    assert kappa["mean"] == pytest.approx(post(lambda m, k: k), rel=5e-3)
    assert post(lambda m, k: 1.0, k_hi=kappa["median"]) == pytest.approx(0.5, abs=2e-3)
    # cohort rate mean: E[(a + r) / (kappa + n)] for xuzhou (11/11)
    j = d.units.index("xuzhou")
    cohort = ex.cohort_summary(j)
    expected = post(lambda m, k: (m * k + 11) / (k + 11))
    assert cohort["mean"] == pytest.approx(expected, abs=2e-4)
    # the upper limits are set by the prior: a few % of cohort-rate mass sits within 1e-16
    # of 100%, so the 97.5% limit is 1 in double precision
    assert cohort["upper"] == 1.0 and mu["upper"] < 1.0


def test_two_strata_shared_kappa_match_importance_sampling(eb) -> None:
    d = prepare(eb, endpoint="cr", by="target")
    ex = fit_exact(d, PRIORS)
    rng = np.random.default_rng(20260321)
    size = 1_000_000
    mu = rng.beta(1, 1, size=(size, 2))
    kappa = rng.gamma(2, 10, size=size)[:, None]
    a, b = mu[:, d.stratum_index] * kappa, (1 - mu[:, d.stratum_index]) * kappa
    logw = np.sum(special.betaln(a + d.r, b + d.n - d.r) - special.betaln(a, b), axis=1)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess = 1 / np.sum(w**2)
    assert ess > 1e5
    tol = 4 / np.sqrt(ess)                        # ~4 Monte Carlo SEs of a mean of a rate
    for s in range(2):
        assert ex.mu_summary(s)["mean"] == pytest.approx(w @ mu[:, s], abs=tol)
    contrast = ex.contrast_summary(1, 0)
    assert contrast["prob_gt_0"] == pytest.approx(w @ (mu[:, 1] > mu[:, 0]), abs=2 * tol)
    assert contrast["mean"] == pytest.approx(w @ (mu[:, 1] - mu[:, 0]), abs=tol)
    j = d.units.index("xuzhou/GPRC5D")
    cond_mean = (a[:, j] + d.r[j]) / (kappa[:, 0] + d.n[j])
    assert ex.cohort_summary(j)["mean"] == pytest.approx(w @ cond_mean, abs=tol)
    assert ex.kappa_summary()["mean"] == pytest.approx(w @ kappa[:, 0], rel=0.02)


def test_stratum_specific_heterogeneity_equals_separate_fits(eb) -> None:
    d = prepare(eb, endpoint="cr", by="strategy")
    joint = fit_exact(d, PRIORS, "stratum")
    counts = d.frame()
    for s, level in enumerate(d.strata):
        alone = from_frame(counts[counts["group"] == level], endpoint="cr", by="none",
                           source="x")
        single = fit_exact(alone, PRIORS)
        for key in ("mean", "lower", "median", "upper"):
            assert joint.mu_summary(s)[key] == pytest.approx(single.mu_summary(0)[key],
                                                             abs=1e-6)
            assert joint.kappa_summary(s)[key] == pytest.approx(
                single.kappa_summary(0)[key], rel=1e-6)


# --------------------------------------------------------------------------- mixtures
def test_mixture_quantiles_against_root_finding() -> None:
    w, a, b = np.array([0.3, 0.7]), np.array([2.0, 30.0]), np.array([5.0, 3.0])
    got = _mixture_quantiles(w, a, b, (0.025, 0.5, 0.975))
    for p, q in zip((0.025, 0.5, 0.975), got, strict=True):
        ref = optimize.brentq(lambda x, p=p: w @ stats.beta.cdf(x, a, b) - p, 1e-12, 1 - 1e-12,
                              xtol=1e-14)
        assert q == pytest.approx(ref, abs=1e-6)


def test_single_beta_quantiles_are_the_closed_form() -> None:
    got = _mixture_quantiles(np.ones(1), np.array([5.4]), np.array([18.6]), (0.025, 0.5, 0.975))
    np.testing.assert_allclose(got, stats.beta.ppf([0.025, 0.5, 0.975], 5.4, 18.6), atol=1e-6)


# --------------------------------------------------------------------------- engine behaviour
def test_finer_grid_changes_nothing_that_is_reported(eb) -> None:
    d = prepare(eb, endpoint="orr", by="strategy")
    coarse, fine = fit_exact(d, PRIORS), fit_exact(d, PRIORS, resolution=(192, 160))
    for key in ("mean", "lower", "median", "upper"):
        for s in range(2):
            assert coarse.mu_summary(s)[key] == pytest.approx(fine.mu_summary(s)[key],
                                                              abs=1e-3)
        assert coarse.predictive_summary(1)[key] == pytest.approx(
            fine.predictive_summary(1)[key], abs=1e-3)
    assert coarse.contrast_summary(1, 0)["prob_gt_0"] == pytest.approx(
        fine.contrast_summary(1, 0)["prob_gt_0"], abs=1e-3)


def test_grid_draws_reproduce_the_exact_summaries(eb) -> None:
    d = prepare(eb, endpoint="cr", by="target")
    ex = fit_exact(d, PRIORS)
    draws = ex.draws(200_000, np.random.default_rng(7))
    for s in range(2):
        q = np.quantile(draws["mu"][0, :, s], [0.025, 0.5, 0.975])
        m = ex.mu_summary(s)
        np.testing.assert_allclose(q, [m["lower"], m["median"], m["upper"]], atol=5e-3)
    k = ex.kappa_summary()
    assert np.median(draws["kappa"]) == pytest.approx(k["median"], rel=0.02)


def test_exact_engine_recovers_known_hyperparameters() -> None:
    rng = np.random.default_rng(11)
    covered_mu = covered_kappa = 0
    reps = 20
    for _ in range(reps):
        mu, kappa = 0.65, 12.0
        n = rng.integers(15, 40, size=25)
        r = rng.binomial(n, rng.beta(mu * kappa, (1 - mu) * kappa, size=25))
        d = from_frame(pd.DataFrame({"cohort": [f"c{i}" for i in range(25)], "n": n,
                                     "responders": r}), endpoint="x", by="none", source="sim")
        ex = fit_exact(d, PRIORS)
        m, k = ex.mu_summary(0), ex.kappa_summary(0)
        covered_mu += m["lower"] <= mu <= m["upper"]
        covered_kappa += k["lower"] <= kappa <= k["upper"]
    # 95% intervals: fewer than 16 of 20 has probability < 2% if calibrated
    assert covered_mu >= 16 and covered_kappa >= 16


def test_prior_that_excludes_the_data_is_reported() -> None:
    d = from_frame(pd.DataFrame({"cohort": ["a"], "n": [10], "responders": [10]}),
                   endpoint="x", by="none", source="x")
    priors = {"mu": Prior.parse("Uniform(lower=0, upper=0.5)"), "kappa": PRIORS["kappa"]}
    ex = fit_exact(d, priors)                      # proper but tiny posterior mass: fine
    assert ex.mu_summary(0)["upper"] <= 0.5 + 1e-9
    with pytest.raises(SpecError, match="needs grid bounds"):
        fit_exact(d, {"mu": PRIORS["mu"], "kappa": object()})
