"""pclbayes.planning.monitor against a brute-force enumeration of every response sequence."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from scipy import special, stats

from pclbayes.errors import SpecError
from pclbayes.planning import BetaMixture, decision_rule
from pclbayes.planning.monitor import monitored_design, monitoring_oc, predictive_probability

PRIOR = BetaMixture([0.7, 0.3], [3.0, 1.0], [5.0, 1.0])
N = 12
LOOKS = (4, 8)
RULE = decision_rule(0.3, 0.8)


def _post(r: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior weights and shapes, written out from Bayes' rule."""
    a, b, w = PRIOR.a, PRIOR.b, PRIOR.weights
    lik = w * np.exp(special.betaln(a + r, b + n - r) - special.betaln(a, b))
    return lik / lik.sum(), a + r, b + n - r


@functools.cache
def _final_success(r: int) -> bool:
    w, a, b = _post(r, N)
    return float(np.sum(w * stats.beta.sf(0.3, a, b))) > 0.8


@functools.cache
def _pp_brute(r: int, n: int) -> float:
    """Predictive probability by summing over every sequence of the remaining patients."""
    w, a, b = _post(r, n)
    total = 0.0
    for seq in itertools.product((0, 1), repeat=N - n):
        s = sum(seq)
        # predictive probability of this exact sequence under the posterior mixture
        p = np.sum(w * np.exp(special.betaln(a + s, b + N - n - s) - special.betaln(a, b)))
        total += p * _final_success(r + s)
    return total


def _brute_oc(theta: float, futility: float, efficacy: float | None) -> dict[str, object]:
    """Walk every one of the 2^N response sequences through the looks."""
    pp = {(n, r): _pp_brute(r, n) for n in LOOKS for r in range(n + 1)}
    fut = np.zeros(len(LOOKS))
    eff = np.zeros(len(LOOKS))
    success = 0.0
    expected_n = 0.0
    for seq in itertools.product((0, 1), repeat=N):
        total = sum(seq)
        prob = theta**total * (1 - theta) ** (N - total)
        for j, n in enumerate(LOOKS):
            r = sum(seq[:n])
            if pp[n, r] < futility:
                fut[j] += prob
                expected_n += prob * n
                break
            if efficacy is not None and pp[n, r] >= efficacy:
                eff[j] += prob
                success += prob
                expected_n += prob * n
                break
        else:
            expected_n += prob * N
            success += prob * _final_success(total)
    return {"pp": pp, "fut": fut, "eff": eff, "success": success, "expected_n": expected_n}


def test_predictive_probability_matches_sequence_enumeration() -> None:
    for n in (0, 4, 8, 11):
        got = predictive_probability(PRIOR, n, N, RULE)
        ref = [_pp_brute(r, n) for r in range(n + 1)]
        np.testing.assert_allclose(got, ref, atol=1e-12)
    # at the final size the predictive probability is the success indicator
    final = predictive_probability(PRIOR, N, N, RULE)
    np.testing.assert_array_equal(final, [float(_final_success(r)) for r in range(N + 1)])


@pytest.mark.parametrize(("futility", "efficacy"), [(0.2, None), (0.1, 0.9), (0.0, 0.95)])
@pytest.mark.parametrize("theta", [0.2, 0.45, 0.7])
def test_monitoring_oc_matches_path_enumeration(
    theta: float, futility: float, efficacy: float | None
) -> None:
    design = monitored_design(PRIOR, N, RULE, LOOKS, futility=futility, efficacy=efficacy)
    oc = monitoring_oc(design, [theta])
    ref = _brute_oc(theta, futility, efficacy)
    np.testing.assert_allclose(oc.prob_stop_futility[0], ref["fut"], atol=1e-12)
    np.testing.assert_allclose(oc.prob_stop_efficacy[0], ref["eff"], atol=1e-12)
    assert oc.prob_success[0] == pytest.approx(ref["success"], abs=1e-12)
    assert oc.expected_n[0] == pytest.approx(ref["expected_n"], abs=1e-10)
    # boundaries: the smallest responder count whose brute-force PP passes the threshold
    for look in design.looks:
        pps = np.array([ref["pp"][look.n, r] for r in range(look.n + 1)])
        cont = np.flatnonzero(pps >= futility)
        assert look.continue_min == (int(cont[0]) if cont.size else None)
        if efficacy is not None:
            stop = np.flatnonzero((pps >= efficacy) & (pps >= futility))
            assert look.efficacy_min == (int(stop[0]) if stop.size else None)


def test_futility_boundary_is_nontrivial_for_this_design() -> None:
    # guard for the enumeration test above: some paths stop, some continue
    design = monitored_design(PRIOR, N, RULE, LOOKS, futility=0.2)
    assert all(0 < lk.continue_min <= lk.n for lk in design.looks)
    oc = monitoring_oc(design, [0.2, 0.7])
    assert 0 < oc.prob_stop_futility.sum(1)[1] < oc.prob_stop_futility.sum(1)[0] < 1


def test_without_stopping_the_oc_is_the_single_stage_oc() -> None:
    from pclbayes.planning import operating_characteristics

    design = monitored_design(PRIOR, N, RULE, LOOKS, futility=0.0)
    oc = monitoring_oc(design, [0.1, 0.4, 0.8])
    single = operating_characteristics(PRIOR, N, RULE, [0.1, 0.4, 0.8])
    np.testing.assert_allclose(oc.prob_success, single.prob_success, atol=1e-13)
    np.testing.assert_allclose(oc.expected_n, N)


