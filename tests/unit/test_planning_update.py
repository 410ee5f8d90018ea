"""Conjugate updating and predictive distributions, checked against Bayes' rule directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from pclbayes.errors import SpecError
from pclbayes.planning import BetaMixture, posterior, posterior_prob, predictive, robustify

PRIOR = BetaMixture([0.6, 0.4], [8.0, 2.0], [24.0, 2.0])


def test_single_beta_posterior_is_conjugate() -> None:
    post = posterior(BetaMixture.single(2.5, 7.0), r=4, n=11)
    assert (post.a[0], post.b[0], post.weights[0]) == (6.5, 14.0, 1.0)


def test_mixture_weights_are_beta_binomial_marginal_likelihoods() -> None:
    r, n = 9, 15
    marg = np.array(
        [stats.betabinom.pmf(r, n, a, b) for a, b in zip(PRIOR.a, PRIOR.b, strict=True)]
    )
    expected = PRIOR.weights * marg / np.sum(PRIOR.weights * marg)
    post = posterior(PRIOR, r=r, n=n)
    np.testing.assert_allclose(post.weights, expected, rtol=1e-12)
    np.testing.assert_array_equal(post.a, PRIOR.a + r)
    np.testing.assert_array_equal(post.b, PRIOR.b + n - r)


def test_posterior_density_is_prior_times_likelihood() -> None:
    r, n = 3, 12

    def unnorm(x: float) -> float:
        return float(PRIOR.pdf(x)) * stats.binom.pmf(r, n, x)

    z = integrate.quad(unnorm, 0, 1, limit=200)[0]
    post = posterior(PRIOR, r=r, n=n)
    x = np.linspace(0.02, 0.9, 12)
    np.testing.assert_allclose(post.pdf(x), [unnorm(v) / z for v in x], rtol=1e-8)


def test_posterior_prob_matches_scipy_beta_tail() -> None:
    prior = BetaMixture.single(1, 1)
    r = np.arange(0, 21)
    np.testing.assert_allclose(
        posterior_prob(prior, r, 20, 0.3), stats.beta.sf(0.3, 1 + r, 21 - r), rtol=1e-12
    )
    np.testing.assert_allclose(
        posterior_prob(prior, r, 20, 0.3, upper=False),
        stats.beta.cdf(0.3, 1 + r, 21 - r),
        rtol=1e-12,
    )


def test_extreme_data_do_not_underflow_weights() -> None:
    prior = BetaMixture([0.5, 0.5], [2000.0, 1.0], [8000.0, 1.0])
    post = posterior(prior, r=200, n=200)
    assert np.all(np.isfinite(post.weights))
    assert post.weights[1] == pytest.approx(1.0)


def test_predictive_is_beta_binomial_mixture() -> None:
    pred = predictive(PRIOR, n=14)
    r = np.arange(15)
    expected = sum(
        w * stats.betabinom.pmf(r, 14, a, b)
        for w, a, b in zip(PRIOR.weights, PRIOR.a, PRIOR.b, strict=True)
    )
    np.testing.assert_allclose(pred.pmf(), expected, rtol=1e-12)
    assert pred.pmf().sum() == pytest.approx(1.0)
    assert pred.mean == pytest.approx(14 * PRIOR.mean)  # E[R] = n E[theta]
    np.testing.assert_allclose(pred.cdf(r), np.cumsum(expected), rtol=1e-12)
    assert pred.pmf([-1, 15, 2.5]).tolist() == [0.0, 0.0, 0.0]
    frame = pred.to_frame()
    assert list(frame.columns) == ["responders", "pmf", "cdf"]
    assert "n = 14" in str(pred)
    draws = pred.sample(5000, np.random.default_rng(3))
    assert draws.min() >= 0 and draws.max() <= 14


def test_invalid_data_rejected() -> None:
    with pytest.raises(SpecError, match="exceed"):
        posterior(PRIOR, r=5, n=4)
    with pytest.raises(SpecError):
        posterior(PRIOR, r=-1, n=4)


def test_robust_prior_moves_towards_conflicting_data() -> None:
    """Prior-data conflict: the robust component takes over and the posterior follows the data."""
    informative = BetaMixture.single(30.0, 70.0)  # historical rate about 0.3
    robust = robustify(informative, weight=0.2, mean=0.5)
    r, n = 16, 20  # observed 0.8, far from 0.3
    post_inf = posterior(informative, r, n)
    post_rob = posterior(robust, r, n)
    assert post_rob.weights[-1] > 0.95 > robust.weights[-1]  # robust weight 0.2 -> > 0.95
    observed = r / n
    assert abs(post_rob.mean - observed) < abs(post_inf.mean - observed)
    assert post_rob.mean > 0.7 > post_inf.mean
    # No conflict (data at the historical rate): the robust weight shrinks instead.
    post_agree = posterior(robust, 6, 20)
    assert post_agree.weights[-1] < robust.weights[-1]
