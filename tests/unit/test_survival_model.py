"""Fitted survival models: closed forms, Kaplan-Meier agreement, outputs and reproducibility.

Fits are module-scoped; refits of the same graph reuse the compiled model.
"""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pclbayes import provenance
from pclbayes.cli._output import dumps
from pclbayes.data import load, survival_table
from pclbayes.errors import SpecError
from pclbayes.model import PPC_COLUMNS, SUMMARY_COLUMNS
from pclbayes.sampling import SamplerSettings
from pclbayes.survival import SurvivalModel, predictive_median_draws
from pclbayes.survival.km import km_median

SEED = 11


@pytest.fixture(scope="module")
def eb():
    return load()


@pytest.fixture(scope="module")
def pfs_target(eb):
    return SurvivalModel(endpoint="pfs", by="target", episodes="all").fit(eb, seed=SEED)


@pytest.fixture(scope="module")
def pfs_strategy(eb):
    return SurvivalModel(endpoint="pfs", by="strategy").fit(eb, seed=SEED)


@pytest.fixture(scope="module")
def xuzhou_first(eb):
    st = survival_table(eb, "pfs")
    return st[(st["cohort"] == "xuzhou") & (st["strategy"] == "first")][["time", "event"]] \
        .reset_index(drop=True)


# ---------------------------------------------------------------- exponential closed form
@pytest.mark.heavy
def test_exponential_special_case_matches_gamma_posterior():
    """Shape fixed at 1 and a flat prior on the log median (Normal, sd 100, i.e.
    p(rate) ~ 1/rate): the rate's posterior is exactly Gamma(events, total time), so the
    median log(2)/rate has closed-form quantiles."""
    rng = np.random.default_rng(2024)
    n, rate = 40, np.log(2) / 8
    t, c = rng.exponential(1 / rate, n), rng.uniform(0, 25, n)
    df = pd.DataFrame({"time": np.minimum(t, c).round(3), "event": (t <= c).astype(int)})
    assert 0.2 < 1 - df["event"].mean() < 0.5  # roughly 30% censored
    m = SurvivalModel(by="none", covariates=[], fixed_shape=1.0,
                      priors={"log_median": "Normal(mu=0, sigma=100)"},
                      sampler=SamplerSettings(draws=2000, chains=4, target_accept=0.9)
                      ).fit(df, seed=5)
    assert m.diagnostics_.ok
    d, total = int(df["event"].sum()), float(df["time"].sum())
    gamma = stats.gamma(d, scale=1 / total)
    med = m.idata_["posterior"]["median_time"].values.ravel()
    rate_draws = np.log(2) / med
    assert rate_draws.mean() == pytest.approx(gamma.mean(), rel=0.015)
    assert rate_draws.std() == pytest.approx(gamma.std(), rel=0.04)
    for p, tol in ((0.025, 0.04), (0.5, 0.02), (0.975, 0.04)):
        exact = np.log(2) / gamma.ppf(1 - p)
        assert np.quantile(med, p) == pytest.approx(exact, rel=tol)
    # S(6) = exp(-rate * 6): its posterior mean is the Gamma Laplace transform
    s6 = m.idata_["posterior"]["survival"].sel(group="all", horizon=6.0).values.ravel()
    assert s6.mean() == pytest.approx((total / (total + 6)) ** d, rel=0.01)


# ---------------------------------------------------------------- Kaplan-Meier agreement
@pytest.mark.heavy
def test_single_cohort_median_consistent_with_kaplan_meier(xuzhou_first):
    m = SurvivalModel(by="none", covariates=[]).fit(xuzhou_first, seed=3)
    assert m.diagnostics_.ok
    post = m.summary().query("quantity == 'median_time' and source == 'posterior'").iloc[0]
    km = km_median(xuzhou_first["time"].to_numpy(), xuzhou_first["event"].to_numpy())
    assert km["lower"] <= post["median"] <= km["upper"]
    assert post["lower"] <= km["median"] <= post["upper"]
    # the summary carries the same lifelines numbers
    row = m.summary().query("quantity == 'km_median'").iloc[0]
    assert row["median"] == km["median"] and row["events"] == 9


