"""Estimates of 0 or 1 in the design studies' OC tables get exact one-sided bounds."""

from __future__ import annotations

import pandas as pd
from scipy import stats
from simulate_helpers import run_tasks

from pclbayes.simulate.studies import _design_common as dc
from pclbayes.simulate.studies.survival_design import SurvivalDesignStudy


def _cp(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 90% two-sided = 95% one-sided on each side (scipy's binomtest)."""
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.90, method="exact")
    return ci.low, ci.high


def test_bounds_of_zero_and_one_are_the_clopper_pearson_limits():
    table = pd.DataFrame({"x": [0.5, 1.5, 2.5], "tasks": [200, 37, 10],
                          "p": [0.0, 1.0, 0.3], "q": [0.25, 0.0, 1.0]})
    line = dc.boundary_bounds(table, {"p": "P", "q": "Q"}, ["x"])
    assert f"P < {_cp(0, 200)[1]:.3g} at x = 0.5" in line
    assert f"P > {_cp(37, 37)[0]:.3g} at x = 1.5" in line
    assert f"Q < {_cp(0, 37)[1]:.3g} at x = 1.5" in line
    assert f"Q > {_cp(10, 10)[0]:.3g} at x = 2.5" in line
    assert "at x = 0.5; " in line and line.count(" at x = ") == 4
    assert dc.boundary_bounds(table.assign(p=0.5, q=0.5), {"p": "P", "q": "Q"}, ["x"]) is None


def test_survival_design_summary_states_the_bound_where_the_se_is_zero():
    spec = {"study": {"kind": "survival-design", "name": "t", "title": "t", "seed": 5,
                      "replicates": 30},
            "grid": {"true_median": [1.0, 6.0], "true_shape": [1.0]},
            "survival_design": {"n": 20, "accrual_rate": 2.0, "follow_up": 6.0,
                                "rule": "median", "null_median": 6.0, "threshold": 0.8,
                                "shape": 1.0,
                                "prior": {"rate": {"dist": "Gamma", "alpha": 2.0,
                                                   "beta": 15.0}}}}
    study = SurvivalDesignStudy(spec)
    s = study.summarise(run_tasks(study, 30, 3))
    table = s.tables["operating characteristics"]
    assert table["p_success"].iloc[0] == 0.0 and table["mcse"].iloc[0] == 0.0
    text = "\n".join(s.lines)
    assert f"P(success) < {_cp(0, 30)[1]:.3g} at true_median = 1, true_shape = 1" in text
