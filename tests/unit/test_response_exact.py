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


@pytest.mark.heavy
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


@pytest.mark.heavy
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


# --------------------------------------------------------------------------- many cohorts
def _simulated(m: int, seed: int = 1, by_arm: bool = False):
    rng = np.random.default_rng(seed)
    n = rng.integers(5, 41, size=m)
    r = rng.binomial(n, rng.beta(0.7 * 15, 0.3 * 15, size=m))
    frame = pd.DataFrame({"cohort": [f"c{i}" for i in range(m)], "n": n, "responders": r,
                          "arm": rng.choice(["A", "B"], size=m)})
    return from_frame(frame, endpoint="x", by="arm" if by_arm else "none", source="sim")


def test_summed_grid_likelihood_is_the_sum_of_beta_binomial_pmfs() -> None:
    x = np.array([-3.0, 0.2, 4.0, 9.0])
    y = np.array([-2.0, 0.5, 3.0, 7.0])
    n = np.array([15, 11, 11, 2, 600, 40, 40, 1])
    r = np.array([15, 0, 7, 1, 450, 40, 0, 0])
    mu, kappa = special.expit(x)[:, None], np.exp(y)[None, :]
    expected = sum(stats.betabinom.logpmf(rj, nj, mu * kappa, (1 - mu) * kappa)
                   for nj, rj in zip(n, r, strict=True))
    np.testing.assert_allclose(log_likelihood(x, y, n, r), expected, rtol=1e-10, atol=1e-9)


def test_draw_log_likelihood_is_exact_for_any_concentration() -> None:
    # reference: the beta-binomial pmf as an exact rational number (fractions), then its log
    from decimal import Decimal, getcontext
    from fractions import Fraction
    from math import comb

    from pclbayes.response.beta_binomial import log_likelihood as draw_log_likelihood

    getcontext().prec = 50
    d = from_frame(pd.DataFrame({"cohort": ["a", "b"], "n": [37, 4], "responders": [30, 0]}),
                   endpoint="x", by="none", source="x")
    for kappa in (2.0, 1e2, 1e5, 1e8):
        a, b = np.full((1, 1, 1), 0.7 * kappa), np.full((1, 1, 1), 0.3 * kappa)
        got = draw_log_likelihood(a, b, d)[0, 0]
        for j, (n, r) in enumerate(((37, 30), (4, 0))):
            fa, fb = Fraction(float(a[0, 0, 0])), Fraction(float(b[0, 0, 0]))
            fk = Fraction(float(a[0, 0, 0] + b[0, 0, 0]))
            p = Fraction(comb(n, r))
            for i in range(r):
                p *= fa + i
            for i in range(n - r):
                p *= fb + i
            for i in range(n):
                p /= fk + i
            exact = Decimal(p.numerator).ln() - Decimal(p.denominator).ln()
            assert got[j] == pytest.approx(float(exact), abs=1e-12), (kappa, n, r)


def _mixture_cdf_by_quad(w, a, b, q: float) -> float:
    """P(rate <= q) of the mixture: adaptive quadrature of its density on the logit scale.

    On ``t = logit(rate)`` each component's density ``expit(t)^a expit(-t)^b / B(a, b)`` is
    smooth and bounded, also where the rate's density is not (``b < 1`` near 100%).
    """
    keep = w > 1e-10 * w.max()
    w, a, b = w[keep] / w[keep].sum(), a[keep], b[keep]
    log_b = special.betaln(a, b)

    def density(t: float) -> float:
        lo, hi = -np.logaddexp(0.0, -t), -np.logaddexp(0.0, t)
        return float(w @ np.exp(a * lo + b * hi - log_b))

    return integrate.quad(density, -np.inf, special.logit(q), limit=400, epsabs=1e-11,
                          epsrel=1e-9)[0]


@pytest.mark.heavy
@pytest.mark.parametrize(("endpoint", "by"), [("cr", "target"), ("orr", "target")])
def test_cohort_quantiles_match_quadrature_of_the_mixture(eb, endpoint: str, by: str) -> None:
    # the quantiles of the reported cohort rates (3 decimals) against brute force: the true
    # quantile, by quadrature of the grid's beta-mixture density, lies within 0.0005
    d = prepare(eb, endpoint=endpoint, by=by)
    ex = fit_exact(d, PRIORS)
    cases = [(int(d.stratum_index[j]), int(d.r[j]), int(d.n[j]), ex.cohort_summary(j))
             for j in range(d.n_units)]
    cases += [(s, 0, 0, ex.predictive_summary(s)) for s in range(d.n_strata)]  # new cohort
    for j, (s, r, n, row) in enumerate(cases):
        w, a, b = ex._mixture(s, r, n)
        for p, key in zip((0.025, 0.5, 0.975), ("lower", "median", "upper"), strict=True):
            q = row[key]
            if q + 5e-4 < 1.0:                # else P(rate <= q + 0.0005) = 1 > p
                assert _mixture_cdf_by_quad(w, a, b, q + 5e-4) > p, (j, key)
            if q - 5e-4 > 0.0:
                assert _mixture_cdf_by_quad(w, a, b, q - 5e-4) < p, (j, key)


