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


def test_elir_rate_scale_boundary_terms() -> None:
    # The rate-scale integral differs from the ELIR by the boundary densities p(0+) + p(1-):
    # Beta(1, 1): no curvature, 0 = 2 - 1 - 1; Beta(1, b): E[(b-1) θ/(1-θ)] = 1 = (1 + b) - b.
    for a_, b_, boundary in [(1, 1, 2.0), (1, 7, 7.0), (4, 1, 4.0)]:
        rate_scale = 0.0 if a_ == b_ == 1 else 1.0
        assert ess(BetaMixture.single(a_, b_)) - boundary == pytest.approx(rate_scale, abs=1e-9)


def test_elir_mixture_matches_brute_force_integral() -> None:
    mix = BetaMixture([0.55, 0.3, 0.15], [30.0, 4.0, 1.0], [90.0, 6.0, 1.0])
    f = _logpdf(mix)

    def integrand(x: float) -> float:
        h = 1e-4 * min(x, 1 - x)
        return float(np.exp(f(x))) * _neg_second_derivative(f, x, h) * x * (1 - x)

    brute = integrate.quad(integrand, 1e-9, 1 - 1e-9, limit=400, points=[0.25])[0]
    # rate-scale integral plus the boundary densities of the uniform component, 0.15 * (1 + 1)
    assert ess(mix, "elir") == pytest.approx(brute + 0.3, rel=1e-5)


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
    assert ess(mix, "elir") == pytest.approx(body + tail, rel=1e-6)


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


# ------------------------------------------------------------- ELIR on the logit scale
def _rate_scale_elir_quad(a: float, b: float) -> float:
    """Rate-scale ELIR of Beta(a, b), a, b > 1, by quadrature in the quantile space.

    ``i_p(θ) θ(1-θ) = (a-1)(1-θ)/θ + (b-1)θ/(1-θ)``, averaged with ``θ = F^{-1}(u)``. The
    integrand behaves like ``u^(-1/a)`` at 0 and ``(1-u)^(-1/b)`` at 1; the substitutions
    ``u = v^m`` with ``m = 2a/(a-1)`` (and ``1 - u = v^m`` with ``m = 2b/(b-1)``) make it smooth.
    """
    ma, mb = 2 * a / (a - 1), 2 * b / (b - 1)

    def lower(v: float) -> float:  # θ = F^{-1}(v^ma)
        t = special.betaincinv(a, b, v**ma)
        ratio = (a - 1) * (1 - t) / t + (b - 1) * t / (1 - t) if t > 0 else 0.0
        return ratio * ma * v ** (ma - 1)

    def upper(v: float) -> float:  # 1 - θ = G^{-1}(v^mb), G the cdf of Beta(b, a)
        s = special.betaincinv(b, a, v**mb)
        ratio = (a - 1) * s / (1 - s) + (b - 1) * (1 - s) / s if s > 0 else 0.0
        return ratio * mb * v ** (mb - 1)

    return (
        integrate.quad(lower, 0, 0.5 ** (1 / ma), limit=200, epsrel=1e-10)[0]
        + integrate.quad(upper, 0, 0.5 ** (1 / mb), limit=200, epsrel=1e-10)[0]
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, 1), (1, 10), (10, 1), (1, 0.5), (0.5, 1), (0.5, 0.5), (0.5, 2), (2, 0.5), (2, 2),
     (1, 2), (2, 1), (0.5, 10), (1, 37.5)],
)
def test_elir_single_beta_is_a_plus_b_for_any_shape(a: float, b: float) -> None:
    # Neuenschwander et al. (2020): ELIR of Beta(a, b) = a + b; no special case at a or b = 1
    # and no warning below 1 (pytest turns warnings into errors).
    assert ess(BetaMixture.single(a, b), "elir") == pytest.approx(a + b, rel=1e-9)


