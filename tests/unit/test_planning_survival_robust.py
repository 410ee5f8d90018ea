"""Robust survival MAP prior: a vague log-median component worth one event."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from pclbayes.errors import SpecError
from pclbayes.planning import (
    NormalMixture,
    build_survival_map_prior,
    ess_events,
    robustify_log_median,
)

MIX = NormalMixture([0.7, 0.3], [np.log(12.0), np.log(20.0)], [0.2, 0.4])


def test_vague_component_is_worth_one_event_at_the_shape():
    k = 1.4
    rob = robustify_log_median(MIX, 0.25, k)
    assert rob.names[-1] == "robust" and rob.weights[-1] == pytest.approx(0.25)
    assert rob.means[-1] == pytest.approx(MIX.mean)
    vague = NormalMixture([1.0], [rob.means[-1]], [rob.sds[-1]])
    # Fisher information of a log median is k^2 per event: one event means variance 1 / k^2
    assert rob.sds[-1] ** -2 == pytest.approx(k**2)
    assert ess_events(vague, k, "moment") == pytest.approx(1.0)
    x = np.linspace(0, 5, 11)
    expected = (0.75 * (0.7 * stats.norm.pdf(x, MIX.means[0], 0.2)
                        + 0.3 * stats.norm.pdf(x, MIX.means[1], 0.4))
                + 0.25 * stats.norm.pdf(x, MIX.mean, 1 / k))
    assert rob.pdf(x) == pytest.approx(expected, rel=1e-12)
    at = robustify_log_median(MIX, 0.1, k, median=6.0, events=4)
    assert at.means[-1] == pytest.approx(np.log(6.0))
    assert at.sds[-1] == pytest.approx(1 / (2 * k))


@pytest.mark.heavy
def test_robust_prior_has_heavier_tails_and_fewer_events():
    rng = np.random.default_rng(3)
    draws = {"median": np.exp(rng.normal(np.log(12), 0.25, 4000)),
             "shape": rng.normal(1.3, 0.05, 4000)}
    plain = build_survival_map_prior(draws, level="BCMA")
    robust = build_survival_map_prior(draws, level="BCMA", robust_weight=0.2)
    assert plain.robust is None and plain.prior is plain.mixture
    assert robust.prior is robust.robust
    k = robust.shape
    assert robust.robust_ess["moment"] < plain.ess["moment"]
    # moment ESS of the robust mixture: 1 / (k^2 Var), Var by quadrature of the density
    pdf = robust.prior.pdf
    m = integrate.quad(lambda v: v * float(pdf(v)), -10, 15, limit=200)[0]
    var = integrate.quad(lambda v: (v - m) ** 2 * float(pdf(v)), -10, 15, limit=200)[0]
    assert robust.robust_ess["moment"] == pytest.approx(1 / (k**2 * var), rel=1e-6)
    assert robust.to_dict()["robust"][-1]["name"] == "robust"
    assert "Robust prior" in str(robust)


def test_bad_robust_arguments():
    with pytest.raises(SpecError, match="robust weight"):
        robustify_log_median(MIX, 1.0, 1.0)
    with pytest.raises(SpecError, match="robust median"):
        robustify_log_median(MIX, 0.2, 1.0, median=-3)
    with pytest.raises(SpecError, match="robust weight must lie"):
        build_survival_map_prior({"median": np.ones(10) * 3, "shape": np.ones(10)},
                                 robust_weight=-0.1)
