"""ResponseModel: results contract, reproducibility, validation and the diagnostics gate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pclbayes.cli._output import dumps
from pclbayes.data import load
from pclbayes.errors import ConvergenceWarning, ProvenanceError, SpecError
from pclbayes.model import SUMMARY_COLUMNS
from pclbayes.provenance import load_result
from pclbayes.response import ResponseModel
from pclbayes.sampling import SamplerSettings


@pytest.fixture(scope="module")
def eb():
    return load()


@pytest.fixture(scope="module")
def orr_target(eb):
    return ResponseModel(endpoint="orr", by="target", method="mcmc").fit(eb, seed=1)


@pytest.fixture(scope="module")
def cr_strategy_ln(eb):
    return ResponseModel(endpoint="cr", by="strategy", model="logit-normal").fit(eb, seed=1)


# --------------------------------------------------------------------------- DataTree
def test_datatree_groups_dims_and_labels(orr_target) -> None:
    tree = orr_target.idata_
    for group in ("posterior", "posterior_predictive", "log_likelihood", "prior",
                  "prior_predictive", "observed_data", "constant_data", "sample_stats"):
        assert group in tree.children, group
    post = tree["posterior"]
    assert post["pooled_rate"].dims == ("chain", "draw", "target")
    assert list(post["target"].values) == ["BCMA", "GPRC5D"]
    assert post["cohort_rate"].dims == ("chain", "draw", "cohort")
    assert list(post["cohort"].values) == ["carsgen/BCMA", "tongji/BCMA", "xuzhou/BCMA",
                                           "xuzhou/GPRC5D"]
    assert list(post["study"].values) == ["carsgen", "tongji", "xuzhou", "xuzhou"]
    assert list(post["contrast"].values) == ["GPRC5D - BCMA"]
    for group in tree.children.values():  # every non-sample dim carries labels
        for dim in group.dims:
            if dim not in ("chain", "draw"):
                assert group[dim].dtype.kind in "UO", (group.name, dim)
    assert tree["observed_data"]["responders"].values.tolist() == [2, 2, 6, 5]
    assert tree["constant_data"]["n"].values.tolist() == [2, 2, 6, 5]
    # shrunken rates are drawn from their conjugate conditionals: strictly inside (0, 1]
    rates = post["cohort_rate"].values
    assert np.all((rates > 0) & (rates <= 1))


def test_prior_predictive_uses_the_population_not_the_data(orr_target) -> None:
    prior = orr_target.idata_["prior"]
    # the prior mean of the pooled rate is 1/2 under Beta(1, 1), far from the data
    assert float(prior["pooled_rate"].mean()) == pytest.approx(0.5, abs=0.02)
    kappa = prior["kappa"].values.ravel()
    assert np.mean(kappa) == pytest.approx(20.0, rel=0.05)      # Gamma(2, 0.1)
    yrep = orr_target.idata_["prior_predictive"]["responders"].values
    assert yrep.min() == 0 and (yrep < orr_target.counts_.n).mean() > 0.5


def test_provenance_and_netcdf_round_trip(orr_target, eb, tmp_path) -> None:
    attrs = orr_target.idata_.attrs
    assert attrs["pclbayes_data_hash"] == eb.data_hash and attrs["pclbayes_seed"] == 1
    kappa = json.loads(attrs["pclbayes_spec"])["priors"]["kappa"]
    assert (kappa["dist"], kappa["alpha"], kappa["beta"]) == ("Gamma", 2.0, 0.1)
    path = orr_target.save(tmp_path / "fit.nc")
    back = load_result(path, data_hash=eb.data_hash)
    np.testing.assert_array_equal(back["posterior"]["pooled_rate"].values,
                                  orr_target.idata_["posterior"]["pooled_rate"].values)
    with pytest.raises(ProvenanceError, match="refit"):
        load_result(path, data_hash="0" * 64)


# --------------------------------------------------------------------------- tables
def test_summary_contract(orr_target) -> None:
    s = orr_target.summary()
    assert tuple(s.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert set(s["quantity"]) == {"pooled_rate", "predictive_rate", "cohort_rate", "contrast",
                                  "kappa", "between_cohort_sd"}
    assert (s["ci_prob"] == 0.95).all()
    assert set(s["source"]) == {"posterior", "prior"}
    assert (s["lower"] <= s["median"]).all() and (s["median"] <= s["upper"]).all()
    coh = s[s["quantity"] == "cohort_rate"].set_index("level")
    assert coh.loc["xuzhou/GPRC5D", "observed"] == 1.0
    assert coh.loc["xuzhou/GPRC5D", "n"] == 5 and coh.loc["xuzhou/GPRC5D", "cohort"] == "xuzhou"
    # shrinkage: every observed 100% is pulled below 100%
    assert (coh["mean"] < coh["observed"]).all()
    con = s[s["quantity"] == "contrast"].iloc[0]
    assert con["level"] == "GPRC5D - BCMA" and 0 < con["prob_gt"] < 1
    assert con["prob_gt_value"] == 0
    assert s["converged"].all()
    prior = s[(s["quantity"] == "kappa") & (s["source"] == "prior")].iloc[0]
    assert prior["mean"] == pytest.approx(20.0) and prior["lower"] == pytest.approx(2.4221, 1e-4)
    summary = orr_target.summary()
    summary.loc[0, "mean"] = -1.0                      # callers get a copy
    assert orr_target.summary().loc[0, "mean"] != -1.0


def test_json_layout(orr_target) -> None:
    d = json.loads(dumps(orr_target.to_dict()))
    for key in ("endpoint", "by", "model", "groups", "predictive", "cohorts", "hyper",
                "diagnostics", "contrasts"):
        assert key in d
    assert d["endpoint"] == "orr" and d["by"] == "target" and d["model"] == "beta-binomial"
    stats_keys = {"mean", "median", "lower", "upper"}
    assert set(d["groups"]) == {"BCMA", "GPRC5D"}
    assert set(d["groups"]["BCMA"]) == stats_keys
    assert set(d["predictive"]["GPRC5D"]) == stats_keys
    assert stats_keys <= set(d["cohorts"]["tongji/BCMA"])
    assert d["cohorts"]["tongji/BCMA"]["observed"] == 1.0
    assert set(d["hyper"]) == {"mean", "kappa"} and set(d["hyper"]["kappa"]) == stats_keys
    assert {"max_rhat", "min_ess_bulk", "divergences"} <= set(d["diagnostics"])
    assert d["diagnostics"]["divergences"] == 0
    assert 0 < d["contrasts"]["GPRC5D - BCMA"]["prob_gt"] < 1


@pytest.mark.heavy
def test_logit_normal_results(cr_strategy_ln) -> None:
    post = cr_strategy_ln.idata_["posterior"]
    assert post["effect"].dims == ("chain", "draw", "contrast")
    assert post["z"].dims == ("chain", "draw", "cohort")
    assert post["mu_logit"].dims == ("chain", "draw", "strategy")
    d = cr_strategy_ln.to_dict()
    assert set(d["hyper"]) >= {"mu", "sigma"} and set(d["hyper"]["mu"]) == {"first", "switch"}
    s = cr_strategy_ln.summary()
    assert {"sigma", "mu_logit", "log_odds_ratio"} <= set(s["quantity"])
    assert len(s[(s["quantity"] == "sigma") & (s["source"] == "prior")]) == 1
    # the pooled rate is the mean of the population distribution, E[expit(mu + sigma z)]:
    # by Jensen it lies between expit(mu) and 1/2
    mu = s[(s["quantity"] == "mu_logit") & (s["level"] == "first")]["median"].iloc[0]
    pooled = post["pooled_rate"].sel(strategy="first")
    med_mu = post["mu_logit"].sel(strategy="first")
    inside = (pooled - 0.5) * (1 / (1 + np.exp(-med_mu)) - 0.5)
    assert float((inside >= -1e-12).mean()) == 1.0 and mu > 0


def test_ppc_table(orr_target) -> None:
    for kind in ("posterior", "mixed"):
        t = orr_target.ppc_table(kind)
        assert list(t["cohort"]) == list(orr_target.counts_.units)
        assert ((t["p_value"] >= 0) & (t["p_value"] <= 1)).all()
        assert (t["lower"] <= t["observed"]).all() and (t["upper"] <= t["n"]).all()
    with pytest.raises(SpecError, match="kind must be"):
        orr_target.ppc_table("loo")


def test_model_card_and_prior_summary(orr_target) -> None:
    text = str(orr_target)
    for fragment in ("ORR (PR or better), by target", "kappa shared across levels",
                     "first infusions only", "every patient responded", "GPRC5D - BCMA",
                     "P(>0)", "posterior", "prior", "converged"):
        assert fragment in text, fragment
    ps = orr_target.prior_summary()
    assert "Gamma(alpha=2, beta=0.1)" in ps and "P(kappa > 99) = 0.0005" in ps and "why:" in ps


# --------------------------------------------------------------------------- reproducibility
def test_same_seed_same_numbers_other_seed_other_numbers(eb, orr_target) -> None:
    again = ResponseModel(endpoint="orr", by="target", method="mcmc").fit(eb, seed=1)
    for var in ("pooled_rate", "cohort_rate", "predictive_rate", "kappa"):
        np.testing.assert_array_equal(again.idata_["posterior"][var].values,
                                      orr_target.idata_["posterior"][var].values)
    pd.testing.assert_frame_equal(again.summary(), orr_target.summary())
    other = ResponseModel(endpoint="orr", by="target", method="mcmc").fit(eb, seed=2)
    assert not np.array_equal(other.idata_["posterior"]["kappa"].values,
                              orr_target.idata_["posterior"]["kappa"].values)


@pytest.mark.heavy
def test_cached_compiled_model_gives_the_same_numbers_as_a_fresh_one(eb, orr_target) -> None:
    from pclbayes.nuts import clear_cache

    clear_cache()
    # same structure, other data and other prior values (other starting points), compiled first
    ResponseModel(endpoint="cr", by="strategy", method="mcmc",
                  priors={"mu": "Beta(alpha=5, beta=2)"}).fit(eb, seed=1)
    reused = ResponseModel(endpoint="orr", by="target", method="mcmc").fit(eb, seed=1)
    np.testing.assert_array_equal(reused.idata_["posterior"]["mu"].values,
                                  orr_target.idata_["posterior"]["mu"].values)
    clear_cache()
    fresh = ResponseModel(endpoint="orr", by="target", method="mcmc").fit(eb, seed=1)
    np.testing.assert_array_equal(fresh.idata_["posterior"]["mu"].values,
                                  orr_target.idata_["posterior"]["mu"].values)


def test_exact_engine_fit_is_reproducible_and_gated_as_exact(eb) -> None:
    a = ResponseModel(endpoint="cr", by="target", method="exact").fit(eb, seed=3)
    b = ResponseModel(endpoint="cr", by="target", method="exact").fit(eb, seed=3)
    pd.testing.assert_frame_equal(a.summary(), b.summary())
    assert a.diagnostics_.ok and np.isnan(a.diagnostics_.max_rhat)
    assert "sample_stats" not in a.idata_.children
    assert a.idata_["posterior"].sizes["draw"] == 4000
    assert a.to_dict()["sampler"] is None and "exact engine" in str(a)


# --------------------------------------------------------------------------- the gate
def test_a_failing_fit_warns_with_the_remedy_and_says_so(eb) -> None:
    short = SamplerSettings(draws=30, tune=30, chains=2)
    with pytest.warns(ConvergenceWarning, match="increase sampler.draws"):
        fit = ResponseModel(endpoint="cr", by="target", method="mcmc",
                            sampler=short).fit(eb, seed=1)
    assert not fit.diagnostics_.ok
    assert not fit.summary()["converged"].any()
    assert "WARNING: the sampler did not pass the convergence gate" in str(fit)
    assert fit.to_dict()["diagnostics"]["ok"] is False


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "probit"}, "unknown model 'probit'"),
    ({"method": "laplace"}, "unknown method 'laplace'"),
    ({"model": "logit-normal", "method": "exact"}, "beta-binomial model only"),
    ({"heterogeneity": "both"}, "unknown heterogeneity"),
    ({"priors": {"tau": "HalfNormal(sigma=1)"}}, "unknown prior 'tau'; this model has: mu"),
    ({"priors": {"mu": "Normal(mu=0, sigma=1)"}}, "wrong support"),
    ({"priors": {"kappa": "Normal(mu=0, sigma=1)"}}, "wrong support"),
    ({"priors": {"kappa": "Gamma(alpha=2)"}}, "Gamma takes parameters"),
    ({"sampler": {"draws": 10, "warmup": 5}}, "unknown sampler setting"),
    ({"resolution": (8, 8)}, "resolution must be"),
])
def test_bad_options_fail_before_sampling(eb, kwargs, message) -> None:
    with pytest.raises(SpecError, match=message):
        ResponseModel(**kwargs).fit(eb)


def test_bad_seed_and_unfitted_use(eb) -> None:
    with pytest.raises(SpecError, match="seed must be an integer from 0"):
        ResponseModel().fit(eb, seed=-1)
    with pytest.raises(SpecError, match="not fitted yet"):
        ResponseModel().summary()
    assert "not fitted" in str(ResponseModel())


def test_python_prior_override_is_used(eb) -> None:
    fit = ResponseModel(endpoint="cr", method="exact",
                        priors={"kappa": "Gamma(alpha=2, beta=0.05)"}).fit(eb)
    prior = fit.summary().query("quantity == 'kappa' and source == 'prior'").iloc[0]
    assert prior["mean"] == pytest.approx(40.0)
    assert "[user]" in fit.prior_summary()


def test_dataframe_input_is_copied_not_mutated() -> None:
    df = pd.DataFrame({"cohort": ["a", "b", "c"], "n": [20, 12, 30],
                       "responders": [15, 10, 19]})
    before = df.copy()
    fit = ResponseModel(method="exact").fit(df, seed=1)
    pd.testing.assert_frame_equal(df, before)
    assert fit.counts_.units == ("a", "b", "c")
    assert len(fit.data_hash_) == 64


def test_kappa_prior_reason_states_what_the_prior_implies() -> None:
    """The default kappa prior's stated implications hold (scipy), and it cites no source
    about a different kind of parameter."""
    from scipy import stats

    from pclbayes.response.defaults import PRIORS, default_priors

    kappa = default_priors("beta-binomial")["kappa"]
    g = stats.gamma(kappa.params["alpha"], scale=1 / kappa.params["beta"])
    lo, hi = g.ppf([0.025, 0.975])
    assert f"95% in {lo:.1f}-{hi:.0f}" in kappa.reason
    sd = np.sqrt(0.8 * 0.2 / (np.array([hi, lo]) + 1))
    assert f"80% rate of {sd[0]:.2f}-{sd[1]:.2f}" in kappa.reason
    assert f"P(kappa > 99) = {g.sf(99):.4f}" in kappa.reason
    assert np.sqrt(0.8 * 0.2 / (99 + 1)) == pytest.approx(0.04)
    assert "Chung" not in PRIORS["beta-binomial"]["kappa"].reference
