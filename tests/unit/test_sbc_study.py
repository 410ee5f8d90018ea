"""SBC study type: spec checks, one task's reproducibility, the simulator and the verdict.

The simulator is checked against independent distributions (scipy's Weibull, Kendall's tau
of the positive-stable copula), the verdict against planted non-uniform ranks and the
false-failure rate of its band against direct simulation of uniform PIT values.
"""

from __future__ import annotations

import pickle
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pclbayes.errors import SpecError
from pclbayes.simulate.spec import study_from_spec
from pclbayes.simulate.studies import sbc
from pclbayes.simulate.studies.sbc import SBCStudy

STUDIES = Path(__file__).resolve().parents[2] / "studies"
WHERE = Path("my_sbc.toml")


def _spec(sbc_table: dict, **study) -> dict:
    return {"study": {"kind": "sbc", "name": "t", "title": "t", "seed": 5, "replicates": 10,
                      **study},
            "sbc": sbc_table}


def _bb(**extra) -> dict:
    return {"model": "beta-binomial", "design": {"n": [10, 12, 8, 15],
                                                  "groups": ["A", "A", "B", "B"]},
            "sampler": {"draws": 49, "chains": 1}, **extra}


# ---------------------------------------------------------------- spec checks
@pytest.mark.parametrize(("table", "key"), [
    ({"model": "poisson"}, "[sbc] model"),
    ({"model": "beta-binomial", "modle": 1}, "[sbc] modle"),
    ({"model": "weibull", "method": "exact"}, "[sbc] method"),
    ({"model": "beta-binomial", "method": "nuts"}, "[sbc] method"),
    ({"model": "beta-binomial", "design": {"n": [10]}}, "[sbc.design] n"),
    ({"model": "beta-binomial", "design": {"n": [10, 0]}}, "[sbc.design] n"),
    ({"model": "beta-binomial", "design": {"n": [10, 5], "groups": ["A"]}},
     "[sbc.design] groups"),
    ({"model": "beta-binomial", "design": {"cohorts": 3}}, "[sbc.design] cohorts"),
    ({"model": "weibull", "design": {"patients": 1}}, "[sbc.design] patients"),
    ({"model": "weibull", "design": {"follow_up_months": 0}}, "[sbc.design] follow_up_months"),
    ({"model": "weibull-frailty", "design": {"reinfused_share": 0.0}},
     "[sbc.design] reinfused_share"),
    ({"model": "beta-binomial", "sampler": {"draws": "many"}}, "[sbc.sampler] draws"),
    ({"model": "beta-binomial", "sampler": {"warmup": 10}}, "[sbc.sampler] warmup"),
    ({"model": "beta-binomial", "sampler": {"target_accept": 1.5}}, "[sbc.sampler]"),
    ({"model": "beta-binomial", "shared_graph": True}, "[sbc] shared_graph"),
    ({"model": "weibull", "shared_graph": "yes"}, "[sbc] shared_graph"),
    ({"model": "weibull", "design": {"reinfused_share": 0.5}}, "[sbc.design] reinfused_share"),
    ({"model": "beta-binomial", "thin": 0}, "[sbc] thin"),
    ({"model": "logit-normal", "thin": 500, "sampler": {"draws": 400}}, "[sbc] thin"),
    ({"model": "beta-binomial", "alpha": 0.0}, "[sbc] alpha"),
    ({"model": "beta-binomial", "priors": {"kapa": "Gamma(alpha=2, beta=1)"}}, "[sbc.priors]"),
    ({"model": "beta-binomial", "fit_priors": {"kappa": "Normal(mu=0, sigma=1)"}},
     "[sbc.fit_priors]"),
    ({"model": "weibull", "fit_priors": {"shape": "Normal(mu=1, sigma=1)"}},
     "[sbc.fit_priors]"),
])
def test_spec_errors_name_the_file_and_the_key(table, key):
    with pytest.raises(SpecError) as info:
        SBCStudy(_spec(table), WHERE)
    assert str(info.value).startswith(f"{WHERE}: {key}"), str(info.value)


def test_missing_table_and_grid_are_errors():
    with pytest.raises(SpecError, match=r"my_sbc.toml: \[sbc\]: missing"):
        SBCStudy({"study": {}}, WHERE)
    with pytest.raises(SpecError, match=r"my_sbc.toml: \[grid\]"):
        SBCStudy({**_spec(_bb()), "grid": {"n": [1, 2]}}, WHERE)


@pytest.mark.parametrize("path", sorted(STUDIES.glob("sbc_*.toml")), ids=lambda p: p.stem)
def test_bundled_specs_load(path):
    study = study_from_spec(tomllib.loads(path.read_text()), path)
    assert isinstance(study, SBCStudy)
    assert study.scenarios() == [{}]
    assert len(study.parameters) >= 4


def test_thin_defaults_by_engine():
    assert SBCStudy(_spec(_bb())).thin == 1
    assert SBCStudy(_spec(_bb(method="mcmc"))).thin == 8


