"""Effective sample size: closed forms, brute-force integrals and predictive consistency."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning import BetaMixture, ess, ess_table, posterior, predictive


def _logpdf(mix: BetaMixture):
    """Mixture log-density built from scipy (independent of pclbayes)."""

    def f(x):
        x = np.asarray(x, dtype=float)
        comps = [
            np.log(w) + stats.beta.logpdf(x, a, b)
            for w, a, b in zip(mix.weights, mix.a, mix.b, strict=True)
        ]
        return special.logsumexp(np.stack(comps), axis=0)

    return f


def _neg_second_derivative(f, x: float, h: float) -> float:
    return -(f(x + h) - 2 * f(x) + f(x - h)) / h**2


@pytest.mark.parametrize(("a", "b"), [(5, 15), (2.5, 3.5), (40, 11), (1.5, 80)])
def test_single_beta_closed_forms(a: float, b: float) -> None:
    mix = BetaMixture.single(a, b)
    assert ess(mix, "moment") == pytest.approx(a + b, rel=1e-12)
    assert ess(mix, "elir") == pytest.approx(a + b, rel=1e-9)
    # Morita at the mean: (a + b) - 1/s exactly (flattened prior Beta(m/s, (1-m)/s))
    assert ess(mix, "morita", location="mean", s=100) == pytest.approx(a + b - 0.01, rel=1e-10)
    assert ess(mix, "morita", location="mean", s=1e8) == pytest.approx(a + b, rel=1e-8)


@pytest.mark.parametrize(("a", "b"), [(5, 15), (2.5, 3.5), (40, 11)])
def test_single_beta_morita_at_mode_closed_form(a: float, b: float) -> None:
    s = 100.0
    m = (a - 1) / (a + b - 2)
    info = (a + b - 2) ** 3 / ((a - 1) * (b - 1))  # -d2 log Beta(a, b) at its mode
    info_flat = (m / s - 1) / m**2 + ((1 - m) / s - 1) / (1 - m) ** 2
    p0 = b / (a + b)
    expected_info = p0 / (1 - m) ** 2 + (1 - p0) / m**2
    closed = (info - info_flat) / expected_info
    assert ess(BetaMixture.single(a, b), "morita") == pytest.approx(closed, rel=1e-7)
    assert closed == pytest.approx(a + b, rel=0.01)


def test_elir_boundary_cases_on_rate_scale() -> None:
    # Beta(1, 1): zero curvature -> 0; Beta(1, b): E[(b-1) theta/(1-theta)] = 1; Beta(a, 1): 1
    assert ess(BetaMixture.single(1, 1)) == pytest.approx(0.0, abs=1e-9)
    assert ess(BetaMixture.single(1, 7)) == pytest.approx(1.0, rel=1e-9)
    assert ess(BetaMixture.single(4, 1)) == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (0.3, 4.0), (6.0, 0.8)])
def test_elir_below_one_is_logit_scale_with_warning(a: float, b: float) -> None:
    with pytest.warns(StatisticalWarning, match="logit scale"):
        value = ess(BetaMixture.single(a, b))
    assert value == pytest.approx(a + b, rel=1e-8)


def test_elir_mixture_matches_brute_force_integral() -> None:
    mix = BetaMixture([0.55, 0.3, 0.15], [30.0, 4.0, 1.0], [90.0, 6.0, 1.0])
    f = _logpdf(mix)

    def integrand(x: float) -> float:
        h = 1e-4 * min(x, 1 - x)
        return float(np.exp(f(x))) * _neg_second_derivative(f, x, h) * x * (1 - x)

    brute = integrate.quad(integrand, 1e-9, 1 - 1e-9, limit=400, points=[0.25])[0]
    assert ess(mix, "elir") == pytest.approx(brute, rel=1e-5)


def test_elir_with_shapes_below_one_matches_logit_scale_integral() -> None:
    mix = BetaMixture([0.7, 0.3], [12.0, 0.4], [20.0, 1.6])  # robust Beta(0.4, 1.6) component

    def log_p_eta(eta: np.ndarray) -> np.ndarray:  # density of logit(theta)
        t = special.expit(eta)
        return _logpdf(mix)(t) + np.log(t) + np.log1p(-t)

    cut, h = -20.0, 0.02
    eta = np.linspace(cut, 30.0, 50_001)
    f = [log_p_eta(eta + k * h) for k in (-2, -1, 0, 1, 2)]
    info = -(-f[0] + 16 * f[1] - 30 * f[2] + 16 * f[3] - f[4]) / (12 * h**2)  # 4th order
    t = special.expit(eta)
    body = integrate.simpson(np.exp(f[2]) * info / (t * (1 - t)), x=eta)
    # Below the cut only the Beta(0.4, 1.6) component matters; its logit-scale ratio is a + b.
    tail = 2.0 * 0.3 * stats.beta.cdf(special.expit(cut), 0.4, 1.6)
    with pytest.warns(StatisticalWarning):
        value = ess(mix, "elir")
    assert value == pytest.approx(body + tail, rel=1e-6)


def test_morita_mixture_matches_independent_computation() -> None:
    mix = BetaMixture([0.8, 0.2], [10.0, 2.0], [25.0, 2.0])
    f = _logpdf(mix)
    mode = optimize.minimize_scalar(
        lambda x: -float(f(x)), bounds=(0.1, 0.5), method="bounded", options={"xatol": 1e-12}
    ).x
    s = 100.0
    info = _neg_second_derivative(f, mode, 1e-4)
    info_flat = (mode / s - 1) / mode**2 + ((1 - mode) / s - 1) / (1 - mode) ** 2
    p0 = float(np.sum(mix.weights * mix.b / (mix.a + mix.b)))
    expected = p0 / (1 - mode) ** 2 + (1 - p0) / mode**2
    assert ess(mix, "morita") == pytest.approx((info - info_flat) / expected, rel=1e-5)


def test_moment_mixture_matches_quadrature_moments() -> None:
    mix = BetaMixture([0.5, 0.5], [3.0, 20.0], [7.0, 10.0])
    pdf = lambda x: np.exp(_logpdf(mix)(x))  # noqa: E731
    m = integrate.quad(lambda x: x * pdf(x), 0, 1)[0]
    v = integrate.quad(lambda x: (x - m) ** 2 * pdf(x), 0, 1)[0]
    assert ess(mix, "moment") == pytest.approx(m * (1 - m) / v - 1, rel=1e-8)


def test_elir_is_predictively_consistent() -> None:
    """Neuenschwander et al. (2020): E_pred[ESS(posterior after m)] - m = ESS(prior)."""
    prior = BetaMixture([0.3, 0.7], [3.0, 12.0], [9.0, 4.0])
    m = 10
    pred = predictive(prior, m).pmf()
    averaged = sum(pred[r] * ess(posterior(prior, r, m)) for r in range(m + 1)) - m
    assert averaged == pytest.approx(ess(prior), rel=1e-8)


def test_morita_warns_for_multimodal_prior() -> None:
    mix = BetaMixture([0.5, 0.5], [10.0, 40.0], [40.0, 10.0])
    with pytest.warns(StatisticalWarning, match="modes"):
        ess(mix, "morita")


def test_morita_needs_interior_mode() -> None:
    with pytest.raises(SpecError, match="interior mode"):
        ess(BetaMixture.single(0.5, 3.0), "morita")
    with pytest.warns(StatisticalWarning, match="0 or 1"):
        value = ess(BetaMixture([0.9, 0.1], [20.0, 0.5], [40.0, 2.0]), "morita")
    assert np.isfinite(value)


def test_elir_handles_sharp_multimodal_mixture() -> None:
    mix = BetaMixture([0.5, 0.5], [3000.0, 900.0], [9000.0, 100.0])
    with pytest.warns(StatisticalWarning):
        morita = ess(mix, "morita")
    elir = ess(mix, "elir")
    assert np.isfinite(elir) and np.isfinite(morita)
    # two well separated components: the information is about the average of the components
    assert elir == pytest.approx(0.5 * 12000 + 0.5 * 1000, rel=0.01)


def test_invalid_method_and_table() -> None:
    with pytest.raises(SpecError, match="unknown ESS method"):
        ess(BetaMixture.single(2, 2), "bogus")  # type: ignore[arg-type]
    table = ess_table(BetaMixture.single(4, 6))
    assert set(table) == {"elir", "morita", "moment"}
