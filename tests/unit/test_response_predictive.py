"""``predictive_draws``: the new-cohort (MAP) rate for the planning tools."""

from __future__ import annotations

import numpy as np
import pytest

from pclbayes.data import load
from pclbayes.errors import SpecError
from pclbayes.response import ResponseModel, predictive_draws
from pclbayes.sampling import SamplerSettings


@pytest.fixture(scope="module")
def eb():
    return load()


@pytest.mark.heavy
def test_logit_normal_draws_are_the_new_cohort_rate(eb) -> None:
    draws = predictive_draws(eb, endpoint="cr", by="target", level="GPRC5D", seed=3)
    assert draws.ndim == 1 and draws.size == 4000
    assert np.all((draws >= 0) & (draws <= 1))
    # predictive_draws samples the logit-normal model with target acceptance 0.99
    fit = ResponseModel(endpoint="cr", by="target", model="logit-normal",
                        sampler=SamplerSettings(target_accept=0.99)).fit(eb, seed=3)
    np.testing.assert_array_equal(
        draws, fit.idata_["posterior"]["predictive_rate"].sel(target="GPRC5D").values.ravel())
    again = predictive_draws(eb, endpoint="cr", by="target", level="GPRC5D", seed=3)
    np.testing.assert_array_equal(draws, again)
    # a new cohort is more uncertain than the population mean of its stratum
    pooled = fit.idata_["posterior"]["pooled_rate"].sel(target="GPRC5D").values.ravel()
    assert draws.std() > pooled.std()


def test_beta_binomial_draws_match_the_exact_predictive(eb) -> None:
    draws = predictive_draws(eb, endpoint="cr", by="strategy", level="switch",
                             model="beta-binomial", seed=1,
                             sampler=SamplerSettings(draws=2500))
    exact = ResponseModel(endpoint="cr", by="strategy", method="exact").fit(eb).summary()
    row = exact.query("quantity == 'predictive_rate' and level == 'switch'").iloc[0]
    np.testing.assert_allclose(np.quantile(draws, [0.025, 0.5, 0.975]),
                               [row["lower"], row["median"], row["upper"]], atol=0.02)


@pytest.mark.heavy
def test_user_aggregate_csv_with_no_grouping(tmp_path) -> None:
    csv = tmp_path / "counts.csv"
    csv.write_text("cohort,n,responders\nA,20,15\nB,12,10\nC,30,19\n")
    draws = predictive_draws(load(csv), endpoint="orr", by="none", level=None,
                             tau_prior="HalfNormal(sigma=0.5)", seed=0)
    assert draws.size == 4000 and 0.6 < np.median(draws) < 0.8


def test_errors_name_the_problem(eb) -> None:
    with pytest.raises(SpecError, match="levels BCMA, GPRC5D: name the new cohort's level"):
        predictive_draws(eb, endpoint="orr", by="target", level=None)
    with pytest.raises(SpecError, match="level 'CD19' is not a level of 'target'"):
        predictive_draws(eb, endpoint="orr", by="target", level="CD19")
    with pytest.raises(SpecError, match="tau_prior is the between-cohort SD"):
        predictive_draws(eb, endpoint="orr", by="none", level=None, model="beta-binomial",
                         tau_prior="HalfNormal(sigma=1)")