@pytest.mark.parametrize("b", [1.0, 10.0, 2.0])
def test_elir_is_continuous_as_a_tends_to_one(b: float) -> None:
    at_one = ess(BetaMixture.single(1.0, b))
    # From above, the rate-scale integral (well defined for a, b > 1) tends to 1 + b ...
    if b > 1:
        for eps in (0.3, 0.1, 0.05):
            assert _rate_scale_elir_quad(1 + eps, b) == pytest.approx(1 + eps + b, rel=1e-6)
    # ... and from both sides the ELIR moves by the change of a alone.
    for eps in (1e-2, 1e-4, 1e-6):
        assert ess(BetaMixture.single(1 + eps, b)) - at_one == pytest.approx(eps, abs=1e-8)
        assert ess(BetaMixture.single(1 - eps, b)) - at_one == pytest.approx(-eps, abs=1e-8)
    assert at_one == pytest.approx(1 + b, rel=1e-9)


def _logit_scale_elir_grid(mix: BetaMixture, half_width: float = 150.0) -> float:
    """ELIR on the logit scale integrated on a plain grid in η = logit θ.

    The logit-scale density is ``q(η) = Σ w_k q_k(η)``, ``log q_k = a_k log θ + b_k log(1-θ)
    - log B(a_k, b_k)``, with ``d log q_k/dη = a_k - n_k θ`` and ``d² log q_k/dη² = -n_k θ(1-θ)``
    (``n_k = a_k + b_k``). For a mixture, ``-d² log q = E_r[n_k] θ(1-θ) - Var_r[a_k - n_k θ]``
    with the responsibilities ``r``; dividing by the Bernoulli information θ(1-θ) and
    integrating ``q(η) · ratio`` (in log space where it is large) by Simpson's rule on
    [-half_width, half_width], 2 000 points per unit, gives the ELIR.
    """
    eta = np.linspace(-half_width, half_width, int(4_000 * half_width) + 1)
    lt, l1t = -np.logaddexp(0, -eta), -np.logaddexp(0, eta)  # log θ, log(1 - θ)
    t = np.exp(lt)
    w, a, b = mix.weights[:, None], mix.a[:, None], mix.b[:, None]
    lc = np.log(w) + a * lt + b * l1t - special.betaln(a, b)
    lq = special.logsumexp(lc, axis=0)
    r = np.exp(lc - lq)
    g = a - (a + b) * t
    var = np.sum(r * (g - np.sum(r * g, axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore"):
        log_var = np.log(var)
    f = np.exp(lq) * np.sum(r * (a + b), axis=0) - np.exp(lq + log_var - lt - l1t)
    return float(integrate.simpson(f, x=eta))


@pytest.mark.parametrize("robust_mean", [0.2, 0.35, 0.5, 0.65, 0.9])
def test_elir_of_robust_mixture_is_logit_scale_for_every_robust_mean(robust_mean: float) -> None:
    # The robust component Beta(2m, 2(1-m)) has a shape below 1 unless m = 1/2; the ELIR must
    # be the same quantity (logit scale) whatever m, so it is smooth in m.
    inf = BetaMixture([0.6, 0.4], [12.0, 3.0], [20.0, 4.0])
    rob = inf.robustify(0.2, mean=robust_mean)
    assert ess(rob) == pytest.approx(_logit_scale_elir_grid(rob), rel=1e-6)


def test_elir_has_no_jump_at_robust_mean_one_half() -> None:
    inf = BetaMixture([0.6, 0.4], [12.0, 3.0], [20.0, 4.0])
    centre = ess(inf.robustify(0.2, mean=0.5))
    for m in (0.5 - 1e-7, 0.5 + 1e-7):
        assert ess(inf.robustify(0.2, mean=m)) == pytest.approx(centre, abs=1e-5)


def test_elir_equals_rate_scale_integral_when_density_vanishes_at_both_ends() -> None:
    # For a, b > 1 the logit-scale ELIR is the rate-scale integral of Neuenschwander et al.,
    # int p(θ) i_p(θ) θ(1-θ) dθ, here with the analytic mixture curvature
    # i_p = E_r[(a-1)/θ² + (b-1)/(1-θ)²] - Var_r[(a-1)/θ - (b-1)/(1-θ)] (r: responsibilities),
    # integrated over η = logit θ (dθ = θ(1-θ) dη) so the endpoint behaviour is resolved.
    w, a, b = np.array([0.5, 0.5]), np.array([1.3, 6.0]), np.array([4.0, 1.2])

    def integrand(eta: float) -> float:
        lt, l1t = -np.logaddexp(0, -eta), -np.logaddexp(0, eta)
        t, s = np.exp(lt), np.exp(l1t)  # θ and 1 - θ without cancellation
        lc = np.log(w) + (a - 1) * lt + (b - 1) * l1t - special.betaln(a, b)
        r = np.exp(lc - special.logsumexp(lc))
        grad_ts = (a - 1) * s - (b - 1) * t  # gradient times θ(1-θ)
        hess_ts2 = (a - 1) * s**2 + (b - 1) * t**2  # curvature times θ²(1-θ)²
        info_ts2 = r @ hess_ts2 - r @ (grad_ts - r @ grad_ts) ** 2
        return float(np.exp(special.logsumexp(lc)) * info_ts2)

    brute = integrate.quad(integrand, -400, 400, points=[-50, -10, -2, 0, 2, 10, 50],
                           limit=800)[0]
    assert ess(mix := BetaMixture(w, a, b)) == pytest.approx(brute, rel=1e-6)
    assert mix.n_components == 2


def test_elir_predictively_consistent_with_shapes_at_and_below_one() -> None:
    prior = BetaMixture([0.5, 0.3, 0.2], [6.0, 1.5, 0.4], [3.0, 1.0, 1.6])
    m = 8
    pred = predictive(prior, m).pmf()
    averaged = sum(pred[r] * ess(posterior(prior, r, m)) for r in range(m + 1)) - m
    assert averaged == pytest.approx(ess(prior), rel=1e-8)


@pytest.mark.parametrize(
    ("weights", "a", "b"),
    [([0.8, 0.2], [1.0, 0.4], [1.0, 1.6]), ([0.5, 0.5], [4.0, 2.0], [0.5, 1.0]),
     ([0.6, 0.4], [0.7, 0.9], [3.0, 2.0])],
)
def test_elir_diverges_with_two_heavy_components_at_one_end(weights, a, b) -> None:
    # Near θ = 0 the logit density is ~ w1 c1 θ^a1 + w2 c2 θ^a2 (a1 < a2): its log has negative
    # curvature ~ e^{(a2 - a1) η}, weighted by θ^a1 / θ it leaves ~ e^{(a2 - 1) η}, which is not
    # integrable at η -> -inf when a2 <= 1 (and likewise for b at θ = 1).
    with pytest.raises(SpecError, match="diverges"):
        ess(BetaMixture(weights, a, b))


@pytest.mark.heavy
def test_elir_near_divergence_accurate_or_refused() -> None:
    # A fitted component with b just above 1 next to a robust Beta(1.6, 0.4) (robust mean 0.8):
    # the integrand decays like e^{-(b - 1) η} near θ = 1, so the far tail matters.
    for b_near, ok in [(1.105, True), (1.05, True), (1.01, False)]:
        mix = BetaMixture([0.6022, 0.1978, 0.2], [6.23, 1.502, 1.6], [3.225, b_near, 0.4])
        if ok:  # the grid reaches e^{-0.05 * 300} = 3e-7 of the tail
            assert ess(mix) == pytest.approx(_logit_scale_elir_grid(mix, 300.0), abs=2e-3)
        else:
            with pytest.raises(SpecError, match="far tail"):
                ess(mix)
