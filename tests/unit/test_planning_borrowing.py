"""Borrowing from co-data: every number against an independent calculation.

Independent calculations used here: adaptive quadrature (scipy.integrate.quad) of the
closed-form integrands, nested quadrature for the hierarchical and EXNEX models with tau
fixed, importance-sampling Monte Carlo from the prior (with its Monte-Carlo error) with tau
random, and enumeration of the predictive distribution for the conflict p-values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from pclbayes.errors import SpecError
from pclbayes.planning import (
    borrow_response,
    codata_map,
    conflict_check,
    exnex,
    hierarchical_posterior,
    load_codata,
    power_prior,
    power_prior_sensitivity,
)

CODATA = [(12, 28)]  # Tongji CR without the two PCL patients
PCL = [(7, 11), (1, 2), (2, 2)]


def _lik(x, r: float, n: float):
    return np.exp(r * special.log_expit(x) + (n - r) * special.log_expit(-x))


# Fine trapezoid rules (exponentially accurate for these smooth, decaying integrands), a
# discretisation unrelated to the normal-cell grid of the module.
X = np.linspace(-20, 20, 4001)
MU = np.linspace(-8, 8, 801)


def _marg(mu, tau: float, r: float, n: float, f=None):
    """Integral of f(x) L(x) N(x | mu, tau) dx for each mu (trapezoid rule on X)."""
    g = _lik(X, r, n) * (1.0 if f is None else f(X))
    dens = stats.norm.pdf(X[None, :], np.atleast_1d(mu)[:, None], tau)
    return integrate.trapezoid(dens * g[None, :], X, axis=1)


def _mu_integral(values):
    return float(integrate.trapezoid(values, MU))


# ---------------------------------------------------------------------------- power prior
def test_power_prior_sensitivity_matches_quadrature():
    r, n = 10, 15
    table = power_prior_sensitivity(r, n, CODATA, a0_grid=[0.0, 0.3, 1.0], threshold=0.5)
    for row in table.itertuples():
        a0 = row.a0

        def dens(t, a0=a0):
            return t ** (a0 * 12 + r) * (1 - t) ** (a0 * 16 + n - r)

        z = integrate.quad(dens, 0, 1, epsabs=0)[0]
        mean = integrate.quad(lambda t, d=dens: t * d(t), 0, 1, epsabs=0)[0] / z
        above = integrate.quad(dens, 0.5, 1, epsabs=0)[0] / z
        assert row.mean == pytest.approx(mean, rel=1e-8)
        assert row.prob_gt == pytest.approx(above, rel=1e-7)
        assert row.prior_ess == pytest.approx(2 + a0 * 28)
        # Box p-value by enumerating the predictive pmf, each term by quadrature
        def prior(t, a0=a0):
            return t ** (a0 * 12) * (1 - t) ** (a0 * 16)
        zp = integrate.quad(prior, 0, 1, epsabs=0)[0]
        pmf = np.array([integrate.quad(
            lambda t, y=y, p=prior: stats.binom.pmf(y, n, t) * p(t), 0, 1, epsabs=0)[0] / zp
            for y in range(n + 1)])
        assert row.conflict_p == pytest.approx(pmf[pmf <= pmf[r] + 1e-12].sum(), abs=1e-9)
    # a0 = 0 is the PCL-only Beta(1 + r, 1 + n - r) posterior
    assert table.iloc[0]["mean"] == pytest.approx((1 + r) / (2 + n))


def test_power_prior_pools_sources_and_rejects_bad_a0():
    prior = power_prior([(3, 10), (5, 8)], 0.5, a=2, b=3)
    assert prior.a[0] == pytest.approx(2 + 0.5 * 8)
    assert prior.b[0] == pytest.approx(3 + 0.5 * 10)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(SpecError, match="a0 must lie in"):
            power_prior(CODATA, bad)


# ---------------------------------------------------------------------------- hierarchical
def test_map_with_fixed_tau_matches_nested_quadrature():
    tau = 0.5
    post = hierarchical_posterior((), CODATA, tau_prior=tau)
    mu_dens = stats.norm.pdf(MU, 0, 1.5) * _marg(MU, tau, 12, 28)
    pred = integrate.trapezoid(special.expit(X)[None, :] * stats.norm.pdf(
        X[None, :], MU[:, None], tau), X, axis=1)
    mean = _mu_integral(mu_dens * pred) / _mu_integral(mu_dens)
    assert post.predictive().mean == pytest.approx(mean, abs=1e-3)


def _importance_sample(size: int, seed: int = 7):
    """Draws of (mu, tau, x_codata, x_pcl) from the prior and binomial likelihood weights."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 1.5, size)
    tau = np.abs(rng.normal(0, 1, size))
    xc = mu + tau * rng.standard_normal(size)
    xj = mu + tau * rng.standard_normal(size)
    xs = mu + tau * rng.standard_normal(size)
    return mu, tau, xc, xj, xs