# ---------------------------------------------------------------- one task
def test_task_is_reproducible_from_its_seed_and_the_study_pickles():
    study = SBCStudy(_spec(_bb()), WHERE)
    seed = np.random.SeedSequence(5, spawn_key=(0, 3))
    first = study.run_task({}, 3, seed)
    again = pickle.loads(pickle.dumps(study)).run_task({}, 3, seed)
    assert first == pytest.approx(again, nan_ok=True)
    assert list(first) == list(again)
    other = study.run_task({}, 4, np.random.SeedSequence(5, spawn_key=(0, 4)))
    assert other["true[kappa]"] != first["true[kappa]"]
    assert first["n_ranks"] == 49
    for name in study.parameters:
        rank, pit = first[f"rank[{name}]"], first[f"pit[{name}]"]
        assert 0 <= rank <= 49
        assert rank / 50 <= pit < (rank + 1) / 50
    assert np.isnan(first["max_rhat"]) and np.isnan(first["divergences"])  # exact engine


@pytest.mark.parametrize("heterogeneity", ["shared", "stratum"])
def test_exact_draws_are_the_fitted_models_draws(heterogeneity):
    """The SBC's exact-engine shortcut gives ResponseModel.fit's posterior draws exactly."""
    helper = SBCStudy(_spec(_bb(heterogeneity=heterogeneity)))._helper
    frame, _ = helper.simulate(np.random.default_rng(21))
    fast = helper.exact_draws(frame, 77)
    post = helper.fit_model.fit(frame, seed=77).idata_["posterior"]
    for g in ("A", "B"):
        np.testing.assert_array_equal(fast[f"mu[{g}]"], post["mu"].sel(arm=g).values)
        if heterogeneity == "stratum":
            np.testing.assert_array_equal(fast[f"kappa[{g}]"], post["kappa"].sel(arm=g).values)
    if heterogeneity == "shared":
        np.testing.assert_array_equal(fast["kappa"], post["kappa"].values)
    np.testing.assert_array_equal(fast["cohort_rate[c1]"],
                                  post["cohort_rate"].sel(cohort="c1/A").values)


# ---------------------------------------------------------------- the simulator
def test_response_truths_follow_the_model_priors():
    """True values drawn by the simulator have the priors the fit uses (KS tests)."""
    helper = SBCStudy(_spec(_bb(fit_priors={"kappa": "Gamma(alpha=2, beta=0.5)"})))._helper
    rng = np.random.default_rng(11)
    truths = pd.DataFrame([helper.simulate(rng)[1] for _ in range(400)])
    assert stats.kstest(truths["mu[A]"], stats.uniform().cdf).pvalue > 1e-3
    # the data's prior is the default Gamma(2, rate 0.1), not the fit's override
    assert stats.kstest(truths["kappa"], stats.gamma(2, scale=10).cdf).pvalue > 1e-3
    assert stats.kstest(truths["kappa"], stats.gamma(2, scale=2).cdf).pvalue < 1e-6


def _point_mass_weibull(model: str, tau: float = 0.0) -> dict:
    priors = {"log_median": "Normal(mu=2, sigma=1e-9)",
              "effect": "Normal(mu=0.5, sigma=1e-9)",
              "shape": "LogNormal(mu=0.4054651081, sigma=1e-9)",
              "sigma_cohort": "HalfNormal(sigma=1e-9)"}
    if tau:
        priors["kendall_tau"] = {"dist": "Beta", "alpha": tau * 1e6, "beta": (1 - tau) * 1e6}
    return {"model": model, "priors": priors,
            "design": {"cohorts": 1, "patients": 3000, "groups": ["BCMA", "GPRC5D"],
                       "accrual_months": 0, "follow_up_months": 1e4,
                       **({"reinfused_share": 1.0} if tau else {})}}


def test_weibull_times_follow_scipy_weibull():
    """With the parameters pinned, uncensored times are Weibull(k=1.5) with median e^2."""
    helper = SBCStudy(_spec(_point_mass_weibull("weibull")))._helper
    frame, truth = helper.simulate(np.random.default_rng(3))
    assert truth["shape"] == pytest.approx(1.5)
    assert frame["event"].all()
    for target, log_median in (("BCMA", 2.0), ("GPRC5D", 2.5)):
        t = frame.loc[frame["target"] == target, "time"]
        scale = np.exp(log_median) / np.log(2.0) ** (1 / 1.5)
        assert stats.kstest(t, stats.weibull_min(1.5, scale=scale).cdf).pvalue > 1e-3


