"""BetaMixture: moments, densities, quantiles, sampling, validation and robustification."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from pclbayes.errors import SpecError
from pclbayes.planning import BetaMixture, robustify

MIX = BetaMixture([0.5, 0.3, 0.2], [12.0, 3.0, 0.7], [30.0, 3.0, 2.5], names=["a", "b", "c"])


def _scipy_pdf(x: np.ndarray) -> np.ndarray:
    return sum(
        w * stats.beta.pdf(x, a, b) for w, a, b in zip(MIX.weights, MIX.a, MIX.b, strict=True)
    )


def test_moments_match_direct_formula_and_quadrature() -> None:
    w, a, b = np.array([0.5, 0.3, 0.2]), np.array([12.0, 3.0, 0.7]), np.array([30.0, 3.0, 2.5])
    mean = np.sum(w * a / (a + b))
    second = np.sum(w * a * (a + 1) / ((a + b) * (a + b + 1)))
    assert MIX.mean == pytest.approx(mean, rel=1e-14)
    assert MIX.var == pytest.approx(second - mean**2, rel=1e-12)
    quad_mean = integrate.quad(lambda x: x * _scipy_pdf(x), 0, 1, limit=200)[0]
    quad_var = integrate.quad(lambda x: (x - quad_mean) ** 2 * _scipy_pdf(x), 0, 1, limit=200)[0]
    assert MIX.mean == pytest.approx(quad_mean, rel=1e-8)
    assert MIX.sd == pytest.approx(np.sqrt(quad_var), rel=1e-7)


def test_pdf_cdf_sf_ppf_consistent_with_scipy() -> None:
    x = np.array([0.01, 0.1, 0.3, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(MIX.pdf(x), _scipy_pdf(x), rtol=1e-12)
    np.testing.assert_allclose(MIX.logpdf(x), np.log(_scipy_pdf(x)), rtol=1e-12)
    cdf = [integrate.quad(_scipy_pdf, 0, xi, limit=200)[0] for xi in x]
    np.testing.assert_allclose(MIX.cdf(x), cdf, atol=1e-9)
    np.testing.assert_allclose(MIX.sf(x), 1 - np.asarray(cdf), atol=1e-9)
    q = np.array([0.001, 0.025, 0.5, 0.975, 0.999])
    np.testing.assert_allclose(MIX.cdf(MIX.ppf(q)), q, atol=1e-11)
    assert MIX.pdf(-0.1) == 0.0 and MIX.pdf(1.5) == 0.0
    assert MIX.ppf([0.0, 1.0]).tolist() == [0.0, 1.0]


def test_sampling_reproduces_moments_within_monte_carlo_error() -> None:
    draws = MIX.sample(20_000, np.random.default_rng(11))
    se = MIX.sd / np.sqrt(draws.size)
    assert abs(draws.mean() - MIX.mean) < 4 * se
    # same seed, same draws
    np.testing.assert_array_equal(draws, MIX.sample(20_000, np.random.default_rng(11)))


def test_tables_and_text() -> None:
    frame = MIX.to_frame()
    assert list(frame.index) == ["a", "b", "c"]
    assert list(frame.columns) == ["weight", "a", "b", "mean", "n"]
    summary = MIX.summary()
    assert list(summary.columns) == ["mean", "sd", "q2.5", "q50", "q97.5"]
    assert isinstance(summary, pd.DataFrame)
    text = str(MIX)
    assert "Beta mixture (3 components)" in text and "95% interval" in text
    assert "BetaMixture(" in repr(MIX)


def test_parameters_are_read_only_and_equality() -> None:
    with pytest.raises(ValueError, match="read-only"):
        MIX.weights[0] = 1.0
    same = BetaMixture([0.5, 0.3, 0.2], [12.0, 3.0, 0.7], [30.0, 3.0, 2.5], names=["a", "b", "c"])
    assert same == MIX
    assert BetaMixture.single(2, 3) != MIX


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.5, 0.6], [1, 1], [1, 1]), "sum to 1"),
        (([1.2, -0.2], [1, 1], [1, 1]), "non-negative"),
        (([1.0], [0.0], [1]), "> 0"),
        (([0.5, 0.5], [1], [1, 1]), "same length"),
        (([1.0], [np.nan], [1]), "finite"),
    ],
)
def test_invalid_parameters_raise_spec_error(args: tuple, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        BetaMixture(*args)
    with pytest.raises(ValueError):  # SpecError is a ValueError
        BetaMixture(*args)


def test_duplicate_names_rejected() -> None:
    with pytest.raises(SpecError, match="unique"):
        BetaMixture([0.5, 0.5], [1, 2], [1, 2], names=["x", "x"])


def test_robustify_default_is_uniform_component() -> None:
    rob = robustify(MIX, weight=0.2)
    np.testing.assert_allclose(rob.weights, np.r_[0.8 * MIX.weights, 0.2])
    assert rob.names[-1] == "robust"
    assert (rob.a[-1], rob.b[-1]) == (1.0, 1.0)
    # mixture moments are linear in the weights
    assert rob.mean == pytest.approx(0.8 * MIX.mean + 0.2 * 0.5)


def test_robustify_mean_and_information() -> None:
    rob = robustify(MIX, weight=0.1, mean=0.2, n=1)
    assert (rob.a[-1], rob.b[-1]) == pytest.approx((0.4, 1.6))  # pseudo-sample n + 1 = 2
    rob3 = MIX.robustify(weight=0.1, mean=0.25, n=3)
    assert (rob3.a[-1], rob3.b[-1]) == pytest.approx((1.0, 3.0))


@pytest.mark.parametrize("kwargs", [{"weight": 0.0}, {"weight": 1.0}, {"mean": 1.2}, {"n": -1}])
def test_robustify_rejects_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(SpecError):
        robustify(MIX, **{"weight": 0.2, **kwargs})


def test_robustify_twice_is_refused() -> None:
    with pytest.raises(SpecError, match="already"):
        robustify(robustify(MIX), 0.1)


def test_from_mean_n() -> None:
    mix = BetaMixture.from_mean_n([0.4, 0.6], [0.2, 0.5], [10, 4])
    np.testing.assert_allclose(mix.a, [2.0, 2.0])
    np.testing.assert_allclose(mix.b, [8.0, 2.0])
