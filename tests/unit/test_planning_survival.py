"""Log-median survival prior: normal mixture, ESS in events, predictive event counts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from pclbayes.errors import SpecError
from pclbayes.planning import (
    NormalMixture,
    ess,
    ess_events,
    event_probability,
    log_median_prior,
    predictive_events,
)


@pytest.mark.parametrize("shape", [1.0, 1.5, 0.8])
def test_ess_events_single_normal_closed_form(shape: float) -> None:
    sd = 0.35
    prior = NormalMixture([1.0], [np.log(9.0)], [sd])
    expected = 1.0 / (shape**2 * sd**2)  # events: Var(log median MLE) = 1 / (k^2 d)
    assert ess_events(prior, shape) == pytest.approx(expected, rel=1e-10)
    assert ess_events(prior, shape, "moment") == pytest.approx(expected, rel=1e-12)
    assert ess_events(prior, shape, "morita", s=100) == pytest.approx(
        (1 - 1 / 100) * expected, rel=1e-8
    )
    assert ess(prior, shape=shape) == pytest.approx(expected, rel=1e-10)  # generic entry point


def test_exponential_unit_information_by_simulation() -> None:
    """For exponential data with d events the log-median MLE has variance about 1/d."""
    rng = np.random.default_rng(8)
    d, reps = 40, 4000
    times = rng.exponential(10.0, size=(reps, d))
    log_median_hat = np.log(np.log(2.0) * times.mean(axis=1))  # MLE, all events observed
    # Var = trigamma(d) exactly for the log of a Gamma(d) mean; about 1/d
    assert np.var(log_median_hat) == pytest.approx(special.polygamma(1, d), rel=0.08)
    assert special.polygamma(1, d) == pytest.approx(1 / d, rel=0.02)


def test_ess_events_mixture_matches_brute_force() -> None:
    prior = NormalMixture([0.7, 0.3], [2.0, 2.8], [0.25, 0.4])

    def logpdf(x: float) -> float:
        return special.logsumexp(
            [
                np.log(w) + stats.norm.logpdf(x, m, s)
                for w, m, s in zip([0.7, 0.3], [2.0, 2.8], [0.25, 0.4], strict=True)
            ]
        )

    def integrand(x: float) -> float:
        h = 1e-3
        d2 = (logpdf(x + h) - 2 * logpdf(x) + logpdf(x - h)) / h**2
        return -np.exp(logpdf(x)) * d2

    brute = integrate.quad(integrand, -1, 6, limit=200, points=[2.0, 2.8])[0]
    assert ess_events(prior, 1.2) == pytest.approx(brute / 1.44, rel=1e-5)
    m = 0.7 * 2.0 + 0.3 * 2.8
    var = 0.7 * (0.25**2 + 2.0**2) + 0.3 * (0.4**2 + 2.8**2) - m**2
    assert ess_events(prior, 1.0, "moment") == pytest.approx(1 / var, rel=1e-12)


def _p_event_quad(median: float, shape: float, accrual: float, t: float) -> float:
    lam = median / np.log(2) ** (1 / shape)
    cdf = lambda u: -np.expm1(-((u / lam) ** shape))  # noqa: E731
    upper = min(accrual, t)
    return integrate.quad(lambda e: cdf(t - e), 0, upper)[0] / accrual


@pytest.mark.parametrize(("shape", "accrual", "t"), [(1.0, 12, 18), (1.6, 12, 18), (0.7, 24, 12)])
def test_event_probability_matches_quadrature(shape: float, accrual: float, t: float) -> None:
    for median in (3.0, 8.0, 20.0):
        got = event_probability(median, shape=shape, accrual=accrual, analysis_time=t)
        assert got == pytest.approx(_p_event_quad(median, shape, accrual, t), rel=1e-9)


def test_event_probability_without_accrual_period() -> None:
    got = event_probability(6.0, shape=1.3, accrual=0, analysis_time=10.0)
    lam = 6.0 / np.log(2) ** (1 / 1.3)
    assert got == pytest.approx(stats.weibull_min.cdf(10.0, 1.3, scale=lam), rel=1e-12)


def test_predictive_events_against_full_simulation() -> None:
    prior = NormalMixture([1.0], [np.log(8.0)], [0.25])
    n, accrual, t, shape = 25, 12.0, 18.0, 1.2
    pred = predictive_events(
        prior, n=n, accrual=accrual, analysis_time=t, shape=shape, rng=np.random.default_rng(4)
    )
    assert pred.pmf.sum() == pytest.approx(1.0)
    # simulate trials: median from prior, uniform entry, Weibull times, count progressions
    rng = np.random.default_rng(99)
    sims = 20_000
    med = np.exp(rng.normal(np.log(8.0), 0.25, sims))
    lam = med / np.log(2) ** (1 / shape)
    entry = rng.uniform(0, accrual, (sims, n))
    times = lam[:, None] * rng.weibull(shape, (sims, n))
    counts = np.sum(entry + times <= t, axis=1)
    emp = np.bincount(counts, minlength=n + 1) / sims
    # pmf agreement within combined Monte-Carlo error (prior draws: 10,000; trials: 20,000)
    se = np.sqrt(pred.pmf * (1 - pred.pmf) / sims + pred.pmf * (1 - pred.pmf) / 10_000)
    assert np.all(np.abs(emp - pred.pmf) < 4 * se + 1e-3)
    assert pred.mean == pytest.approx(counts.mean(), abs=4 * counts.std() / np.sqrt(sims) + 0.05)
    assert list(pred.to_frame().columns) == ["events", "pmf", "cdf"]
    assert "progressions" in str(pred)
    assert 0 <= pred.prob_at_least(10) <= 1


def test_log_median_prior_recovers_lognormal() -> None:
    draws = np.exp(np.random.default_rng(3).normal(np.log(10), 0.4, 3000))
    fit = log_median_prior(draws, rng=np.random.default_rng(0))
    assert fit.n_components == 1
    assert fit.mixture.means[0] == pytest.approx(np.log(draws).mean(), abs=1e-9)
    assert fit.mixture.sds[0] == pytest.approx(np.log(draws).std(), rel=1e-6)


def test_invalid_survival_inputs() -> None:
    prior = NormalMixture([1.0], [2.0], [0.3])
    with pytest.raises(SpecError):
        log_median_prior(np.r_[np.ones(50), -1.0])
    with pytest.raises(SpecError):
        ess_events(prior, shape=0.0)
    with pytest.raises(SpecError):
        event_probability(-1.0, shape=1, accrual=1, analysis_time=1)
    with pytest.raises(SpecError):
        NormalMixture([1.0], [0.0], [-1.0])
