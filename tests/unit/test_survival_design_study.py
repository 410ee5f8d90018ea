"""The survival-design study: exact posterior, the exponential special case, spec checks.

Independent references: the conjugate Gamma posterior of an exponential hazard (closed
form), scipy's adaptive quadrature (``integrate.quad`` / ``dblquad``), the Gamma
distribution of total exposure when every patient has an event, and a large vectorised
conjugate simulation written here, not in the study.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats
from simulate_helpers import run_tasks

from pclbayes.errors import SpecError
from pclbayes.planning.normal import NormalMixture
from pclbayes.priors import Prior
from pclbayes.simulate.spec import load_study, study_from_spec
from pclbayes.simulate.studies import study_class
from pclbayes.simulate.studies.survival_design import (
    SurvivalAnalysis,
    SurvivalDesignStudy,
    posterior_prob,
)

ROOT = Path(__file__).resolve().parents[2]
LOG2 = math.log(2.0)


def _spec(design: dict | None = None, grid: dict | None = None, prior: dict | None = None,
          replicates: int = 100) -> dict:
    table = {"n": 20, "accrual_rate": 2.0, "follow_up": 6.0, "rule": "median",
             "null_median": 6.0, "threshold": 0.8, "shape": 1.0}
    table.update(design or {})
    table = {k: v for k, v in table.items() if v is not None}
    table["prior"] = prior or {"rate": {"dist": "Gamma", "alpha": 2.0, "beta": 15.0}}
    return {"study": {"kind": "survival-design", "name": "t", "title": "test", "seed": 5,
                      "replicates": replicates},
            "grid": grid or {"true_median": [6.0, 10.0], "true_shape": [1.0]},
            "survival_design": table}


def _run(study: SurvivalDesignStudy, replicates: int, seed: int = 11) -> pd.DataFrame:
    """Drive the study task by task, as the runner does (one SeedSequence per task)."""
    return run_tasks(study, replicates, seed)


# ---------------------------------------------------------------------- the posterior
def test_fixed_shape_posterior_matches_the_conjugate_gamma_closed_form():
    rng = np.random.default_rng(3)
    a, b, m0 = 2.5, 20.0, 6.0
    analysis = SurvivalAnalysis(None, Prior.parse(f"Gamma(alpha={a}, beta={b})"), 1.0, None)
    for _ in range(40):
        n = int(rng.integers(1, 80))
        t = rng.exponential(rng.uniform(1.0, 30.0), n)
        ev = rng.random(n) < rng.uniform(0.0, 1.0)
        got = posterior_prob(t, ev, analysis, lambda k: np.full(np.shape(k), math.log(m0)))
        # h | data ~ Gamma(a + d, b + exposure); median > m0  <=>  h < log 2 / m0
        want = stats.gamma(a + ev.sum(), scale=1 / (b + t.sum())).cdf(LOG2 / m0)
        assert got["prob"] == pytest.approx(want, abs=1e-10)
        mean_log_h = special.digamma(a + ev.sum()) - math.log(b + t.sum())
        assert got["mean_log_median"] == pytest.approx(math.log(LOG2) - mean_log_h, abs=1e-8)


def test_normal_mixture_prior_and_weibull_shape_match_adaptive_quadrature():
    rng = np.random.default_rng(4)
    t = rng.weibull(1.4, 25) * 9.0
    ev = rng.random(25) < 0.75
    d, slt = int(ev.sum()), float(np.log(t[ev]).sum())
    mix = NormalMixture([0.6, 0.4], [2.0, 2.6], [0.25, 0.8])
    k, m0 = 1.4, 7.0

    def log_post(th: float) -> float:
        return (float(mix.logpdf(th)) + d * math.log(k) + (k - 1) * slt - d * k * th
                - LOG2 * float(np.sum(t**k)) * math.exp(-k * th))

    ref = max(log_post(x) for x in np.linspace(0, 5, 201))

    def f(th: float) -> float:
        return math.exp(log_post(th) - ref)

    total = integrate.quad(f, -6, 12, points=[1.5, 2.0, 2.5, 3.0], limit=400)[0]
    above = integrate.quad(f, math.log(m0), 12, limit=400)[0]
    got = posterior_prob(t, ev, SurvivalAnalysis(mix, None, k, None),
                         lambda kk: np.full(np.shape(kk), math.log(m0)))
    assert got["prob"] == pytest.approx(above / total, abs=1e-9)


def test_uncertain_shape_posterior_matches_two_dimensional_simpson_rule():
    rng = np.random.default_rng(1)
    t = rng.exponential(8, 12)
    ev = rng.random(12) < 0.7
    d, slt = int(ev.sum()), float(np.log(t[ev]).sum())
    mix = NormalMixture([1.0], [2.0], [0.5])
    shape = Prior.parse("LogNormal(mu=0, sigma=0.4)")
    m0 = 6.0
    # Simpson's rule on fine tensor grids in (log median, log shape), the cut an edge
    u = np.linspace(-2.6, 2.6, 1201)
    k = np.exp(u)[None, :]
    t_k = np.sum(t[:, None] ** k, axis=0)[None, :]

    def density(th: np.ndarray) -> np.ndarray:
        th = th[:, None]
        return np.exp(mix.logpdf(th) + shape.logpdf(k) + np.log(k) + d * np.log(k)
                      + (k - 1) * slt - d * k * th - LOG2 * t_k * np.exp(-k * th) + 20.0)

    below_th, above_th = np.linspace(-4, math.log(m0), 1601), np.linspace(math.log(m0), 9, 1601)
    below = integrate.simpson(integrate.simpson(density(below_th), x=below_th, axis=0), x=u)
    above = integrate.simpson(integrate.simpson(density(above_th), x=above_th, axis=0), x=u)
    got = posterior_prob(t, ev, SurvivalAnalysis(mix, None, None, shape),
                         lambda kk: np.full(np.shape(kk), math.log(m0)))
    assert got["prob"] == pytest.approx(above / (above + below), abs=1e-7)


def test_survival_rule_is_the_landmark_probability():
    # exponential, Gamma prior: S(t*) > s0  <=>  h < -log(s0) / t*
    spec = _spec({"rule": "survival", "landmark": 12.0, "null_survival": 0.3})
    del spec["survival_design"]["null_median"]
    study = SurvivalDesignStudy(spec)
    rng = np.random.default_rng(8)
    t = rng.exponential(10.0, 20)
    ev = rng.random(20) < 0.8
    got = posterior_prob(t, ev, study.analysis, study.design.theta_cut)
    want = stats.gamma(2.0 + ev.sum(), scale=1 / (15.0 + t.sum())).cdf(-math.log(0.3) / 12.0)
    assert got["prob"] == pytest.approx(want, abs=1e-10)


# ---------------------------------------------------------------------- exponential OC
@pytest.mark.heavy
def test_no_censoring_success_rate_matches_the_gamma_closed_form():
    """Every patient has an event: exposure ~ Gamma(n, h), so P(success) is one Gamma tail."""
    a, b, n, c, m0 = 2.0, 15.0, 20, 0.8, 6.0
    spec = _spec({"n": n, "follow_up": 1e4, "threshold": c},
                 grid={"true_median": [6.0, 8.0], "true_shape": [1.0]})
    study = study_class("survival-design")(spec)
    reps = 600
    table = study.summarise(_run(study, reps)).tables["operating characteristics"]
    h0 = LOG2 / m0
    # success <=> P(h < h0 | n events, exposure e) = P(a + n, (b + e) h0) > c <=> e > e*
    e_star = optimize.brentq(lambda e: special.gammainc(a + n, (b + e) * h0) - c, 0, 1e4)
    for _, row in table.iterrows():
        h = LOG2 / row["true_median"]
        exact = stats.gamma(n, scale=1 / h).sf(e_star)
        se = math.sqrt(exact * (1 - exact) / reps)
        assert abs(row["p_success"] - exact) < 4 * se, (row.to_dict(), exact)
        assert row["mean_events"] == n
    assert list(table["estimates"]) == ["type-I error", "power"]


def _direct_conjugate_oc(n, rate, fu, a, b, m0, c, median, accrual, rng, trials):
    """P(success) of the exponential design by direct vectorised simulation (independent)."""
    if accrual == "uniform":
        entry = rng.uniform(0, n / rate, size=(trials, n))
    else:
        entry = np.cumsum(rng.exponential(1 / rate, size=(trials, n)), axis=1)
    cut = entry.max(axis=1, keepdims=True) + fu
    x = rng.exponential(median / LOG2, size=(trials, n))
    window = cut - entry
    d = (x <= window).sum(axis=1)
    exposure = np.minimum(x, window).sum(axis=1)
    prob = special.gammainc(a + d, (b + exposure) * LOG2 / m0)
    return float(np.mean(prob > c)), float(d.mean())


@pytest.mark.heavy
@pytest.mark.parametrize("accrual", ["uniform", "poisson"])
def test_censored_exponential_oc_matches_a_direct_conjugate_simulation(accrual):
    a, b, n, rate, fu, c, m0 = 2.0, 15.0, 20, 2.0, 6.0, 0.8, 6.0
    spec = _spec({"accrual": accrual}, grid={"true_median": [6.0, 9.0], "true_shape": [1.0]})
    study = SurvivalDesignStudy(spec)
    reps = 600
    table = study.summarise(_run(study, reps)).tables["operating characteristics"]
    rng = np.random.default_rng(2024)
    for _, row in table.iterrows():
        ref, ref_events = _direct_conjugate_oc(n, rate, fu, a, b, m0, c, row["true_median"],
                                               accrual, rng, 200_000)
        se = math.sqrt(ref * (1 - ref) / reps + ref * (1 - ref) / 200_000)
        assert abs(row["p_success"] - ref) < 4 * se, (row.to_dict(), ref)
        assert row["mcse"] == pytest.approx(
            math.sqrt(row["p_success"] * (1 - row["p_success"]) / reps))
        assert abs(row["mean_events"] - ref_events) < 0.5


# ---------------------------------------------------------------------- rows, seeds
def test_rows_have_fixed_keys_diagnostics_nan_and_depend_on_the_seed_only():
    study = SurvivalDesignStudy(_spec(design={"accrual": "poisson"}))
    sc = study.scenarios()[0]
    one = study.run_task(sc, 0, np.random.SeedSequence(9, spawn_key=(0, 0)))
    again = SurvivalDesignStudy(_spec(design={"accrual": "poisson"})).run_task(
        sc, 0, np.random.SeedSequence(9, spawn_key=(0, 0)))
    other = study.run_task(sc, 1, np.random.SeedSequence(9, spawn_key=(0, 1)))
    assert one == pytest.approx(again, nan_ok=True) and repr(one) == repr(again)
    assert one.keys() == other.keys() and one != other
    for key in ("max_rhat", "min_ess_bulk", "divergences"):
        assert math.isnan(one[key])
    assert isinstance(one["success"], bool) and isinstance(one["events"], int)
    assert 0 <= one["events"] <= one["enrolled"] == 20


def test_analysis_time_cut_leaves_out_patients_not_yet_enrolled():
    study = SurvivalDesignStudy(_spec(design={"analysis_time": 5.0, "follow_up": None}))
    rows = _run(study, 20)
    # uniform accrual over 10 months, cut at month 5: about half the patients are in
    assert rows["analysis_time"].eq(5.0).all()
    assert 5 < rows["enrolled"].mean() < 15
    assert (rows["mean_follow_up"] <= 5.0).all()


def test_grid_axes_override_the_design_per_scenario():
    spec = _spec(grid={"true_median": [8.0], "true_shape": [1.0], "n": [10, 40]})
    study = SurvivalDesignStudy(spec)
    rows = _run(study, 3)
    assert sorted(set(rows["enrolled"])) == [10, 40]
    table = study.summarise(rows).tables["operating characteristics"]
    assert list(table["n"]) == [10, 40] and list(table["tasks"]) == [3, 3]


def test_summary_is_honest_about_partial_and_failed_tasks():
    study = SurvivalDesignStudy(_spec())
    rows = _run(study, 10)
    rows.loc[0, "status"] = "error"
    s = study.summarise(rows)
    table = s.tables["operating characteristics"]
    assert list(table["tasks"]) == [9, 10] and list(table["errors"]) == [1, 0]
    text = "\n".join(s.lines)
    assert "19 of 200 finished tasks" in text and "1 task(s) failed" in text
    assert "P(median PFS > 6 months | data) > 0.8" in text


# ---------------------------------------------------------------------- spec checks
@pytest.mark.parametrize(("change", "message"), [
    ({"colour": 1}, "[survival_design] colour: unknown key"),
    ({"n": 0}, "[survival_design] n: must be >= 1"),
    ({"analysis_time": 20.0}, "give exactly one of follow_up"),
    ({"threshold": 1.0}, "[survival_design] threshold: must be < 1"),
    ({"accrual": "steady"}, "[survival_design] accrual: expected one of"),
    ({"landmark": 3.0}, "[survival_design] landmark: belongs to rule"),
    ({"shape": {"dist": "Normal", "mu": 1, "sigma": 1}}, "allows negative values"),
])
def test_bad_design_keys_are_named_with_the_file(change, message, tmp_path):
    path = tmp_path / "s.toml"
    with pytest.raises(SpecError) as err:
        SurvivalDesignStudy(_spec(change), path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_bad_prior_and_grid_are_named(tmp_path):
    path = tmp_path / "s.toml"
    with pytest.raises(SpecError, match=r"prior\]: give exactly one of"):
        SurvivalDesignStudy(_spec(prior={"median": 6.0, "sd_log": 1.0,
                                         "rate": {"dist": "Gamma", "alpha": 1, "beta": 1}}),
                            path)
    with pytest.raises(SpecError, match="robust component needs a prior on the log median"):
        SurvivalDesignStudy(_spec(prior={"rate": {"dist": "Gamma", "alpha": 1, "beta": 1},
                                         "robust_weight": 0.2}), path)
    with pytest.raises(SpecError, match=r"\[grid\]: missing true_shape"):
        SurvivalDesignStudy(_spec(grid={"true_median": [6.0]}), path)
    with pytest.raises(SpecError, match=r"\[grid\] speed: unknown key"):
        SurvivalDesignStudy(_spec(grid={"true_median": [6.0], "true_shape": [1.0],
                                        "speed": [1]}), path)
    beta = tmp_path / "beta.json"
    from pclbayes.planning.io import save_prior
    from pclbayes.planning.mixture import BetaMixture

    save_prior(BetaMixture.single(2, 3), beta)
    with pytest.raises(SpecError, match="holds a beta prior"):
        SurvivalDesignStudy(_spec(prior={"file": "beta.json"}), path)
    spec = _spec()
    spec["design"] = spec["survival_design"]
    with pytest.raises(SpecError, match="give exactly one of these tables"):
        SurvivalDesignStudy(spec, path)


def test_prior_file_and_robust_component(tmp_path):
    from pclbayes.planning.io import save_prior

    save_prior(NormalMixture([1.0], [math.log(8.0)], [0.4]), tmp_path / "pfs.json")
    spec = _spec({"shape": 1.25},
                 prior={"file": "pfs.json", "robust_weight": 0.25, "robust_median": 6.0,
                        "robust_events": 0.25})
    spec["design"] = spec.pop("survival_design")
    study = SurvivalDesignStudy(spec, tmp_path / "s.toml")
    mix = study.analysis.log_median
    assert mix.names == ("comp1", "robust")
    np.testing.assert_allclose(mix.weights, [0.75, 0.25])
    np.testing.assert_allclose(mix.means, [math.log(8.0), math.log(6.0)])
    # worth 0.25 events at shape 1.25: variance 1 / (0.25 * 1.25^2)
    np.testing.assert_allclose(mix.sds, [0.4, 1 / (1.25 * 0.5)])


def test_bundled_spec_reads_and_runs_a_few_tasks():
    path = ROOT / "studies" / "survival_single_arm.toml"
    study = load_study(path)
    spec = study.spec
    assert isinstance(study, SurvivalDesignStudy)
    assert len(study.scenarios()) == 15 and study.analysis.shape_prior is not None
    sc = study.scenarios()[0]
    row = study.run_task(sc, 0, np.random.SeedSequence(spec["study"]["seed"],
                                                       spawn_key=(0, 0)))
    assert 0.0 <= row["prob"] <= 1.0 and 0.5 < row["mean_shape"] < 2.0


def test_runner_stores_the_rows_of_the_direct_loop(tmp_path):
    from pclbayes.simulate.executors import make_executor
    from pclbayes.simulate.runner import run_study
    from pclbayes.simulate.store import ResultStore

    spec = _spec(replicates=12)
    study = study_from_spec(spec, tmp_path / "s.toml")
    result = run_study(study, tmp_path / "store", executor=make_executor(serial=True))
    assert result.complete and result.errors == 0
    stored = ResultStore.open(tmp_path / "store").results(timing=False)
    direct = _run(SurvivalDesignStudy(spec), 12, seed=spec["study"]["seed"])
    key = ["true_median", "replicate"]
    stored = stored.sort_values(key).reset_index(drop=True)
    direct = direct.sort_values(key).reset_index(drop=True)
    for column in ("events", "exposure", "prob", "success"):
        assert stored[column].tolist() == direct[column].tolist(), column
    table = study.summarise(stored).tables["operating characteristics"]
    assert table["tasks"].tolist() == [12, 12]


def test_sampler_settings_belong_to_the_mcmc_engine(tmp_path):
    path = tmp_path / "s.toml"
    with pytest.raises(SpecError, match=r"sampler\]: belongs to engine = \"mcmc\""):
        SurvivalDesignStudy(_spec({"sampler": {"draws": 100}}), path)
    with pytest.raises(SpecError, match="unknown sampler setting"):
        SurvivalDesignStudy(_spec({"engine": "mcmc", "sampler": {"steps": 100}}), path)
    with pytest.raises(SpecError, match=r"engine: expected one of 'quadrature', 'mcmc'"):
        SurvivalDesignStudy(_spec({"engine": "gibbs"}), path)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [1.0, {"dist": "LogNormal", "mu": 0.0, "sigma": 0.3}])
def test_mcmc_engine_agrees_with_the_quadrature(shape):
    """Real NUTS fits of the same model: the probability within its Monte-Carlo error."""
    design = {"shape": shape, "engine": "mcmc",
              "sampler": {"draws": 1000, "tune": 500, "chains": 2}}
    prior = {"median": 7.0, "sd_log": 0.6, "robust_weight": 0.2}
    grid = {"true_median": [8.0], "true_shape": [1.2]}
    mcmc = SurvivalDesignStudy(_spec(design, grid=grid, prior=prior))
    design = {k: v for k, v in design.items() if k == "shape"}
    exact = SurvivalDesignStudy(_spec(design, grid=grid, prior=prior))
    sc = exact.scenarios()[0]
    for rep in range(4):
        a = exact.run_task(sc, rep, np.random.SeedSequence(2, spawn_key=(0, rep)))
        b = mcmc.run_task(sc, rep, np.random.SeedSequence(2, spawn_key=(0, rep)))
        assert a["events"] == b["events"] and a["exposure"] == b["exposure"]
        assert b["max_rhat"] < 1.01 and b["divergences"] == 0
        se = math.sqrt(max(a["prob"] * (1 - a["prob"]), 1e-4) / b["min_ess_bulk"])
        assert abs(a["prob"] - b["prob"]) < 4 * se + 1e-3, (a, b)
        assert abs(a["mean_shape"] - b["mean_shape"]) < 0.05


def test_survival_rule_labels_type_one_error_by_the_true_landmark_survival():
    spec = _spec({"rule": "survival", "landmark": 12.0, "null_survival": 0.3},
                 grid={"true_median": [6.0, 7.5], "true_shape": [1.0]})
    del spec["survival_design"]["null_median"]
    study = SurvivalDesignStudy(spec)
    # true S(12) = 2^(-12/m): 0.25 at m = 6 (null), 0.33 at m = 7.5 (alternative)
    assert study.design.is_null(6.0, 1.0) and not study.design.is_null(7.5, 1.0)
    s = study.summarise(_run(study, 5))
    assert list(s.tables["operating characteristics"]["estimates"]) == ["type-I error", "power"]
    assert "P(PFS at 12 months > 0.3 | data) > 0.8" in s.lines[0]


def test_study_pickles_and_figure_draws():
    import pickle

    study = pickle.loads(pickle.dumps(SurvivalDesignStudy(_spec())))
    title, make = study.summarise(_run(study, 5)).figures[0]
    fig = make()
    assert "true median" in title and len(fig.axes[0].lines) > 0


def _sum_of_truncated_exponentials_sf(d: int, h: float, c: float, t: float,
                                      bins: int = 4000) -> float:
    """P(Y_1 + ... + Y_d > t), Y_i i.i.d. Exp(h) truncated to [0, c], by FFT convolution.

    Each Y is discretised to the midpoints of ``bins`` cells with their exact masses, so the
    error of the tail probability is of order (c / bins)^2.
    """
    from scipy.signal import fftconvolve

    if d == 0:
        return float(t < 0)
    edges = np.linspace(0.0, c, bins + 1)
    mass = np.diff(-np.exp(-h * edges)) / (1 - math.exp(-h * c))
    pmf = np.array([1.0])
    for _ in range(d):
        pmf = np.clip(fftconvolve(pmf, mass), 0.0, None)
    # the sum of d midpoints sits at (k + d / 2) * width
    values = (np.arange(pmf.size) + d / 2) * (c / bins)
    return float(pmf[values > t].sum() / pmf.sum())


@pytest.mark.heavy
def test_censored_exponential_oc_matches_exact_enumeration_over_the_events():
    """All patients enter at once, cut at c: D ~ Bin(n, 1 - e^{-hc}) and, given D = d, the
    exposure is (n - d) c plus a sum of d exponentials truncated to [0, c]; P(success) is
    the sum over d of the binomial probability times that sum's tail beyond e*(d)."""
    a, b, n, c_fu, c, m0 = 2.0, 15.0, 20, 6.0, 0.8, 6.0
    spec = _spec({"accrual_rate": 1e6, "follow_up": c_fu},
                 grid={"true_median": [6.0, 9.0], "true_shape": [1.0]})
    study = SurvivalDesignStudy(spec)
    reps = 700
    table = study.summarise(_run(study, reps)).tables["operating characteristics"]
    h0 = LOG2 / m0

    def e_star(d: int) -> float:  # success <=> exposure > e*(d)
        return optimize.brentq(lambda e: special.gammainc(a + d, (b + e) * h0) - c, 0, 1e5)

    for _, row in table.iterrows():
        h = LOG2 / row["true_median"]
        p_event = 1 - math.exp(-h * c_fu)
        exact = sum(stats.binom.pmf(d, n, p_event)
                    * _sum_of_truncated_exponentials_sf(d, h, c_fu, e_star(d) - (n - d) * c_fu)
                    for d in range(n + 1))
        se = math.sqrt(exact * (1 - exact) / reps)
        assert 0.05 < exact < 0.95
        assert abs(row["p_success"] - exact) < 4 * se, (row.to_dict(), exact)
        assert row["mean_events"] == pytest.approx(n * p_event, abs=4 * math.sqrt(
            n * p_event * (1 - p_event) / reps))