def test_compressed_mixture_quantiles_are_accurate_to_1e_6() -> None:
    d = _simulated(300)
    ex = fit_exact(d, PRIORS)
    rows = ex.cohort_summaries()
    for j in (0, 1, 2):
        s, n, r = int(d.stratum_index[j]), int(d.n[j]), int(d.r[j])
        w, a, b = ex._mixture(s, r, n)
        for p, key in zip((0.025, 0.5, 0.975), ("lower", "median", "upper"), strict=True):
            ref = optimize.brentq(lambda x, p=p, w=w, a=a, b=b: w @ special.betainc(a, b, x) - p,
                                  1e-9, 1 - 1e-9, xtol=1e-13)
            assert rows[j][key] == pytest.approx(ref, abs=1e-6), (j, key)
        # and the mean against the mixture's own components
        assert rows[j]["mean"] == pytest.approx(w @ (a / (a + b)), abs=1e-12)


def test_units_with_equal_counts_share_one_summary() -> None:
    d = _simulated(200, by_arm=True)
    ex = fit_exact(d, PRIORS, "stratum")
    rows = ex.cohort_summaries()
    keys = list(zip(d.stratum_index, d.n, d.r, strict=True))
    j, k = next((j, k) for j in range(d.n_units) for k in range(j + 1, d.n_units)
                if keys[j] == keys[k])
    assert rows[j] == rows[k]
    alone = ex._mixture_summary(int(d.stratum_index[j]), int(d.r[j]), int(d.n[j]))
    for key in ("mean", "lower", "median", "upper", "sd"):
        assert rows[j][key] == pytest.approx(alone[key], abs=1e-9)


def _independent_posterior(d):
    """Gauss-Legendre quadrature of the hyperparameter posterior (one stratum), from scratch.

    The log-likelihood is written with log-gamma functions, grouped by the distinct values
    of ``r``, ``n - r`` and ``n``:
    ``sum_j [lgamma(a + r_j) + lgamma(b + n_j - r_j) - lgamma(kappa + n_j)]
    + J [lgamma(kappa) - lgamma(a) - lgamma(b)]``. The box is the posterior mode +- 8
    standard deviations (a large-sample normal approximation from a finite-difference
    Hessian); 64 x 64 nodes.
    """
    groups = [np.unique(v, return_counts=True) for v in (d.r, d.n - d.r, d.n)]
    const = float(np.sum(special.gammaln(d.n + 1.0) - special.gammaln(d.r + 1.0)
                         - special.gammaln(d.n - d.r + 1.0)))
    kappa_prior = stats.gamma(2, scale=10)

    def logp(x, y):
        mu, kappa = special.expit(x), np.exp(y)
        a, b = mu * kappa, (1 - mu) * kappa
        ll = len(d.n) * (special.gammaln(kappa) - special.gammaln(a) - special.gammaln(b))
        for base, sign, (values, counts) in zip((a, b, kappa), (1, 1, -1), groups,
                                                strict=True):
            for v, m in zip(values, counts, strict=True):
                ll = ll + sign * m * special.gammaln(base + v)
        return ll + np.log(mu * (1 - mu)) + kappa_prior.logpdf(kappa) + y + const

    start = [special.logit(d.r.sum() / d.n.sum()), np.log(15.0)]
    mode = optimize.minimize(lambda v: -logp(*v), start, method="Nelder-Mead",
                             options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 4000}).x
    h = 1e-3
    hess = np.empty((2, 2))
    for i in range(2):
        for k in range(2):
            e_i, e_k = np.eye(2)[i] * h, np.eye(2)[k] * h
            hess[i, k] = -(logp(*(mode + e_i + e_k)) - logp(*(mode + e_i - e_k))
                           - logp(*(mode - e_i + e_k)) + logp(*(mode - e_i - e_k))) / (4 * h * h)
    sd = np.sqrt(np.diag(np.linalg.inv(hess)))
    nodes, weights = np.polynomial.legendre.leggauss(64)
    ys = mode[1] + 8 * sd[1] * nodes
    peak = logp(*mode)
    grids = {}

    def integral(f, x_hi=np.inf):
        lo, hi = mode[0] - 8 * sd[0], min(mode[0] + 8 * sd[0], x_hi)
        if hi not in grids:
            xs = 0.5 * (lo + hi) + 0.5 * (hi - lo) * nodes
            X, Y = np.meshgrid(xs, ys, indexing="ij")
            grids[hi] = (X, Y, np.exp(logp(X, Y) - peak))
        X, Y, dens = grids[hi]
        return 0.5 * (hi - lo) * 8 * sd[1] * float(weights @ (dens * f(X, Y)) @ weights)

    z = integral(lambda x, y: 1.0)
    return {"integral": lambda f, x_hi=np.inf: integral(f, x_hi) / z,
            "log_evidence": float(np.log(z) + peak), "sd": sd}