# ---------------------------------------------------------------- bundled data
@pytest.mark.heavy
def test_bundled_fit_converges_without_divergences(pfs_target):
    d = pfs_target.diagnostics_
    assert d.ok and d.divergences == 0 and d.max_rhat <= 1.01


@pytest.mark.heavy
def test_same_seed_same_numbers(eb, pfs_target):
    again = SurvivalModel(endpoint="pfs", by="target", episodes="all").fit(eb, seed=SEED)
    pd.testing.assert_frame_equal(again.summary(), pfs_target.summary())
    np.testing.assert_array_equal(again.idata_["posterior_predictive"]["time"].values,
                                  pfs_target.idata_["posterior_predictive"]["time"].values)
    other = SurvivalModel(endpoint="pfs", by="target", episodes="all").fit(eb, seed=SEED + 1)
    assert not np.array_equal(other.idata_["posterior"]["log_median"].values,
                              pfs_target.idata_["posterior"]["log_median"].values)



@pytest.mark.heavy
def test_shared_compiled_model_gives_the_numbers_of_a_fresh_one(eb, pfs_target):
    """Other priors and another grouping reuse the compiled graph; the numbers do not move."""
    from pclbayes.nuts import clear_cache

    # other prior values (hence other starting points), compiled first
    clear_cache()
    vague = {"effect": "Normal(mu=0.5, sigma=2)", "sigma_cohort": "HalfNormal(sigma=1)",
             "kendall_tau": "Beta(alpha=4, beta=2)"}
    vague_fit = SurvivalModel(endpoint="pfs", by="target", episodes="all",
                              priors=vague).fit(eb, seed=SEED)
    reused = SurvivalModel(endpoint="pfs", by="strategy").fit(eb, seed=SEED)
    clear_cache()
    fresh = SurvivalModel(endpoint="pfs", by="strategy").fit(eb, seed=SEED)
    pd.testing.assert_frame_equal(reused.summary(), fresh.summary())
    assert list(reused.idata_["posterior"]["beta"].coords["term"].values) == \
        list(fresh.design_.term_labels)
    # the prior values were swapped in and out: the vague fit differs, the default comes back
    beta = pfs_target.idata_["posterior"]["beta"].values
    assert not np.array_equal(vague_fit.idata_["posterior"]["beta"].values, beta)
    again = SurvivalModel(endpoint="pfs", by="target", episodes="all").fit(eb, seed=SEED)
    np.testing.assert_array_equal(again.idata_["posterior"]["beta"].values, beta)

