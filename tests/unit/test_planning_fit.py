"""EM mixture fits: recovery of known mixtures, selection, diagnostics and validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning import BetaMixture, fit_beta_mixture, fit_normal_mixture


@pytest.mark.heavy
def test_single_beta_recovered() -> None:
    rng = np.random.default_rng(1)
    draws = rng.beta(6.0, 18.0, size=3000)
    fit = fit_beta_mixture(draws, rng=np.random.default_rng(0))
    assert fit.n_components == 1
    # the weighted MLE with unit weights is the ordinary beta MLE (scipy, independent)
    a_ml, b_ml, _, _ = stats.beta.fit(draws, floc=0, fscale=1)
    assert fit.mixture.a[0] == pytest.approx(a_ml, rel=1e-4)
    assert fit.mixture.b[0] == pytest.approx(b_ml, rel=1e-4)
    assert fit.adequate
    assert fit.kl_divergence < 0.01


@pytest.mark.heavy
def test_two_component_mixture_recovered_and_selected() -> None:
    truth = BetaMixture([0.6, 0.4], [40.0, 3.0], [120.0, 3.0])
    draws = truth.sample(4000, np.random.default_rng(5))
    fit = fit_beta_mixture(draws, rng=np.random.default_rng(0))
    assert fit.n_components == 2
    mix = fit.mixture
    assert mix.weights[0] == pytest.approx(0.6, abs=0.04)
    assert mix.a[0] / (mix.a[0] + mix.b[0]) == pytest.approx(0.25, abs=0.01)
    assert mix.mean == pytest.approx(draws.mean(), abs=2e-3)
    # the selection table has one row per number of components and chose the minimum
    table = fit.candidates
    assert table["criterion"].idxmin() == 2
    assert list(fit.quantile_errors.columns) == ["prob", "draws", "mixture", "error"]
    assert "EM mixture fit" in str(fit)


@pytest.mark.heavy
def test_logit_normal_draws_are_well_approximated() -> None:
    # the shape a MAP prior from a logit-normal random-effects model takes
    rng = np.random.default_rng(7)
    draws = special.expit(rng.normal(-1.0, 0.7, size=3000))
    fit = fit_beta_mixture(draws, rng=np.random.default_rng(0))
    assert fit.adequate
    err = fit.quantile_errors["error"].abs().max()
    assert err < 0.1 * draws.std()
    assert np.all(fit.mixture.a >= 1) and np.all(fit.mixture.b >= 1)  # constrain_gt1


def test_poor_fit_warns() -> None:
    rng = np.random.default_rng(3)
    draws = np.r_[rng.beta(80, 920, 1500), rng.beta(700, 300, 1500)]  # rates 0.08 and 0.7
    with pytest.warns(StatisticalWarning, match="approximates the draws poorly"):
        fit = fit_beta_mixture(draws, max_components=1)
    assert not fit.adequate


def test_same_generator_same_fit() -> None:
    draws = np.random.default_rng(9).beta(3, 5, size=1000)
    a = fit_beta_mixture(draws, max_components=2, rng=np.random.default_rng(4))
    b = fit_beta_mixture(draws, max_components=2, rng=np.random.default_rng(4))
    assert a.mixture == b.mixture


@pytest.mark.parametrize(
    ("draws", "match"),
    [
        (np.full(100, 0.3), "identical"),
        (np.linspace(0.1, 0.9, 10), "at least 20"),
        (np.r_[np.linspace(0.1, 0.9, 50), 1.2], r"\[0, 1\]"),
        (np.r_[np.linspace(0.1, 0.9, 50), np.nan], "NaN"),
    ],
)
def test_invalid_draws(draws: np.ndarray, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        fit_beta_mixture(draws)


def test_invalid_settings() -> None:
    draws = np.random.default_rng(0).beta(2, 2, 200)
    with pytest.raises(SpecError, match="max_components"):
        fit_beta_mixture(draws, max_components=0)
    with pytest.raises(SpecError, match="penalty"):
        fit_beta_mixture(draws, penalty=-1)


def test_normal_mixture_recovered() -> None:
    rng = np.random.default_rng(2)
    draws = np.r_[rng.normal(2.0, 0.3, 3000), rng.normal(3.0, 0.2, 1000)]
    fit = fit_normal_mixture(draws, rng=np.random.default_rng(0))
    assert fit.n_components == 2
    mix = fit.mixture
    np.testing.assert_allclose(np.sort(mix.means), [2.0, 3.0], atol=0.03)
    assert mix.weights[0] == pytest.approx(0.75, abs=0.03)
    assert mix.mean == pytest.approx(draws.mean(), abs=1e-6)  # EM keeps the mean exactly
