"""MAP prior assembly from synthetic predictive draws (the response model's output)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import special

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning import build_map_prior, ess

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
