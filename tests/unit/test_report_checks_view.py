"""The report shows the checks that can fail, in words, with integers as integers.

Also: a median interval open at the top reads "... to not reached"; a fit that pools
re-infusions says so next to its target contrast.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pclbayes.report import findings, labels, sections
from pclbayes.report.html import Page
from pclbayes.response import ResponseModel


def test_check_view_in_words_with_a_planted_flag():
    checks = pd.DataFrame({
        "cohort": ["a/BCMA", "a/BCMA", "all"], "n": [6, 6, 15],
        "check": ["loo_predictive", "prior_conflict", "dispersion"],
        "statistic": ["responders", "responders", "chi_square"],
        "observed": [0.0, 0.0, 9.5], "expected": [5.2, 3.0, 1.3],
        "lower": [3.0, 0.0, 0.0], "upper": [6.0, 6.0, 6.1],
        "p_value": [0.004, 0.2, np.nan], "p_method": "mid-p, two-sided",
        "flag": [True, False, False], "note": ""})
    view = sections._check_view(checks)
    assert view["flagged"].tolist() == ["yes", "", ""]
    assert view["observed"].tolist() == ["0", "0", "9.50"]
    assert view["expected (95% interval)"].tolist() == [
        "5.20 (3 to 6)", "3.00 (0 to 6)", "1.30 (0.00 to 6.10)"]
    assert view["p-value"].tolist() == ["0.00", "0.20", "not computed"]
    text = " ".join(view.astype(str).to_numpy().ravel())
    for internal in ("loo_predictive", "prior_conflict", "chi_square", "a/BCMA"):
        assert internal not in text
    assert "leave-one-cohort-out" in text and "prior-data conflict" in text


def test_ppc_quantiles_of_counts_are_integers():
    ppc = pd.DataFrame({"cohort": ["a"], "n": [2.0], "statistic": ["responders"],
                        "observed": [2.0], "predicted_mean": [1.85], "lower": [1.0],
                        "upper": [2.0], "p_value": [1.0]})
    view = sections._ppc_view(ppc)
    assert view[labels.column("lower")].tolist() == ["1"]
    assert view[labels.column("upper")].tolist() == ["2"]
    # a non-integer quantile (interpolated) stays a number
    ppc.loc[0, "upper"] = 27.03
    assert sections._ppc_view(ppc)[labels.column("upper")].tolist() == [27.03]


@pytest.mark.heavy
def test_checks_section_shows_the_checks_that_can_fail(tmp_path):
    from pclbayes.report.builder import FitRecord
    from pclbayes.specs import load_spec

    spec = load_spec("models/response_cr_by_target.toml")
    model = ResponseModel(endpoint="cr", by="target", method="exact").fit(seed=1)
    model.report_endpoint_ = "cr"
    page = Page("t", tmp_path)
    sections.checks_section(page, [FitRecord(spec, model, 0.0)])
    html = "".join(page.sections[0][2])
    assert "<h3>Checks that can fail</h3>" in html
    assert "none of 10 rows flagged (p &lt; 0.05)" in html \
        or "none of 10 rows flagged (p < 0.05)" in html
    assert "<details><summary>Every cohort's checks" in html
    for heading in ("leave-one-cohort-out", "prior-data conflict", "between-cohort spread",
                    "spread vs prior"):
        assert f"<th>{heading}</th>" in html or f">{heading}<" in html, heading
    assert "0 of 4 flagged; smallest p " in html
    assert "leave-one-cohort-out: predicted from the other cohorts" in html
    assert "p-values near 1 (as here) are expected" in html
    assert "loo_predictive" not in html


def test_open_median_interval_reads_not_reached():
    assert findings.time_interval(2.0, np.inf) == "2.0 months to not reached"
    assert findings.time_interval(2.04, 16.8, "weeks") == "2.0 to 16.8 weeks"


@pytest.mark.parametrize(("strategies", "noted"), [(["first", "switch"], True),
                                                   (["first", "first"], False)])
def test_a_fit_pooling_reinfusions_says_so_at_its_target_contrast(strategies, noted):
    model = SimpleNamespace(
        endpoint="pfs", horizons_=(6.0, 12.0), time_unit_="months",
        design_=SimpleNamespace(episodes=pd.DataFrame({"strategy": strategies})))
    summary = pd.DataFrame({
        "quantity": ["hazard_ratio", "hazard_ratio"], "source": "posterior",
        "level": ["GPRC5D vs BCMA", "switch vs first"], "median": [2.4, 0.8],
        "lower": [0.9, 0.3], "upper": [7.1, 2.0], "prob_gt": [0.96, 0.34]})
    text = sections._survival_text(model, summary, "pfs")
    assert ("The contrasts GPRC5D vs BCMA of this fit pool first infusions with "
            "target-switched re-infusions" in text) is noted
    assert "switch vs first of this fit" not in text