@pytest.mark.heavy
def test_summary_layout_and_ratios(pfs_target):
    s = pfs_target.summary()
    assert tuple(s.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    post = s[s["source"] == "posterior"]
    for q in ("median_time", "survival_at_6", "survival_at_12", "median_time_new_cohort",
              "survival_at_6_new_cohort", "survival_at_12_new_cohort"):
        assert set(post.loc[post["quantity"] == q, "level"]) == {"BCMA", "GPRC5D"}
    tr = post[post["quantity"] == "time_ratio"].set_index("level")
    assert set(tr.index) == {"GPRC5D vs BCMA", "switch vs first", "secondary vs primary",
                             "unknown vs primary"}
    assert tr["prob_gt"].between(0, 1).all() and (tr["prob_gt_value"] == 1).all()
    assert (tr["ess_bulk"] > 400).all() and (tr["r_hat"] < 1.01).all()
    assert (post["lower"] <= post["median"]).all() and (post["median"] <= post["upper"]).all()
    km = s[s["quantity"] == "km_median"]
    assert {"cohort: xuzhou", "target: BCMA", "target: GPRC5D"} <= set(km["level"])
    assert {"prior", "observed"} <= set(s["source"])
    assert set(km["source"]) == {"observed"}
    assert {"shape", "sigma_cohort", "kendall_tau"} <= set(s["quantity"])


@pytest.mark.heavy
def test_hazard_ratio_and_survival_follow_the_parametrisation(pfs_target):
    post = pfs_target.idata_["posterior"]
    np.testing.assert_allclose(post["hazard_ratio"].values,
                               post["time_ratio"].values ** -post["shape"].values[..., None])
    med = post["median_time"].sel(group="BCMA").values
    s6 = post["survival"].sel(group="BCMA", horizon=6.0).values
    np.testing.assert_allclose(s6, 0.5 ** ((6.0 / med) ** post["shape"].values))


@pytest.mark.heavy
def test_new_cohort_is_wider_than_typical_cohort(pfs_target):
    s = pfs_target.summary().query("source == 'posterior'").set_index(["quantity", "level"])
    typical = s.loc[("median_time", "BCMA")]
    new = s.loc[("median_time_new_cohort", "BCMA")]
    assert new["upper"] / new["lower"] > typical["upper"] / typical["lower"]


@pytest.mark.heavy
def test_datatree_groups_and_censoring_status(pfs_target):
    import arviz as az

    dt = pfs_target.idata_
    for g in ("posterior", "prior", "posterior_predictive", "prior_predictive",
              "observed_data", "constant_data", "log_likelihood", "sample_stats"):
        assert g in dt.children
    obs, status = dt["observed_data"]["time"], dt["constant_data"]["time"]
    assert obs.dims == ("episode",) and status.dims == ("episode",)
    assert int(status.sum()) == 14 and set(np.unique(status.values)) == {0, 1}
    assert dt["posterior_predictive"]["time"].dims == ("chain", "draw", "episode")
    assert "xuzhou/2/2" in list(obs["episode"].values)
    assert list(dt["posterior"]["z_cohort"]["cohort"].values) == ["carsgen", "tongji", "xuzhou"]
    km = az.kaplan_meier(dt, var_names="time")
    assert km["time"].sizes["km_points"] > 0
    assert dt["log_likelihood"]["time"].dims == ("chain", "draw", "patient")


@pytest.mark.heavy
def test_plot_ppc_censored_runs(pfs_target):
    import matplotlib

    matplotlib.use("Agg")
    import arviz as az

    az.plot_ppc_censored(pfs_target.idata_, num_samples=10)


@pytest.mark.heavy
def test_prior_predictive_medians_match_closed_form_and_span_weeks_to_years(pfs_target):
    # BCMA group profile: log median = log_median + 0.538 * beta_secondary (prior normals)
    j = pfs_target.design_.term_labels.index("pcl_type[secondary]")
    w = pfs_target.design_.profile[0, j]
    exact = stats.lognorm(s=np.hypot(1.2, w * 1.0), scale=np.exp(1.8))
    prior = pfs_target.idata_["prior"]["median_time"].sel(group="BCMA").values.ravel()
    for p in (0.1, 0.5, 0.9):
        assert np.quantile(prior, p) == pytest.approx(exact.ppf(p), rel=0.12)
    check = pfs_target.prior_predictive_check().set_index(["group", "cohort"])
    row = check.loc[("BCMA", "typical cohort")]
    assert row["q2.5"] < 1.0 and row["q97.5"] > 36.0
    assert row["p_below_half_month"] < 0.1 and row["p_above_60_months"] < 0.1


@pytest.mark.heavy
def test_to_dict_layout_is_json(pfs_target):
    out = json.loads(dumps(pfs_target.to_dict()))
    assert out["endpoint"] == "pfs" and out["by"] == "target" and out["time_unit"] == "months"
    for level in ("BCMA", "GPRC5D"):
        g = out["groups"][level]
        for s in (g["median_time"], g["survival_at"]["6"], g["survival_at"]["12"],
                  g["new_cohort"]["median_time"]):
            assert set(s) == {"mean", "median", "lower", "upper"}
    assert {"mean", "median", "lower", "upper"} <= set(out["shape"])
    eff = out["effects"]["GPRC5D vs BCMA"]
    assert {"prob_gt", "median"} <= set(eff["time_ratio"]) and eff["hazard_ratio"]
    assert {"max_rhat", "min_ess_bulk", "divergences"} <= set(out["diagnostics"])
    assert out["cohort_sd"]["posterior"] and out["cohort_sd"]["prior"]
    assert out["data"]["episodes"] == 20 and out["data"]["excluded"] == []


@pytest.mark.heavy
def test_by_strategy_reports_first_and_switch(pfs_strategy):
    out = pfs_strategy.to_dict()
    assert set(out["groups"]) == {"first", "switch"}
    assert "switch vs first" in out["effects"]
    card = str(pfs_strategy)
    assert "PFS by strategy" in card and "converged" in card and "Small evidence" in card


@pytest.mark.heavy
def test_os_reports_excluded_tongji_patients(eb):
    m = SurvivalModel(endpoint="os", by="target").fit(eb, seed=2)
    out = m.to_dict()
    assert {r["patient_id"] for r in out["data"]["excluded"]} == {"pcl-a", "pcl-b"}
    assert out["data"]["cohorts_without_data"] == ["tongji"]
    assert out["data"]["episodes"] == 13  # first infusions with an OS time
    assert any("re-infusion" in n for n in out["notes"])
    card = str(m)
    assert "tongji/pcl-a" in card and "Cohort tongji has no OS data" in card
    assert m.diagnostics_.divergences == 0


@pytest.mark.heavy
def test_survival_curves_bands_and_km(pfs_target):
    curves = pfs_target.survival_curves([0.0, 3.0, 6.0, 12.0])
    assert set(curves["source"]) == {"posterior", "new_cohort", "kaplan_meier"}
    post = curves.query("source == 'posterior' and group == 'BCMA'").set_index("time")
    assert post.loc[0.0, "median"] == 1.0
    assert (np.diff(post["median"].to_numpy()) <= 0).all()
    summ = pfs_target.summary().set_index(["quantity", "level", "source"])
    s6 = summ.loc[("survival_at_6", "BCMA", "posterior")]
    assert post.loc[6.0, "mean"] == pytest.approx(s6["mean"])
    km = curves.query("source == 'kaplan_meier' and group == 'BCMA'").set_index("time")
    assert km.loc[0.0, "median"] == 1.0


@pytest.mark.heavy
def test_ppc_table_and_loo(pfs_target):
    ppc = pfs_target.ppc_table()
    assert list(ppc["cohort"]) == ["carsgen", "tongji", "xuzhou", "all"]
    assert ppc["p_value"].between(0, 1).all()
    assert ppc.set_index("cohort").loc["all", "observed"] == 14
    assert tuple(ppc.columns[:len(PPC_COLUMNS)]) == PPC_COLUMNS
    loo = pfs_target.loo()
    assert np.asarray(loo.pareto_k).size == 15


@pytest.mark.heavy
def test_save_roundtrip_with_provenance(tmp_path, eb, pfs_target):
    path = pfs_target.save(tmp_path / "pfs.nc")
    spec = pfs_target.resolved_spec(SEED)
    tree = provenance.load_result(path, data_hash=eb.data_hash, spec=spec)
    np.testing.assert_allclose(tree["posterior"]["median_time"].values,
                               pfs_target.idata_["posterior"]["median_time"].values)
    assert tree.attrs["pclbayes_seed"] == SEED


@pytest.mark.heavy
def test_predictive_median_draws_for_planning(eb):
    """A new cohort's median PFS after a first infusion (the default episodes)."""
    out = predictive_median_draws(eb, endpoint="pfs", by="target", level="GPRC5D", seed=SEED)
    assert set(out) == {"median", "shape"}
    assert out["median"].ndim == 1 and out["median"].shape == out["shape"].shape
    first = SurvivalModel(endpoint="pfs", by="target", episodes="first").fit(eb, seed=SEED)
    np.testing.assert_array_equal(
        out["median"],
        first.idata_["posterior"]["median_time_new_cohort"].sel(group="GPRC5D").values
        .ravel())
    with pytest.raises(SpecError, match="choose a level"):
        predictive_median_draws(eb, level=None, seed=SEED)


def test_target_contrast_uses_first_infusions_by_default(eb):
    """A first-infusion contrast does not pool the target-switched re-infusions by default
    (they would enter as a crossover without carry-over); by strategy they are needed."""
    from pclbayes.survival.model import _select_episodes

    table = survival_table(eb, "pfs")
    assert len(table) == 20 and (table["strategy"] == "switch").sum() == 5
    first, note = _select_episodes(table, None, "pfs", "target")
    assert len(first) == 15 and set(first["strategy"]) == {"first"}
    assert "5 re-infusion episode(s) not used" in note
    pooled, note = _select_episodes(table, None, "pfs", "strategy")
    assert len(pooled) == 20 and "pooled with the first infusions" in note
    os_first, _ = _select_episodes(table, None, "os", "strategy")
    assert len(os_first) == 15
