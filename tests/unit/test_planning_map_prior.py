"""MAP prior assembly from synthetic predictive draws (the response model's output)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import integrate, special, stats

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning import build_map_prior, draws_ess, ess

DRAWS = special.expit(np.random.default_rng(12).normal(-1.2, 0.6, 3000))


def test_summary_fit_robust_and_ess() -> None:
    res = build_map_prior(DRAWS, robust_weight=0.2, rng=np.random.default_rng(0))
    s = res.draw_summary
    assert s["mean"] == pytest.approx(DRAWS.mean())
    assert s["sd"] == pytest.approx(DRAWS.std(ddof=1))
    assert (s["lower"], s["upper"]) == pytest.approx(tuple(np.quantile(DRAWS, [0.025, 0.975])))
    assert res.mixture.mean == pytest.approx(DRAWS.mean(), abs=3e-3)
    assert res.robust is not None and res.prior is res.robust
    assert res.robust.weights[-1] == pytest.approx(0.2)
    # robustification lowers every ESS
    assert res.robust_ess is not None
    for method in ("elir", "moment"):
        assert res.robust_ess[method] < res.ess[method]
    assert res.ess["elir"] == pytest.approx(ess(res.mixture))
    payload = json.loads(json.dumps(res.to_dict()))
    assert {"map", "mixture", "robust", "ess", "robust_ess", "fit", "provenance"} <= set(payload)
    assert "Robust prior" in str(res)


def test_robust_mean_at_null_rate_keeps_the_elir_scale() -> None:
    # Beta(0.4, 1.6) is unbounded at 0: Morita uses the interior mode and says so; the ELIR is
    # the same logit-scale quantity as for the uniform robust component: the informative part
    # plus the robust weight times the component's a + b = 2 (both priors are 80/20 mixtures of
    # the same MAP mixture with a two-patient beta, so their ELIRs differ only through the
    # overlap of the components and stay close).
    with pytest.warns(StatisticalWarning, match="interior mode"):
        res = build_map_prior(DRAWS, robust_weight=0.2, robust_mean=0.2)
    half = build_map_prior(DRAWS, robust_weight=0.2, robust_mean=0.5)
    assert res.robust is not None and half.robust_ess is not None and res.robust_ess is not None
    assert (res.robust.a[-1], res.robust.b[-1]) == pytest.approx((0.4, 1.6))
    assert res.robust_ess["elir"] == pytest.approx(half.robust_ess["elir"], rel=0.15)


def test_no_robustification() -> None:
    res = build_map_prior(DRAWS, robust_weight=0.0)
    assert res.robust is None and res.robust_ess is None and res.prior is res.mixture
    assert res.to_dict()["robust"] is None


def test_invalid_inputs() -> None:
    with pytest.raises(SpecError):
        build_map_prior(np.r_[DRAWS, 1.5])
    with pytest.raises(SpecError):
        build_map_prior(DRAWS, robust_weight=1.0)


@pytest.mark.parametrize(("rate", "tau"), [(0.2, 0.5), (0.5, 0.3)])
def test_ess_of_logit_normal_map_prior_matches_closed_form(rate: float, tau: float) -> None:
    """With the population mean known, the MAP prior is logit-normal(mu, tau^2); its ELIR is
    E[1 / (tau^2 theta (1 - theta))] = (2 + (o + 1/o) exp(tau^2 / 2)) / tau^2, o = odds."""
    draws = special.expit(np.random.default_rng(1).normal(special.logit(rate), tau, 4000))
    res = build_map_prior(draws, robust_weight=0.0, rng=np.random.default_rng(0))
    odds = rate / (1 - rate)
    closed = (2 + (odds + 1 / odds) * np.exp(tau**2 / 2)) / tau**2
    assert res.ess["elir"] == pytest.approx(closed, rel=0.03)


# ------------------------------------------------------------- ESS that does not hinge on K
def _two_scale_draws(n: int = 4000) -> tuple[np.ndarray, float]:
    """Draws whose logit is 50/50 N(-1.5, 0.25^2) and N(-1.5, 1): a sharp peak on wide tails,
    as a MAP prior with an uncertain heterogeneity. Returns the draws and the ELIR of the
    generating distribution by quadrature on the logit scale, with the analytic normal-mixture
    curvature -d2 log q = E_r[1/s^2] - Var_r[-(eta - mu)/s^2] over the Bernoulli information."""
    rng = np.random.default_rng(5)
    scale = np.where(rng.random(n) < 0.5, 0.25, 1.0)
    draws = special.expit(rng.normal(-1.5, scale))
    g = np.linspace(-15, 12, 200_001)
    w, s = np.array([0.5, 0.5])[:, None], np.array([0.25, 1.0])[:, None]
    lc = np.log(w) - np.log(s) - 0.5 * np.log(2 * np.pi) - 0.5 * ((g + 1.5) / s) ** 2
    lq = special.logsumexp(lc, axis=0)
    r = np.exp(lc - lq)
    grad = -(g + 1.5) / s**2
    info = np.sum(r / s**2, axis=0) - np.sum(r * (grad - np.sum(r * grad, axis=0)) ** 2, axis=0)
    t = special.expit(g)
    return draws, float(integrate.simpson(np.exp(lq) * info / (t * (1 - t)), x=g))


def test_map_prior_reports_ess_by_components_and_of_the_draws() -> None:
    draws, true_elir = _two_scale_draws()
    res = build_map_prior(draws, robust_weight=0.2, rng=np.random.default_rng(0))
    m, v = draws.mean(), draws.var(ddof=1)
    assert res.ess_draws["moment"] == pytest.approx(m * (1 - m) / v - 1, rel=1e-12)
    table = res.ess_by_components
    assert list(table["components"]) == [1, 2, 3, 4]
    assert table["selected"].sum() == 1
    chosen = table[table["selected"]].iloc[0]
    assert chosen["components"] == res.fit.n_components
    assert chosen["elir"] == pytest.approx(res.ess["elir"])
    # one beta: ELIR = moment = a + b, far below the truth; it is flagged as a poor fit
    one = table.iloc[0]
    assert not one["adequate"] and one["elir"] == pytest.approx(one["moment"], rel=1e-8)
    assert one["elir"] < 0.5 * true_elir
    # the adequate fits agree with the generating distribution's ELIR
    adequate = table[table["adequate"]]
    assert len(adequate) >= 2
    np.testing.assert_allclose(adequate["elir"], true_elir, rtol=0.06)
    # printout and JSON carry both figures
    text = str(res)
    assert "ESS by number of mixture components" in text
    assert "Moment ESS of the MAP draws" in text
    payload = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert payload["ess_draws"]["moment"] == pytest.approx(m * (1 - m) / v - 1)
    assert [row["components"] for row in payload["ess_by_components"]] == [1, 2, 3, 4]
    assert payload["convergence"] is None and payload["sensitivity"] is None


def test_draws_ess_moment_closed_form_and_errors() -> None:
    draws = stats.beta.rvs(3.0, 9.0, size=200_000, random_state=np.random.default_rng(2))
    assert draws_ess(draws)["moment"] == pytest.approx(12.0, rel=0.02)  # a + b by simulation
    with pytest.raises(SpecError):
        draws_ess([0.3, 0.3])