def test_tables_and_text() -> None:
    design = monitored_design(PRIOR, N, RULE, LOOKS, futility=0.1, efficacy=0.9)
    oc = monitoring_oc(design, [0.3, 0.6])
    frame = oc.to_frame()
    assert list(frame.columns[:4]) == ["true_rate", "prob_success", "prob_stop_early",
                                       "expected_n"]
    assert "futility_n4" in frame and "efficacy_n8" in frame
    d = oc.to_dict()
    assert len(d["looks"]) == 2 and len(d["looks"][0]["predictive_probability"]) == 5
    assert "n = 4" in str(oc)
    assert list(design.boundary_frame()["n"]) == [4, 8, 12]


@pytest.mark.parametrize(
    ("looks", "kwargs"),
    [
        ((8, 4), {}),
        ((4, 12), {}),
        ((), {}),
        ((4,), {"futility": 1.0}),
        ((4,), {"futility": 0.5, "efficacy": 0.4}),
    ],
)
def test_invalid_designs_are_spec_errors(looks: tuple[int, ...], kwargs: dict) -> None:
    with pytest.raises(SpecError):
        monitored_design(PRIOR, N, RULE, looks, **kwargs)


# --------------------------------------------------------------------------- two arms
def _bb_mixture(mix: BetaMixture, x: int, m: int, s: int, rest: int) -> float:
    """Predictive P(s of rest | x of m) written out from Bayes' rule (scipy betabinom)."""
    lik = mix.weights * stats.betabinom.pmf(x, m, mix.a, mix.b)
    w = lik / lik.sum()
    return float(np.sum(w * stats.betabinom.pmf(s, rest, mix.a + x, mix.b + m - x)))


def test_two_arm_interim_matches_outcome_enumeration() -> None:
    from pclbayes.planning import TwoArmDesign, two_arm_rule
    from pclbayes.planning.monitor import two_arm_interim, two_arm_interim_oc

    prior_t = BetaMixture.single(1, 1)
    prior_c = BetaMixture([0.8, 0.2], [6.0, 1.0], [14.0, 1.0])
    n_t, n_c, m_t, m_c = 8, 6, 4, 3
    design = TwoArmDesign(prior_t, prior_c, n_t, n_c, two_arm_rule(0.0, 0.8))
    look = two_arm_interim(design, m_t, m_c, futility=0.2)

    def final(yt: int, yc: int) -> bool:
        return yt >= design.boundary[yc]

    pp = np.zeros((m_t + 1, m_c + 1))
    for xt, xc, st, sc in itertools.product(
        range(m_t + 1), range(m_c + 1), range(n_t - m_t + 1), range(n_c - m_c + 1)
    ):
        pp[xt, xc] += (
            _bb_mixture(prior_t, xt, m_t, st, n_t - m_t)
            * _bb_mixture(prior_c, xc, m_c, sc, n_c - m_c)
            * final(xt + st, xc + sc)
        )
    np.testing.assert_allclose(look.pp, pp, atol=1e-12)
    assert look.stop.any() and not look.stop.all()  # the look matters in this design

    for a, c in [(0.3, 0.3), (0.7, 0.3)]:
        success = stop = 0.0
        for xt, xc, st, sc in itertools.product(
            range(m_t + 1), range(m_c + 1), range(n_t - m_t + 1), range(n_c - m_c + 1)
        ):
            p = (stats.binom.pmf(xt, m_t, a) * stats.binom.pmf(xc, m_c, c)
                 * stats.binom.pmf(st, n_t - m_t, a) * stats.binom.pmf(sc, n_c - m_c, c))
            if pp[xt, xc] < 0.2:
                stop += p
            elif final(xt + st, xc + sc):
                success += p
        row = two_arm_interim_oc(look, a, c).iloc[0]
        assert row["prob_success"] == pytest.approx(success, abs=1e-12)
        assert row["prob_stop"] == pytest.approx(stop, abs=1e-12)
        assert row["expected_n"] == pytest.approx(m_t + m_c + (1 - stop) * (n_t + n_c - m_t - m_c))


def test_two_arm_interim_without_stopping_is_the_fixed_design() -> None:
    from pclbayes.planning import TwoArmDesign, two_arm_rule
    from pclbayes.planning.monitor import two_arm_interim, two_arm_interim_oc

    design = TwoArmDesign(BetaMixture.single(1, 1), BetaMixture.single(2, 5), 12, 10,
                          two_arm_rule(0.0, 0.9))
    look = two_arm_interim(design, 6, 10, futility=0.0)  # control arm complete at the look
    oc = two_arm_interim_oc(look, [0.2, 0.6], [0.2, 0.3])
    np.testing.assert_allclose(
        oc["prob_success"], design.prob_success([0.2, 0.6], [0.2, 0.3]), atol=1e-13
    )
    with pytest.raises(SpecError):
        two_arm_interim(design, 12, 5)


def test_certain_success_has_predictive_probability_exactly_one() -> None:
    # with every reachable final outcome a success the efficacy threshold 1 must trigger
    design = monitored_design(PRIOR, N, RULE, LOOKS, futility=0.0, efficacy=1.0)
    certain = []
    for look in design.looks:
        reach = [all(_final_success(r + s) for s in range(N - look.n + 1))
                 for r in range(look.n + 1)]
        assert look.efficacy_min == (reach.index(True) if any(reach) else None)
        assert np.all(look.pp[np.array(reach)] == 1.0)
        certain.append(any(reach))
    assert certain[-1]  # at n = 8 some responder counts make success certain