def test_frailty_gives_weibull_margins_and_kendalls_tau():
    helper = SBCStudy(_spec(_point_mass_weibull("weibull-frailty", tau=0.4)))._helper
    frame, _ = helper.simulate(np.random.default_rng(4))
    bcma = frame[frame["target"] == "BCMA"]  # one covariate pattern per episode
    first = bcma[bcma["episode"] == 1].set_index("patient_id")["time"]
    second = bcma[bcma["episode"] == 2].set_index("patient_id")["time"]
    for times, log_median in ((first, 2.0), (second, 2.5)):  # strategy[switch] = 0.5
        scale = np.exp(log_median) / np.log(2.0) ** (1 / 1.5)
        assert stats.kstest(times, stats.weibull_min(1.5, scale=scale).cdf).pvalue > 1e-3
    tau = stats.kendalltau(first, second.loc[first.index]).statistic
    assert tau == pytest.approx(0.4, abs=0.04)  # SE of Kendall's tau, n = 1500: ~0.013


def test_censoring_is_administrative():
    table = _point_mass_weibull("weibull")
    table["design"].update(accrual_months=12, follow_up_months=6, patients=500)
    helper = SBCStudy(_spec(table))._helper
    frame, _ = helper.simulate(np.random.default_rng(5))
    censored = frame[frame["event"] == 0]["time"]
    assert len(censored) > 50
    assert censored.between(6, 18).all()
    assert (frame.loc[frame["event"] == 1, "time"] < 18).all()


# ---------------------------------------------------------------- the verdict
def _rows(pits: dict[str, np.ndarray], n_ranks: int = 99) -> pd.DataFrame:
    out = {}
    for name, pit in pits.items():
        out[f"pit[{name}]"] = pit
        out[f"rank[{name}]"] = np.floor(pit * (n_ranks + 1)).astype(int)
    n = len(next(iter(pits.values())))
    return pd.DataFrame({**out, "n_ranks": n_ranks, "max_rhat": np.nan,
                         "min_ess_bulk": np.nan, "divergences": np.nan, "status": "ok"},
                        index=range(n))


@pytest.fixture(scope="module")
def study():
    return SBCStudy(_spec(_bb()))


def test_summary_passes_uniform_ranks(study):
    rng = np.random.default_rng(2027)
    results = _rows({p: rng.uniform(size=300) for p in study.parameters})
    summary = study.summarise(results)
    assert summary.passed is True
    table = summary.tables["rank statistics"]
    assert table["passed"].all() and (table["tasks"] == 300).all()
    assert (abs(table["mean_rank"] - 0.5) < 4 * table["mean_rank_mcse"]).all()
    assert any(line.startswith("PASS") for line in summary.lines)


def test_calibrated_studies_fail_at_most_at_rate_alpha(study):
    """40 studies of uniform ranks: failures ~ Binomial(40, <= 0.01), so at most 3."""
    rng = np.random.default_rng(8)
    failed = sum(not study.summarise(_rows({p: rng.uniform(size=300)
                                            for p in study.parameters})).passed
                 for _ in range(40))
    assert failed <= 3  # P(Binomial(40, 0.01) > 3) = 0.0007


@pytest.mark.parametrize("planted", ["skewed", "overdispersed", "underdispersed"])
def test_summary_flags_a_planted_non_uniform_parameter(study, planted):
    rng = np.random.default_rng(7)
    pits = {p: rng.uniform(size=300) for p in study.parameters}
    u = rng.uniform(size=300)
    pits["kappa"] = {"skewed": u ** 1.6,                       # biased posterior
                     "overdispersed": rng.beta(0.6, 0.6, 300),   # too narrow posterior
                     "underdispersed": rng.beta(1.8, 1.8, 300)}[planted]  # too wide
    summary = study.summarise(_rows(pits))
    assert summary.passed is False
    verdicts = summary.tables["rank statistics"].set_index("parameter")["passed"]
    assert not verdicts["kappa"]
    assert verdicts.drop("kappa").all()
    assert any("FAIL" in line and "kappa" in line for line in summary.lines)


def test_band_false_failure_rate_matches_its_level():
    """The band of N uniform PIT ECDFs is crossed by ~(1 - level) of uniform samples."""
    n, level = 100, 0.95  # the band is computed from its own seed, the samples here
    ev, lo, hi = sbc._band(n, level)
    rng = np.random.default_rng(99)
    sims = 2000
    outside = 0
    for _ in range(sims):
        ecdf = sbc._ecdf(rng.uniform(size=n), ev)
        outside += not np.all((ecdf >= lo) & (ecdf <= hi))
    rate = outside / sims
    se = np.sqrt(0.05 * 0.95 / sims)
    assert abs(rate - 0.05) < 4 * se + 0.01, rate


def test_summary_of_a_partial_study_says_so(study):
    rng = np.random.default_rng(1)
    results = _rows({p: rng.uniform(size=12) for p in study.parameters})
    results.loc[0, "status"] = "error"
    summary = study.summarise(results)
    assert summary.passed is None
    assert "11 finished task(s) of 12" in summary.lines[0] and "1 failed" in summary.lines[0]
    assert any(line.startswith("No verdict") for line in summary.lines)


def test_figure_has_a_panel_per_parameter(study):
    rng = np.random.default_rng(3)
    summary = study.summarise(_rows({p: rng.uniform(size=50) for p in study.parameters}))
    (title, make), = summary.figures
    fig = make()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(study.parameters)
    assert "ECDF difference" in title