def test_map_and_cohort_with_random_tau_match_importance_sampling():
    size = 1_000_000
    _, _, xc, xj, xs = _importance_sample(size)
    rj, nj = 7, 11
    logw = (12 * special.log_expit(xc) + 16 * special.log_expit(-xc)
            + rj * special.log_expit(xj) + (nj - rj) * special.log_expit(-xj))
    w = np.exp(logw - logw.max())
    w /= w.sum()

    def est(values: np.ndarray) -> tuple[float, float]:
        m = float(w @ values)
        se = float(np.sqrt(np.sum(w**2 * (values - m) ** 2)))
        return m, se

    post = hierarchical_posterior([(rj, nj)], CODATA)
    m_new, se_new = est(special.expit(xs))
    m_j, se_j = est(special.expit(xj))
    assert abs(post.predictive().mean - m_new) < 4 * se_new + 1e-3
    assert abs(post.cohorts[0].mean - m_j) < 4 * se_j + 1e-3
    p_gt, se_gt = est((special.expit(xj) > 0.5).astype(float))
    assert abs(post.cohorts[0].prob_gt(0.5) - p_gt) < 4 * se_gt + 2e-3


# ---------------------------------------------------------------------------- EXNEX
def test_exnex_single_cohort_fixed_tau_matches_nested_quadrature():
    tau, p, (rj, nj) = 0.4, 0.5, (0, 12)   # a PCL cohort far below the co-data
    post = exnex([(rj, nj)], CODATA, p, tau_prior=tau)
    j_nex = _marg(0.0, 2.0, rj, nj)[0]
    jm_nex = _marg(0.0, 2.0, rj, nj, special.expit)[0]
    base = stats.norm.pdf(MU, 0, 1.5) * _marg(MU, tau, 12, 28)
    i_j = _marg(MU, tau, rj, nj)
    im_j = _marg(MU, tau, rj, nj, special.expit)
    z = _mu_integral(base * (p * i_j + (1 - p) * j_nex))
    p_ex = _mu_integral(base * p * i_j) / z
    mean = _mu_integral(base * (p * im_j + (1 - p) * jm_nex)) / z
    assert post.p_exchangeable[0] == pytest.approx(p_ex, abs=1e-3)
    assert post.cohorts[0].mean == pytest.approx(mean, abs=1e-3)
    assert p_ex < p  # the conflicting cohort is judged less likely exchangeable


def test_exnex_limits():
    nex = exnex(PCL, CODATA, 0.0)
    for (r, n), dist in zip(PCL, nex.cohorts, strict=True):
        z = _marg(0.0, 2.0, r, n)[0]
        assert dist.mean == pytest.approx(_marg(0.0, 2.0, r, n, special.expit)[0] / z,
                                          abs=1e-4)
        above = integrate.quad(lambda x, r=r, n=n: _lik(x, r, n) * stats.norm.pdf(x, 0, 2),
                               0, 30, epsabs=0, limit=200)[0] / z
        assert dist.prob_gt(0.5) == pytest.approx(above, abs=1e-3)
    assert np.all(nex.p_exchangeable == 0)
    full = exnex(PCL, CODATA, 1.0)
    hier = hierarchical_posterior(PCL, CODATA)
    assert np.all(full.p_exchangeable == 1)
    for a, b in zip(full.cohorts, hier.cohorts, strict=True):
        assert a.mean == pytest.approx(b.mean, abs=1e-12)


def test_exnex_random_tau_matches_importance_sampling():
    size, p, (rj, nj) = 1_000_000, 0.5, (2, 10)
    _, _, xc, xj, _ = _importance_sample(size, seed=11)
    rng = np.random.default_rng(12)
    ex = rng.random(size) < p
    x = np.where(ex, xj, rng.normal(0, 2, size))
    logw = (12 * special.log_expit(xc) + 16 * special.log_expit(-xc)
            + rj * special.log_expit(x) + (nj - rj) * special.log_expit(-x))
    w = np.exp(logw - logw.max())
    w /= w.sum()
    est = float(w @ ex)
    se = float(np.sqrt(np.sum(w**2 * (ex - est) ** 2)))
    post = exnex([(rj, nj)], CODATA, p)
    assert abs(post.p_exchangeable[0] - est) < 4 * se + 1e-3


