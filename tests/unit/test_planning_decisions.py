"""Decision rules and exact operating characteristics against scipy sums and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pclbayes.errors import SpecError
from pclbayes.planning import (
    BetaMixture,
    Criterion,
    InterimFutility,
    assurance,
    decision_boundary,
    decision_rule,
    operating_characteristics,
    posterior,
    robustify,
    sample_size,
)

UNIF = BetaMixture.single(1, 1)
ROBUST = robustify(BetaMixture([0.7, 0.3], [12.0, 5.0], [30.0, 6.0]), weight=0.2, mean=0.5)


def _brute_boundary(a: float, b: float, n: int, thr: float, prob: float) -> int | None:
    for r in range(n + 1):
        if stats.beta.sf(thr, a + r, b + n - r) > prob:
            return r
    return None


@pytest.mark.parametrize(
    ("a", "b", "n", "thr", "prob"),
    [(1, 1, 24, 0.2, 0.95), (0.5, 1, 40, 0.3, 0.9), (3, 7, 12, 0.25, 0.8)],
)
def test_boundary_matches_scipy_beta_tail(
    a: float, b: float, n: int, thr: float, prob: float
) -> None:
    rule = decision_rule(thr, prob)
    assert decision_boundary(BetaMixture.single(a, b), n, rule) == _brute_boundary(
        a, b, n, thr, prob
    )


def test_one_stage_oc_equals_binomial_tail() -> None:
    rule = decision_rule(0.2, 0.95)
    n = 30
    rates = np.linspace(0.0, 1.0, 21)
    res = operating_characteristics(UNIF, n, rule, rates)
    boundary = _brute_boundary(1, 1, n, 0.2, 0.95)
    np.testing.assert_allclose(res.prob_success, stats.binom.sf(boundary - 1, n, rates), atol=1e-13)
    assert res.boundary == boundary


def test_one_stage_oc_against_monte_carlo() -> None:
    rule = decision_rule([0.25, 0.35], [0.9, 0.5])  # dual criterion
    n, rates, n_sim = 20, np.array([0.2, 0.35, 0.5]), 20_000
    rng = np.random.default_rng(2024)
    exact = operating_characteristics(ROBUST, n, rule, rates).prob_success
    for rate, p in zip(rates, exact, strict=True):
        r_sim = rng.binomial(n, rate, size=n_sim)
        hits = np.array([rule.evaluate(ROBUST, int(r), n) for r in np.unique(r_sim)])
        freq = hits[np.searchsorted(np.unique(r_sim), r_sim)].mean()
        se = np.sqrt(max(p * (1 - p), 1e-4) / n_sim)
        assert abs(freq - p) < 4 * se


def test_dual_criterion_is_conjunction() -> None:
    c1, c2 = Criterion(0.25, 0.9), Criterion(0.35, 0.5)
    both = decision_rule([0.25, 0.35], [0.9, 0.5])
    r = np.arange(21)
    np.testing.assert_array_equal(
        both.indicator(ROBUST, 20), c1.met(ROBUST, r, 20) & c2.met(ROBUST, r, 20)
    )
    assert str(both) == "P(rate > 0.25 | data) > 0.9 and P(rate > 0.35 | data) > 0.5"


def test_lower_criterion_uses_lower_tail() -> None:
    c = Criterion(0.3, 0.8, "<")
    r = np.arange(11)
    np.testing.assert_allclose(c.posterior_prob(UNIF, r, 10), stats.beta.cdf(0.3, 1 + r, 11 - r))


def _two_stage_enumeration(prior, n1, n, rule, fut_rule, rate):
    """Independent double loop with scipy pmfs and scipy beta tails (single-beta prior)."""
    a, b = prior.a[0], prior.b[0]
    crit_final = lambda r: all(  # noqa: E731
        stats.beta.sf(c.threshold, a + r, b + n - r) > c.prob for c in rule.criteria
    )
    stop = lambda r1: all(  # noqa: E731
        stats.beta.cdf(c.threshold, a + r1, b + n1 - r1) > c.prob for c in fut_rule.criteria
    )
    total, p_stop = 0.0, 0.0
    for r1 in range(n1 + 1):
        p1 = stats.binom.pmf(r1, n1, rate)
        if stop(r1):
            p_stop += p1
            continue
        for r2 in range(n - n1 + 1):
            if crit_final(r1 + r2):
                total += p1 * stats.binom.pmf(r2, n - n1, rate)
    return total, p_stop


def test_two_stage_oc_matches_enumeration_and_simulation() -> None:
    prior = BetaMixture.single(0.5, 1.0)
    rule = decision_rule(0.2, 0.95)
    fut = InterimFutility(10, decision_rule(0.35, 0.85, "<"))
    rates = np.array([0.15, 0.3, 0.45])
    res = operating_characteristics(prior, 30, rule, rates, futility=fut)
    for i, rate in enumerate(rates):
        total, p_stop = _two_stage_enumeration(prior, 10, 30, rule, fut.rule, rate)
        assert res.prob_success[i] == pytest.approx(total, abs=1e-12)
        assert res.prob_stop_early[i] == pytest.approx(p_stop, abs=1e-12)
        assert res.expected_n[i] == pytest.approx(10 + (1 - p_stop) * 20, abs=1e-10)
    # seeded brute-force simulation of whole trials
    rng = np.random.default_rng(77)
    n_sim = 20_000
    s_final = rule.indicator(prior, 30)
    stop = fut.rule.indicator(prior, 10)
    for i, rate in enumerate(rates):
        r1 = rng.binomial(10, rate, n_sim)
        r2 = rng.binomial(20, rate, n_sim)
        success = ~stop[r1] & s_final[r1 + r2]
        p = res.prob_success[i]
        assert abs(success.mean() - p) < 4 * np.sqrt(max(p * (1 - p), 1e-4) / n_sim)
    assert res.futility_boundary == int(np.flatnonzero(stop)[-1])
    assert list(res.to_frame().columns) == [
        "true_rate",
        "prob_success",
        "prob_stop_early",
        "expected_n",
    ]
    assert "Interim" in str(res)


def test_assurance_uniform_prior_closed_form() -> None:
    # Under a uniform prior the predictive of R is uniform on 0..n.
    rule = decision_rule(0.2, 0.95)
    n = 24
    b = decision_boundary(UNIF, n, rule)
    assert assurance(UNIF, n, rule) == pytest.approx((n + 1 - b) / (n + 1), abs=1e-12)


def test_assurance_against_monte_carlo_with_design_prior_and_interim() -> None:
    rule = decision_rule(0.3, 0.9)
    fut = InterimFutility(8, decision_rule(0.4, 0.8, "<"))
    design = BetaMixture([0.5, 0.5], [6.0, 2.0], [10.0, 6.0])
    exact_one = assurance(ROBUST, 25, rule, design_prior=design)
    exact_two = assurance(ROBUST, 25, rule, design_prior=design, futility=fut)
    rng = np.random.default_rng(5)
    n_sim = 40_000
    theta = design.sample(n_sim, rng)
    r1 = rng.binomial(8, theta)
    r2 = rng.binomial(17, theta)
    s = rule.indicator(ROBUST, 25)
    stop = fut.rule.indicator(ROBUST, 8)
    for exact, sim in (
        (exact_one, s[r1 + r2].mean()),
        (exact_two, (~stop[r1] & s[r1 + r2]).mean()),
    ):
        assert abs(sim - exact) < 4 * np.sqrt(exact * (1 - exact) / n_sim)


def test_sample_size_meets_requirements_by_brute_force() -> None:
    rule = decision_rule(0.2, 0.9)
    res = sample_size(UNIF, rule, null=0.2, alt=0.4, power=0.8, alpha=0.1, n_max=80)

    def oc(n: int) -> tuple[float, float]:
        b = _brute_boundary(1, 1, n, 0.2, 0.9)
        return stats.binom.sf(b - 1, n, 0.2), stats.binom.sf(b - 1, n, 0.4)

    assert res.n is not None
    t1, pw = oc(res.n)
    assert t1 <= 0.1 and pw >= 0.8
    for n in range(1, res.n):  # nothing smaller qualifies
        t1, pw = oc(n)
        assert not (t1 <= 0.1 and pw >= 0.8)
    if res.n_stable is not None:
        assert all(res.table.loc[res.table["n"] >= res.n_stable, "ok"])
    d = res.to_dict()
    assert d["n"] == res.n and d["decision_boundary"] == _brute_boundary(1, 1, res.n, 0.2, 0.9)
    assert "Smallest n" in str(res)


def test_sample_size_impossible() -> None:
    res = sample_size(UNIF, decision_rule(0.2, 0.9), null=0.2, alt=0.25, n_max=10)
    assert res.n is None and res.to_dict()["power"] is None
    assert "No sample size" in str(res)


def test_success_impossible_reports_no_boundary() -> None:
    res = operating_characteristics(UNIF, 3, decision_rule(0.9, 0.99), [0.5])
    assert res.boundary is None and res.prob_success[0] == 0.0
    assert "impossible" in str(res)


def test_json_layout() -> None:
    d = operating_characteristics(UNIF, 10, decision_rule(0.2, 0.9), [0.2, 0.4]).to_dict()
    assert set(d) == {"n", "rule", "decision_boundary", "oc"}
    assert set(d["oc"][0]) == {"true_rate", "prob_success"}


@pytest.mark.parametrize(
    "call",
    [
        lambda: decision_rule([0.2, 0.3], [0.9]),
        lambda: Criterion(1.2, 0.9),
        lambda: Criterion(0.2, 0.9, "="),  # type: ignore[arg-type]
        lambda: operating_characteristics(UNIF, 10, decision_rule(0.2, 0.9), [1.5]),
        lambda: operating_characteristics(
            UNIF,
            10,
            decision_rule(0.2, 0.9),
            [0.3],
            futility=InterimFutility(10, decision_rule(0.2, 0.9, "<")),
        ),
        lambda: decision_rule(0.2, 0.9).evaluate(UNIF, 11, 10),
    ],
)
def test_invalid_inputs(call) -> None:
    with pytest.raises(SpecError):
        call()


def test_monotone_success_region() -> None:
    s = decision_rule(0.3, 0.9).indicator(ROBUST, 40)
    b = decision_boundary(ROBUST, 40, decision_rule(0.3, 0.9))
    np.testing.assert_array_equal(s, np.arange(41) >= b)
    # and agrees with the posterior computed one r at a time
    r = b - 1
    assert posterior(ROBUST, r, 40).sf(0.3) <= 0.9 < posterior(ROBUST, b, 40).sf(0.3)