def test_3000_cohorts_match_independent_quadrature() -> None:
    d = _simulated(3000)
    ex = fit_exact(d, PRIORS)
    ref = _independent_posterior(d)
    post = ref["integral"]
    mu = ex.mu_summary(0)
    mean = post(lambda x, y: special.expit(x))
    sd = np.sqrt(post(lambda x, y: special.expit(x) ** 2) - mean**2)
    assert mu["mean"] == pytest.approx(mean, abs=0.005 * sd)
    assert mu["sd"] == pytest.approx(sd, rel=0.01)
    for p, key in zip((0.025, 0.5, 0.975), ("lower", "median", "upper"), strict=True):
        # P(mu <= reported quantile) under the independent posterior, to 0.002
        assert post(lambda x, y: 1.0, x_hi=special.logit(mu[key])) == pytest.approx(p,
                                                                                   abs=2e-3)
    kappa = ex.kappa_summary(0)
    assert kappa["mean"] == pytest.approx(post(lambda x, y: np.exp(y)), rel=2e-3)
    assert ex.log_evidence == pytest.approx(ref["log_evidence"], abs=1e-3)
    # a cohort rate: its mean under the independent posterior, and its reported median
    rows = ex.cohort_summaries()
    assert len(rows) == 3000
    j = 0
    n, r = int(d.n[j]), int(d.r[j])

    def cohort_mean(x, y):
        return (special.expit(x) * np.exp(y) + r) / (np.exp(y) + n)

    def below_median(x, y):
        mu_, k = special.expit(x), np.exp(y)
        return special.betainc(mu_ * k + r, (1 - mu_) * k + n - r, rows[j]["median"])

    assert rows[j]["mean"] == pytest.approx(post(cohort_mean), abs=1e-5)
    assert post(below_median) == pytest.approx(0.5, abs=1e-4)


# --------------------------------------------------------------------------- method="auto"
def test_auto_is_exact_for_the_beta_binomial_model_and_mcmc_otherwise() -> None:
    from pclbayes.response import ResponseModel

    assert ResponseModel().method == "auto"
    assert ResponseModel().engine == "exact"
    assert ResponseModel(heterogeneity="stratum").engine == "exact"
    assert ResponseModel(model="logit-normal").engine == "mcmc"
    assert ResponseModel(method="mcmc").engine == "mcmc"
    # the resolved specification names the engine used, so caches and saved fits key on it
    assert ResponseModel()._resolved_options()["method"] == "exact"
    assert ResponseModel(model="logit-normal")._resolved_options()["method"] == "mcmc"
    assert ResponseModel().resolved_spec(3) == ResponseModel(method="exact").resolved_spec(3)
    assert ResponseModel().get_params()["method"] == "auto"
    with pytest.raises(SpecError, match="unknown method 'fast'"):
        ResponseModel(method="fast").validate()


def test_auto_fit_is_the_exact_fit(eb) -> None:
    from pclbayes.response import ResponseModel

    auto = ResponseModel(endpoint="cr", by="target").fit(eb, seed=2)
    exact = ResponseModel(endpoint="cr", by="target", method="exact").fit(eb, seed=2)
    assert auto.exact_ is not None and auto.to_dict()["method"] == "exact"
    pd.testing.assert_frame_equal(auto.summary(), exact.summary())
    assert ResponseModel.from_resolved(auto.resolved_spec(2)).method == "exact"


def test_cli_method_defaults_to_auto(capsys) -> None:
    import argparse
    import json

    from pclbayes.cli import fit_cmd

    parser = argparse.ArgumentParser(prog="pclbayes")
    fit_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fit", "response", "--endpoint", "cr", "--json"])
    assert args.method == "auto"
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "exact"
