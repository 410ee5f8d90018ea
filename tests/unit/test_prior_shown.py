"""Numbers marked "mostly prior" are printed with their prior (median and 95% interval).

The prior interval comes from the fit's prior draws; it is checked against the closed form
of the prior (Gamma for kappa, uniform for a Beta(1, 1) mean rate, log-normal for the
Weibull median time) within four Monte-Carlo standard errors of a sample quantile.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pclbayes.errors import ConvergenceWarning
from pclbayes.report import findings, labels, sections
from pclbayes.response import ResponseModel
from pclbayes.sampling import SamplerSettings
from pclbayes.survival import SurvivalModel

PROBS = (0.5, 0.025, 0.975)


def _within_mc_error(got, dist, n, *, log=False):
    """Sample quantiles ``got`` (median, lower, upper) against ``dist``'s, 4 MC SEs apart."""
    for value, p in zip(got, PROBS, strict=True):
        q = dist.ppf(p)
        se = np.sqrt(p * (1 - p) / n) / dist.pdf(q)  # SE of a sample quantile
        assert abs(value - q) < 4 * se + 1e-12, (p, value, q, se)


@pytest.fixture(scope="module")
def orr():
    return ResponseModel(endpoint="orr", by="target", method="exact").fit(seed=1)


def test_kappa_prior_interval_is_the_gamma_prior(orr):
    n = findings.prior_draws(orr, "kappa", "shared").size
    got = findings.prior_interval(orr, "kappa", "shared")
    _within_mc_error(got, stats.gamma(2, scale=10), n)
    # the summary carries the same prior next to the posterior row
    row = orr.summary().query("quantity == 'kappa' and source != 'prior'").iloc[0]
    _within_mc_error((row["prior_median"], row["prior_lower"], row["prior_upper"]),
                     stats.gamma(2, scale=10), n)


def test_summary_prior_columns_are_the_schema():
    from pclbayes.model import SUMMARY_COLUMNS

    assert SUMMARY_COLUMNS[-3:] == ("prior_median", "prior_lower", "prior_upper")


def test_pooled_rate_prior_interval_is_uniform(orr):
    # mu ~ Beta(1, 1): the pooled rate of each target is uniform under the prior
    for level in ("BCMA", "GPRC5D"):
        n = findings.prior_draws(orr, "pooled_rate", level).size
        _within_mc_error(findings.prior_interval(orr, "pooled_rate", level),
                         stats.uniform(0, 1), n)
    assert findings.prior_interval(orr, "pooled_rate", "no such level") is None
    assert findings.prior_interval(orr, "no_such_quantity", "BCMA") is None


def test_mostly_prior_rows_show_their_prior_in_tables_and_findings(orr):
    s = orr.summary()
    head = s[s["quantity"].isin(["pooled_rate", "predictive_rate"])
             & (s["source"] != "prior")].copy()
    head["mostly_prior"] = head["quantity"] == "predictive_rate"  # planted flags
    view = sections._estimates(head, labels.pct, model=orr)
    keys = list(zip(head["quantity"], head["level"], strict=True))
    marks = dict(zip(keys, view["mostly prior"], strict=True))
    for (q, level), mark in marks.items():
        if q == "pooled_rate":
            assert mark == ""
            continue
        med, lo, hi = findings.prior_interval(orr, q, level)
        assert mark == f"yes: prior {labels.pct(med)} ({labels.pct(lo)} to {labels.pct(hi)})"
        # a new cohort's rate under mu ~ U(0, 1) and kappa's prior: wide, centred near 50%
        assert 0.35 < med < 0.65 and lo < 0.05 and hi > 0.95
    row = head[head["quantity"] == "predictive_rate"].iloc[0]
    note = findings.mostly_prior_note(orr, row, labels.pct)
    assert re.fullmatch(r" \(mostly prior; prior \d+%, (<1|\d+)% to (>99|\d+)%\)", note), note
    assert findings.mostly_prior_note(orr, head.iloc[0].copy(), labels.pct) == ""
    # without prior draws the flag stays, without a prior
    class NoPrior:
        family = "response"
    assert findings.mostly_prior_note(NoPrior(), row, labels.pct) == " (mostly prior)"


def test_key_findings_print_the_prior_of_a_marked_number(orr, monkeypatch):
    from pclbayes.report.builder import FitRecord
    from pclbayes.specs import load_spec

    spec = load_spec("models/response_orr_by_target.toml")
    s = orr.summary().copy()
    s["mostly_prior"] = s["quantity"] == "pooled_rate"
    monkeypatch.setattr(orr, "summary", lambda: s)
    rows = findings._response_findings(FitRecord(spec, orr, 0.0))
    assert rows and all("(mostly prior; prior " in f.estimate for f in rows)


@pytest.mark.heavy
def test_survival_median_prior_is_the_log_normal_prior():
    rng = np.random.default_rng(5)
    t = rng.weibull(1.2, 12) * 6.0
    data = pd.DataFrame({"time": t, "event": 1})
    model = SurvivalModel(covariates=[], frailty="none",
                          sampler=SamplerSettings(draws=500, tune=500, chains=2,
                                                  target_accept=0.95))
    with warnings.catch_warnings():
        # the prior draws are made without the sampler: its convergence does not matter here
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = model.fit(data, seed=2)
    values = findings.prior_draws(m, "median_time", "all")
    # one cohort, no covariates: median time = exp(log_median), log_median ~ N(1.8, 1.2)
    log_got = np.log(findings.prior_interval(m, "median_time", "all"))
    _within_mc_error(log_got, stats.norm(1.8, 1.2), values.size)
    s = m.summary()
    row = s[(s["quantity"] == "median_time") & (s["source"] == "posterior")].iloc[0]
    log_cols = np.log([row["prior_median"], row["prior_lower"], row["prior_upper"]])
    _within_mc_error(log_cols, stats.norm(1.8, 1.2), values.size)
    assert s.loc[s["source"] != "posterior", "prior_median"].isna().all()
    # a horizon's survival probability is read at that horizon
    s6 = findings.prior_draws(m, "survival_at_6", "all")
    assert s6 is not None and ((s6 >= 0) & (s6 <= 1)).all()
    assert findings.prior_draws(m, "survival_at_7", "all") is None
