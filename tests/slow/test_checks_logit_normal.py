"""Cross-validated check of the logit-normal response model (MCMC fits: slow).

The importance-reweighted leave-one-cohort-out predictive against a refit without the
cohort, and an outlier cohort flagged.
"""

import numpy as np
import pytest

from pclbayes.checks import two_sided_p
from pclbayes.response import ResponseModel

pytestmark = pytest.mark.slow


def counts(r, n=12):
    import pandas as pd

    return pd.DataFrame({"cohort": [f"c{i}" for i in range(len(r))], "n": [n] * len(r),
                         "responders": list(r)})


def rows(table, check):
    return table[table["check"] == check].set_index("cohort")


def test_logit_normal_loo_matches_a_refit_without_the_cohort():
    """The importance-reweighted predictive of cohort c3 equals (up to Monte Carlo error)
    the mixed predictive of a fit to the other three cohorts; an outlier is flagged."""
    from pclbayes.response.checks import logit_normal_mixture_pmf

    fit = ResponseModel(model="logit-normal").fit(counts([10, 9, 10, 8]), seed=1)
    row = rows(fit.check_table(), "loo_predictive").loc["c3"]
    assert "Pareto k" in row["note"] and "unreliable" not in row["note"]
    refit = ResponseModel(model="logit-normal").fit(counts([10, 9, 10]), seed=2)
    post = refit.idata_["posterior"]
    pmf = logit_normal_mixture_pmf(12, post["mu_logit"].values.ravel(),
                                   post["sigma"].values.ravel())
    assert row["expected"] == pytest.approx(pmf @ np.arange(13), abs=0.25)
    assert row["p_value"] == pytest.approx(two_sided_p(pmf, 8), abs=0.06)
    outlier = ResponseModel(model="logit-normal").fit(counts([10, 9, 10, 0]), seed=1)
    loo = rows(outlier.check_table(), "loo_predictive")
    assert loo.loc["c3", "flag"] and not loo.loc[["c0", "c1", "c2"], "flag"].any()