# ---------------------------------------------------------------------------- conflict
def test_conflict_p_value_matches_enumeration_with_fixed_tau():
    tau, (r, n) = 0.5, (3, 12)
    table = conflict_check([(r, n)], hierarchical_posterior((), CODATA, tau_prior=tau))
    mu_dens = stats.norm.pdf(MU, 0, 1.5) * _marg(MU, tau, 12, 28)
    z = _mu_integral(mu_dens)
    normal = stats.norm.pdf(X[None, :], MU[:, None], tau)
    pmf = np.array([_mu_integral(mu_dens * integrate.trapezoid(
        normal * stats.binom.pmf(y, n, special.expit(X))[None, :], X, axis=1)) / z
        for y in range(n + 1)])
    row = table.iloc[0]
    assert row["p_lower"] == pytest.approx(pmf[: r + 1].sum(), abs=1e-3)
    assert row["p_value"] == pytest.approx(pmf[pmf <= pmf[r] * (1 + 1e-9)].sum(), abs=2e-3)
    assert row["expected"] == pytest.approx(np.arange(n + 1) @ pmf, abs=5e-3)


def test_conflict_pooled_row_and_small_p_under_conflict():
    table = conflict_check([(0, 20), (0, 20)], CODATA)
    assert list(table["cohort"]) == ["PCL1", "PCL2", "pooled PCL"]
    assert table.iloc[2]["n"] == 40 and table.iloc[2]["responders"] == 0
    assert table.iloc[2]["p_value"] < 0.05 < table.iloc[0]["p_value"]
    agree = conflict_check([(6, 14), (6, 14)], CODATA)
    assert agree.iloc[2]["p_value"] > 0.9


# ---------------------------------------------------------------------------- robust MAP
def test_robust_map_posterior_matches_quadrature_of_its_prior():
    pcl = pd.DataFrame({"cohort": ["a", "b"], "group": ["all", "all"], "n": [11, 4],
                        "responders": [7, 3]})
    co = pd.DataFrame({"cohort": ["m"], "population": ["mm"], "n": [28], "responders": [12]})
    res = borrow_response(pcl, co, "robust-map", robust_weight=0.2, n_draws=4000, seed=3)
    from pclbayes.planning import BetaMixture

    comps = res.priors["all"]["components"]
    prior = BetaMixture([c["weight"] for c in comps], [c["a"] for c in comps],
                        [c["b"] for c in comps], names=[c["name"] for c in comps])
    assert prior.names[-1] == "robust" and prior.weights[-1] == pytest.approx(0.2)

    def dens(t):
        return float(prior.pdf(t)) * t**10 * (1 - t) ** 5

    z = integrate.quad(dens, 0, 1, epsabs=0, limit=200)[0]
    mean = integrate.quad(lambda t: t * dens(t), 0, 1, epsabs=0, limit=200)[0] / z
    row = res.comparison.iloc[0]
    assert row["borrowed_mean"] == pytest.approx(mean, abs=1e-6)
    assert row["pcl_mean"] == pytest.approx(11 / 17)
    # the mixture reproduces the exact co-data MAP within Monte-Carlo error (4000 draws)
    mp, post = codata_map(co, robust_weight=0.0, n_draws=4000, seed=3)
    exact = post.predictive()
    assert mp.mixture.mean == pytest.approx(exact.mean, abs=4 * exact.sd / np.sqrt(4000))
    assert res.sensitivity is not None
    assert list(res.sensitivity["robust_weight"]) == [0.0, 0.1, 0.2, 0.5]


def test_borrow_response_is_reproducible_and_exnex_rows():
    pcl = pd.DataFrame({"cohort": ["a", "b"], "group": ["all", "all"], "n": [11, 2],
                        "responders": [7, 2]})
    co = pd.DataFrame({"cohort": ["m"], "population": [""], "n": [28], "responders": [12]})
    a = borrow_response(pcl, co, "robust-map", n_draws=1000, seed=5).to_dict()
    b = borrow_response(pcl, co, "robust-map", n_draws=1000, seed=5).to_dict()
    assert a == b
    ex = borrow_response(pcl, co, "exnex", p_exchangeable=0.3)
    assert list(ex.comparison["quantity"]) == ["a", "b"]
    assert ex.comparison["p_exchangeable"].between(0, 1).all()
    with pytest.raises(SpecError, match="borrow must be one of"):
        borrow_response(pcl, co, "pool")


# ---------------------------------------------------------------------------- co-data rows
def test_load_codata_bundled_default_and_user_files(tmp_path):
    cr = load_codata(endpoint="cr")
    assert cr[["n", "responders"]].values.tolist() == [[28, 12]]
    with pytest.raises(SpecError, match=r"several rows.*--codata-population"):
        load_codata(endpoint="orr", population="PCL")  # 30-patient and 14-patient rows
    f = tmp_path / "mm.csv"
    f.write_text("cohort,n,responders\nA,40,30\nB,20,9\n")
    rows = load_codata(f)
    assert rows["n"].tolist() == [40, 20]
    g = tmp_path / "pcl_only.csv"
    g.write_text("cohort,is_pcl,n,responders\nA,1,5,3\n")
    with pytest.raises(SpecError, match=r"pcl_only\.csv: no co-data rows"):
        load_codata(g)
