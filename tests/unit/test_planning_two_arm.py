"""pclbayes.planning.two_arm against independent quadrature, enumeration and simulation."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import integrate, special, stats

from pclbayes.errors import SpecError
from pclbayes.planning import BetaMixture, ess, posterior, robustify
from pclbayes.planning.two_arm import (
    DifferenceCriterion,
    TwoArmDesign,
    prob_difference,
    two_arm_assurance,
    two_arm_oc,
    two_arm_prob_matrix,
    two_arm_rule,
    two_arm_sample_size,
)

MAP = BetaMixture([0.6, 0.4], [12.0, 3.0], [36.0, 7.0])
ROBUST = robustify(MAP, weight=0.2, mean=0.3)  # robust component Beta(0.6, 1.4): a < 1
TREAT = BetaMixture.single(1, 1)


def _h(x: float, delta: float, scale: str) -> float:
    if scale == "difference":
        return x + delta
    if scale == "log_odds_ratio":
        return float(special.expit(special.logit(x) + delta))
    return x * np.exp(delta)


def _quad_prob(mix_t: BetaMixture, mix_c: BetaMixture, delta: float, scale: str) -> float:
    """P(g(t) - g(c) > delta) by adaptive quadrature (scipy.integrate.quad) per component."""
    total = 0.0
    for wc, ac, bc in zip(mix_c.weights, mix_c.a, mix_c.b, strict=True):
        def integrand(x: float, ac: float = ac, bc: float = bc) -> float:
            u = min(max(_h(x, delta, scale), 0.0), 1.0)
            sf = sum(
                w * stats.beta.sf(u, a, b)
                for w, a, b in zip(mix_t.weights, mix_t.a, mix_t.b, strict=True)
            )
            return stats.beta.pdf(x, ac, bc) * sf

        mid = ac / (ac + bc)
        total += wc * integrate.quad(
            integrand, 0, 1, points=[mid], limit=400, epsabs=1e-13, epsrel=1e-12
        )[0]
    return total


def _quantile_prob(mix_t: BetaMixture, mix_c: BetaMixture, delta: float) -> float:
    """P(t - c > delta) = E_c[S_t(c + delta)] by Gauss-Legendre in the control quantiles."""
    z, wz = np.polynomial.legendre.leggauss(40)
    edges = np.array([0, 1e-9, 1e-6, 1e-3, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98, 1 - 1e-3,
                      1 - 1e-6, 1 - 1e-9, 1])
    lo, hi = edges[:-1, None], edges[1:, None]
    u = (lo + (hi - lo) * (z + 1) / 2).ravel()
    wu = ((hi - lo) / 2 * wz).ravel()
    total = 0.0
    for wc, ac, bc in zip(mix_c.weights, mix_c.a, mix_c.b, strict=True):
        x = np.clip(special.betaincinv(ac, bc, u) + delta, 0, 1)
        sf = sum(
            w * stats.beta.sf(x, a, b)
            for w, a, b in zip(mix_t.weights, mix_t.a, mix_t.b, strict=True)
        )
        total += wc * float(wu @ sf)
    return total


@pytest.mark.parametrize(
    ("mix_t", "mix_c", "delta", "scale"),
    [
        (BetaMixture.single(0.4, 101.6), BetaMixture.single(0.5, 1.5), 0.0, "difference"),
        (BetaMixture.single(1, 1), BetaMixture.single(30, 70), -0.1, "difference"),
        (BetaMixture.single(800, 200), BetaMixture.single(700, 300), 0.05, "difference"),
        (
            BetaMixture([0.5, 0.5], [3, 0.3], [2, 20]),
            BetaMixture([0.7, 0.3], [10, 0.6], [40, 1.4]),
            np.log(2),
            "log_odds_ratio",
        ),
        (
            BetaMixture([0.5, 0.5], [3, 0.3], [2, 20]),
            BetaMixture([0.7, 0.3], [10, 1.6], [40, 0.4]),
            np.log(1.5),
            "log_risk_ratio",
        ),
        (BetaMixture.single(2, 1000), BetaMixture.single(1, 1500), 0.0, "log_odds_ratio"),
    ],
)
def test_prob_difference_matches_adaptive_quadrature(
    mix_t: BetaMixture, mix_c: BetaMixture, delta: float, scale: str
) -> None:
    # includes densities unbounded at 0 or 1 (shapes < 1), very concentrated posteriors and
    # a clipped transform (log risk ratio above 1)
    assert prob_difference(mix_t, mix_c, delta, scale) == pytest.approx(
        _quad_prob(mix_t, mix_c, delta, scale), abs=5e-8
    )


def test_prob_difference_closed_form_uniform_posteriors() -> None:
    # theta_t, theta_c independent uniform: P(t - c > d) = (1 - d)^2 / 2 for 0 <= d < 1
    u = BetaMixture.single(1, 1)
    for d in (0.0, 0.3, 0.7):
        assert prob_difference(u, u, d) == pytest.approx((1 - d) ** 2 / 2, abs=1e-12)


def test_prob_matrix_matches_quadrature_for_every_outcome() -> None:
    n_t, n_c = 7, 5
    crit = DifferenceCriterion(0.1, 0.8)
    mat = two_arm_prob_matrix(TREAT, n_t, ROBUST, n_c, crit)
    assert mat.shape == (n_t + 1, n_c + 1)
    for yt in (0, 7):
        for yc in (0, 5):
            post_t, post_c = posterior(TREAT, yt, n_t), posterior(ROBUST, yc, n_c)
            ref = _quad_prob(post_t, post_c, 0.1, "difference")
            assert mat[yt, yc] == pytest.approx(ref, abs=5e-8)


def test_boundary_equals_brute_force_decisions() -> None:
    n_t, n_c = 9, 6
    rule = two_arm_rule([0.0, 0.15], [0.9, 0.5])
    design = TwoArmDesign(TREAT, ROBUST, n_t, n_c, rule)
    for yc in range(n_c + 1):
        post_c = posterior(ROBUST, yc, n_c)
        probs = np.array(
            [
                [_quantile_prob(posterior(TREAT, yt, n_t), post_c, c.delta) for c in rule.criteria]
                for yt in range(n_t + 1)
            ]
        )
        margin = np.abs(probs - [c.prob for c in rule.criteria])
        assert margin.min() > 1e-5  # no near-tie: the comparison below is meaningful
        ok = list(np.all(probs > [c.prob for c in rule.criteria], axis=1))
        first = next((yt for yt, v in enumerate(ok) if v), n_t + 1)
        assert design.boundary[yc] == first
        assert all(ok[first:])  # success is an upper set in y_t
    assert np.all(np.diff(design.boundary) >= 0)


def test_oc_grid_equals_double_sum_over_outcomes() -> None:
    n_t, n_c = 20, 12
    rule = two_arm_rule(0.0, 0.95)
    design = TwoArmDesign(TREAT, ROBUST, n_t, n_c, rule)
    dec = np.arange(n_t + 1)[:, None] >= design.boundary[None, :]
    tt, tc = np.array([0.2, 0.5, 0.7]), np.array([0.2, 0.3])
    grid = design.prob_success(tt, tc, grid=True)
    for i, a in enumerate(tt):
        for j, c in enumerate(tc):
            joint = np.outer(stats.binom.pmf(np.arange(n_t + 1), n_t, a),
                             stats.binom.pmf(np.arange(n_c + 1), n_c, c))
            assert grid[i, j] == pytest.approx(float(np.sum(joint * dec)), abs=1e-13)
    paired = design.prob_success(tt[:2], tc)
    np.testing.assert_allclose(paired, [grid[0, 0], grid[1, 1]], atol=1e-15)


def test_oc_matches_per_trial_simulation() -> None:
    n_t, n_c = 30, 15
    rule = two_arm_rule([0.0, 0.1], [0.95, 0.5])
    res = two_arm_oc(TREAT, ROBUST, n_t, n_c, rule, [0.3, 0.55], [0.3, 0.25])
    rng = np.random.default_rng(2024)
    sims = 20_000
    dec = {
        c: two_arm_prob_matrix(TREAT, n_t, ROBUST, n_c, c) > c.prob for c in rule.criteria
    }
    for k, (a, c) in enumerate([(0.3, 0.3), (0.55, 0.25)]):
        yt = rng.binomial(n_t, a, sims)
        yc = rng.binomial(n_c, c, sims)
        success = np.all([d[yt, yc] for d in dec.values()], axis=0)
        est = success.mean()
        se = np.sqrt(res.prob_success[k] * (1 - res.prob_success[k]) / sims)
        assert abs(est - res.prob_success[k]) < 4 * se + 1e-12


def test_assurance_matches_independent_sum_and_simulation() -> None:
    n_t, n_c = 25, 10
    rule = two_arm_rule(0.0, 0.9)
    design_t = BetaMixture.single(10, 10)
    value = two_arm_assurance(TREAT, ROBUST, n_t, n_c, rule, design_t=design_t)
    b = TwoArmDesign(TREAT, ROBUST, n_t, n_c, rule).boundary
    # independent: beta-binomial pmfs from scipy, control design prior = analysis prior
    p_t = stats.betabinom.pmf(np.arange(n_t + 1), n_t, 10, 10)
    p_c = sum(
        w * stats.betabinom.pmf(np.arange(n_c + 1), n_c, a, bb)
        for w, a, bb in zip(ROBUST.weights, ROBUST.a, ROBUST.b, strict=True)
    )
    ref = sum(p_c[yc] * p_t[b[yc]:].sum() for yc in range(n_c + 1))
    assert value == pytest.approx(ref, abs=1e-12)
    rng = np.random.default_rng(7)
    sims = 40_000
    yt = rng.binomial(n_t, design_t.sample(sims, rng))
    yc = rng.binomial(n_c, ROBUST.sample(sims, rng))
    est = np.mean(yt >= b[yc])
    assert abs(est - value) < 4 * np.sqrt(value * (1 - value) / sims)


def test_sample_size_table_and_ess_allocation() -> None:
    rule = two_arm_rule(0.0, 0.95)
    res = two_arm_sample_size(
        TREAT, ROBUST, rule, null=[0.2, 0.3, 0.4], alt_t=0.6, alt_c=0.25,
        power=0.8, alpha=0.1, n_t_min=10, n_t_max=40, step=5, allocation="ess", n_c_min=3,
    )
    assert res.control_ess == pytest.approx(ess(ROBUST))
    for row in res.table.itertuples():
        assert row.n_c == max(row.n_t - round(ess(ROBUST)), 3)
        d = TwoArmDesign(TREAT, ROBUST, row.n_t, row.n_c, rule)
        t1 = d.prob_success([0.2, 0.3, 0.4], [0.2, 0.3, 0.4])
        assert row.type1_error == pytest.approx(t1.max(), abs=1e-14)
        assert row.power == pytest.approx(d.prob_success(0.6, 0.25)[0], abs=1e-14)
        assert row.ok == (t1.max() <= 0.1 and row.power >= 0.8)
    if res.n_t is not None:
        assert res.table.loc[res.table["ok"], "n_t"].min() == res.n_t
    assert "n_t" in str(res) and res.to_dict()["allocation"].startswith("n_c = n_t")


def test_grid_of_50_by_50_is_fast() -> None:
    rule = two_arm_rule([0.0, 0.1], [0.95, 0.5])
    TwoArmDesign(TREAT, ROBUST, 10, 10, rule)  # warm the node cache
    start = time.perf_counter()
    design = TwoArmDesign(TREAT, ROBUST, 100, 100, rule)
    grid = design.prob_success(np.linspace(0, 1, 50), np.linspace(0, 1, 50), grid=True)
    assert grid.shape == (50, 50)
    assert time.perf_counter() - start < 2.0  # about 0.3 s on 2 shared cores


def test_no_control_patients_uses_the_prior_alone() -> None:
    d = TwoArmDesign(TREAT, MAP, 10, 0, two_arm_rule(0.0, 0.9))
    assert d.boundary.shape == (1,)
    yt = int(d.boundary[0])
    assert _quad_prob(posterior(TREAT, yt, 10), MAP, 0.0, "difference") > 0.9
    assert _quad_prob(posterior(TREAT, yt - 1, 10), MAP, 0.0, "difference") <= 0.9


def test_impossible_success_is_marked() -> None:
    d = TwoArmDesign(TREAT, TREAT, 2, 2, two_arm_rule(0.0, 0.999))
    assert np.all(d.boundary == 3)
    assert d.boundary_list() == [None, None, None]
    assert d.prob_success(1.0, 0.0)[0] == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": 1.5},
        {"prob": 1.0},
        {"scale": "ratio"},
        {"delta": float("nan"), "scale": "log_odds_ratio"},
    ],
)
def test_invalid_criteria_are_spec_errors(kwargs: dict) -> None:
    with pytest.raises(SpecError):
        DifferenceCriterion(**kwargs)


def test_mismatched_paired_rates_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="equal lengths"):
        two_arm_oc(TREAT, MAP, 5, 5, two_arm_rule(), [0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(SpecError):
        two_arm_oc(TREAT, MAP, 5, 5, two_arm_rule(), [1.2], [0.1])
