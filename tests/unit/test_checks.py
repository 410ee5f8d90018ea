"""Predictive checks that can flag a cohort, and the 'mostly prior' summary flags.

Response checks use the exact engine (fractions of a second per fit); the survival checks
need MCMC fits (one of simulated data, one of the bundled data).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from pclbayes.checks import CHECK_COLUMNS, MOSTLY_PRIOR_RATIO, two_sided_p
from pclbayes.errors import SpecError
from pclbayes.model import SUMMARY_COLUMNS, load_fit
from pclbayes.response import ResponseModel
from pclbayes.sampling import SamplerSettings
from pclbayes.survival import SurvivalModel
from pclbayes.survival.checks import poisson_mixture_quantile, poisson_mixture_tails

FAST = (32, 24)  # exact-engine grid of the replicate fits


def counts(r, n=12):
    r = list(r)
    n = [n] * len(r) if np.isscalar(n) else list(n)
    return pd.DataFrame({"cohort": [f"c{i}" for i in range(len(r))], "n": n,
                         "responders": r})


def exact_fit(r, n=12, priors=None, resolution=(96, 80), seed=1):
    return ResponseModel(method="exact", priors=priors, resolution=resolution).fit(
        counts(r, n), seed=seed)


def rows(table, check):
    return table[table["check"] == check].set_index("cohort")


# ---------------------------------------------------------------- p-values
def test_mid_and_standard_p_values_against_scipy():
    pmf = stats.binom.pmf(np.arange(11), 10, 0.3)
    y = 6
    le, ge = stats.binom.cdf(y, 10, 0.3), stats.binom.sf(y - 1, 10, 0.3)
    eq = stats.binom.pmf(y, 10, 0.3)
    assert two_sided_p(pmf, y, "standard") == pytest.approx(2 * min(le, ge))
    assert two_sided_p(pmf, y, "mid") == pytest.approx(2 * min(le - eq / 2, ge - eq / 2))
    assert two_sided_p(pmf, 3, "standard") == 1.0  # capped
    with pytest.raises(SpecError, match="p-value method"):
        two_sided_p(pmf, 3, "exact")


def test_poisson_mixture_tails_of_a_single_mean_are_poisson():
    below, equal, above = poisson_mixture_tails(np.full(10, 4.0), 7)
    assert below == pytest.approx(stats.poisson.cdf(6, 4.0))
    assert equal == pytest.approx(stats.poisson.pmf(7, 4.0))
    assert above == pytest.approx(stats.poisson.sf(7, 4.0))
    assert poisson_mixture_quantile(np.full(3, 4.0), 0.975) == stats.poisson.ppf(0.975, 4.0)


# ---------------------------------------------------------------- response: independent maths
def test_loo_predictive_is_the_beta_binomial_pmf_when_hyperparameters_are_fixed():
    """Priors concentrated at mu = 0.8, kappa = 10: leaving a cohort out, its responders
    are BetaBinomial(12, 8, 2) whatever the other cohorts say."""
    priors = {"mu": "Beta(alpha=80000, beta=20000)", "kappa": "Gamma(alpha=40000, beta=4000)"}
    fit = exact_fit([10, 9, 3], priors=priors)
    loo = rows(fit.check_table(), "loo_predictive")
    ref = stats.betabinom(12, 8.0, 2.0)
    k = np.arange(13)
    for cohort, y in (("c0", 10), ("c2", 3)):
        assert loo.loc[cohort, "expected"] == pytest.approx(ref.mean(), rel=2e-3)
        mid = 2 * min(ref.cdf(y) - ref.pmf(y) / 2, ref.sf(y) + ref.pmf(y) / 2)
        assert loo.loc[cohort, "p_value"] == pytest.approx(min(1.0, mid), rel=0.01)
    std = rows(fit.check_table(p_method="standard"), "loo_predictive")
    assert std.loc["c2", "p_value"] == pytest.approx(2 * ref.cdf(3), rel=0.01)
    assert std.loc["c2", "p_method"] == "standard, two-sided"
    # the prior-predictive is the same beta-binomial (the data cannot move a point prior)
    prior = rows(fit.check_table(), "prior_conflict")
    pmf = ref.pmf(k)
    assert prior.loc["c2", "p_value"] == pytest.approx(two_sided_p(pmf, 3), rel=0.02)


def test_map_conflict_of_a_new_cohort_with_fixed_hyperparameters():
    priors = {"mu": "Beta(alpha=80000, beta=20000)", "kappa": "Gamma(alpha=40000, beta=4000)"}
    fit = exact_fit([10, 9, 10], priors=priors)
    ref = stats.betabinom(20, 8.0, 2.0)
    row = fit.new_cohort_check(20, 9).iloc[0]
    assert row["check"] == "map_conflict" and bool(row["flag"])
    assert row["p_value"] == pytest.approx(2 * (ref.cdf(8) + ref.pmf(9) / 2), rel=0.02)
    assert not fit.new_cohort_check(20, 16)["flag"].iloc[0]
    with pytest.raises(SpecError, match="responders"):
        fit.new_cohort_check(5, 6)


# ---------------------------------------------------------------- response: power
def test_outlier_cohort_is_flagged():
    """0/12 among cohorts near 80%: the cross-validated check flags it (and only it), and
    the spread of the four cohorts conflicts with the heterogeneity prior."""
    fit = exact_fit([10, 9, 10, 0])
    table = fit.check_table()
    assert tuple(table.columns[:len(CHECK_COLUMNS)]) == CHECK_COLUMNS
    loo = rows(table, "loo_predictive")
    assert loo.loc["c3", "flag"] and loo.loc["c3", "p_value"] < 0.01
    assert not loo.loc[["c0", "c1", "c2"], "flag"].any()
    assert rows(table, "dispersion_prior").loc["all", "flag"]
    # the old check cannot see it: each cohort is replicated from its own posterior rate
    assert (fit.ppc_table()["p_value"] > 0.05).all()


@pytest.mark.heavy
def test_dispersion_check_flags_spread_beyond_an_informative_heterogeneity_prior():
    """With kappa free (default prior) one outlier is absorbed by a small fitted kappa and
    the posterior-predictive dispersion check stays near p = 0.1; with a heterogeneity
    prior that rules small kappa out it flags."""
    loose = rows(exact_fit([10, 9, 10, 0]).check_table(), "dispersion").loc["all"]
    assert 0.05 < loose["p_value"] < 0.3
    tight = exact_fit([10, 9, 10, 0], priors={"kappa": "Gamma(alpha=20, beta=0.5)"})
    row = rows(tight.check_table(), "dispersion").loc["all"]
    assert row["flag"] and row["observed"] > row["upper"]


def test_prior_conflict_flags_a_cohort_far_from_an_informative_prior():
    fit = exact_fit([10, 9, 10, 0], priors={"mu": "Beta(alpha=40, beta=10)"})
    prior = rows(fit.check_table(), "prior_conflict")
    assert prior.loc["c3", "flag"]
    assert not prior.loc[["c0", "c1", "c2"], "flag"].any()
    # under the default uniform prior no count of 12 conflicts with the prior
    assert not rows(exact_fit([10, 9, 10, 0]).check_table(), "prior_conflict")["flag"].any()


# ---------------------------------------------------------------- response: calibration
@pytest.mark.heavy
def test_checks_stay_quiet_on_data_simulated_from_the_prior():
    """Data drawn from the model's prior predictive: the cross-validated and prior-conflict
    p-values are then exactly calibrated (mean 1/2 for mid-p), and the flag rates are near
    5%; the posterior-predictive dispersion check is conservative."""
    rng = np.random.default_rng(20260301)
    n, units, reps = 10, 4, 20
    p = {"loo_predictive": [], "prior_conflict": [], "dispersion": [], "dispersion_prior": []}
    for _ in range(reps):
        mu, kappa = rng.uniform(), rng.gamma(2.0, 1 / 0.1)
        r = rng.binomial(n, rng.beta(mu * kappa, (1 - mu) * kappa, units))
        table = exact_fit(r, n=n, resolution=FAST).check_table()
        for check, values in p.items():
            values += list(table.loc[table["check"] == check, "p_value"])
    for check in ("loo_predictive", "prior_conflict"):
        values = np.asarray(p[check])
        assert 0.38 < values.mean() < 0.62, check
        assert (values < 0.05).mean() <= 0.1, check
        assert (values < 0.5).mean() == pytest.approx(0.5, abs=0.15), check
    assert (np.asarray(p["dispersion"]) < 0.05).mean() <= 0.1
    assert (np.asarray(p["dispersion_prior"]) < 0.05).mean() <= 0.15


@pytest.mark.heavy
def test_single_unit_stratum_and_reproducibility(tmp_path):
    fit = ResponseModel(endpoint="orr", by="target", method="exact").fit(seed=3)
    table = fit.check_table()
    assert tuple(table.columns[:len(CHECK_COLUMNS)]) == CHECK_COLUMNS
    assert set(table["check"]) == {"loo_predictive", "prior_conflict", "dispersion",
                                   "dispersion_prior"}
    note = rows(table, "loo_predictive").loc["xuzhou/GPRC5D", "note"]
    assert "only unit of its stratum" in note
    # every patient responded: nothing is flagged, and nothing is 1 by construction
    assert not table["flag"].any()
    assert (rows(table, "loo_predictive")["p_value"] < 0.9).all()
    path = fit.save(tmp_path / "fit.nc")
    pd.testing.assert_frame_equal(load_fit(path).check_table(), table)


# ---------------------------------------------------------------- mostly prior: response
def test_mostly_prior_flags_on_the_bundled_response_data():
    fit = ResponseModel(endpoint="orr", by="target", method="exact").fit(seed=1)
    s = fit.summary()
    assert tuple(s.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    row = s.set_index(["quantity", "level", "source"])
    # heterogeneity: three cohorts cannot inform it
    kappa = row.loc[("kappa", "shared", "exact")]
    assert kappa["mostly_prior"]
    assert kappa["prior_sd_ratio"] == pytest.approx(kappa["sd"] / stats.gamma(2, scale=10).std(),
                                                    rel=0.05)
    assert row.loc[("between_cohort_sd", "BCMA", "exact"), "mostly_prior"]
    # rates: 15/15 rules out low rates, so their SD is well below the prior's (their upper
    # limits still come from the prior; an SD ratio does not see that)
    for level in ("BCMA", "GPRC5D"):
        assert not row.loc[("pooled_rate", level, "exact"), "mostly_prior"]
    assert row.loc[("contrast", "GPRC5D - BCMA", "exact"), "prior_sd_ratio"] < MOSTLY_PRIOR_RATIO
    prior_rows = s[s["source"] == "prior"]
    assert prior_rows["prior_sd_ratio"].isna().all() and not prior_rows["mostly_prior"].any()
    assert s["mostly_prior"].dtype == bool


def test_plenty_of_data_is_not_mostly_prior():
    fit = exact_fit([160, 150, 170], n=200)
    pooled = fit.summary().query("quantity == 'pooled_rate'").iloc[0]
    assert pooled["prior_sd_ratio"] < 0.3 and not pooled["mostly_prior"]


# ---------------------------------------------------------------- survival
@pytest.fixture(scope="module")
def short_cohort_fit():
    """Five cohorts with median PFS near 10 months, one near 0.8 months."""
    rng = np.random.default_rng(7)
    frames = []
    for cohort, median in (*((c, 10.0) for c in "abcde"), ("short", 0.8)):
        t = median * rng.weibull(1.3, 8) / np.log(2) ** (1 / 1.3)
        c = rng.uniform(6, 30, 8)
        frames.append(pd.DataFrame({"cohort": cohort, "time": np.minimum(t, c).round(3),
                                    "event": (t <= c).astype(int)}))
    data = pd.concat(frames, ignore_index=True)
    return SurvivalModel(by="none", covariates=[],
                         sampler=SamplerSettings(draws=2000, tune=1000, chains=4,
                                                 target_accept=0.99)).fit(data, seed=3)


@pytest.mark.heavy
def test_survival_loo_check_flags_a_cohort_with_much_shorter_times(short_cohort_fit):
    table = short_cohort_fit.check_table()
    assert tuple(table.columns[:len(CHECK_COLUMNS)]) == CHECK_COLUMNS
    loo = rows(table, "loo_predictive")
    assert loo.loc["short", "flag"] and loo.loc["short", "p_value"] < 0.01
    assert loo.loc["short", "observed"] > loo.loc["short", "upper"]
    assert not loo.loc[list("abcde"), "flag"].any()
    assert "Pareto k" in loo.loc["short", "note"]
    assert set(rows(table, "prior_conflict").index) == {*"abcde", "short"}


@pytest.mark.heavy
def test_survival_cohort_likelihood_integrates_the_cohort_effect(short_cohort_fit):
    """Gauss-Hermite integral of the cohort's likelihood over its effect against quad."""
    from scipy import integrate

    from pclbayes.survival.checks import cohort_log_likelihood
    from pclbayes.survival.derived import draws_from_posterior
    from pclbayes.survival.weibull import episode_loglik

    m = short_cohort_fit
    d = m.design_
    draws = draws_from_posterior(m.idata_["posterior"].to_dataset(), d, m.priors_, None,
                                 np.random.default_rng(0))
    c = d.cohorts.index("short")
    got = cohort_log_likelihood(draws, d, c)
    idx = np.flatnonzero(d.cohort_index == c)
    for chain, draw in ((0, 0), (2, 17)):
        mu, k = draws.log_median[chain, draw], draws.shape[chain, draw]
        sigma = draws.sigma_cohort[chain, draw]

        def f(z, mu=mu, k=k, sigma=sigma):
            ll = episode_loglik(d.log_t[idx], d.event[idx], mu + sigma * z, k).sum()
            return np.exp(ll) * stats.norm.pdf(z)

        ref, _ = integrate.quad(f, -12, 12, epsabs=0, epsrel=1e-10, limit=200)
        assert got[chain, draw] == pytest.approx(np.log(ref), abs=1e-6)


@pytest.mark.heavy
def test_survival_prior_conflict_flags_times_far_from_an_informative_prior(short_cohort_fit):
    """The same data under a prior that puts the median near 60 months (tight): the short
    cohort's events conflict with it."""
    m = SurvivalModel(by="none", covariates=[],
                      priors={"log_median": "Normal(mu=4.1, sigma=0.2)",
                              "sigma_cohort": "HalfNormal(sigma=0.1)"})
    m = m.fit(short_cohort_fit.data_.table[["cohort", "time", "event"]], seed=3)
    assert rows(m.check_table(), "prior_conflict").loc["short", "flag"]


@pytest.mark.heavy
def test_survival_cohort_sd_is_mostly_prior_on_the_bundled_data():
    m = SurvivalModel(endpoint="pfs", by="target").fit(seed=11)
    s = m.summary()
    assert tuple(s.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    post = s[s["source"] == "posterior"].set_index(["quantity", "level"])
    assert post.loc[("sigma_cohort", "all"), "mostly_prior"]
    assert not post.loc[("median_time", "BCMA"), "mostly_prior"]
    assert post["prior_sd_ratio"].notna().all()
    other = s[s["source"] != "posterior"]
    assert other["prior_sd_ratio"].isna().all() and not other["mostly_prior"].any()


def test_degenerate_importance_weights_give_no_p_value_and_say_why():
    """A cohort that dominates the fit leaves no usable leave-one-out weights (seen with
    150,000 patients in three cohorts): the row says so instead of failing."""
    from pclbayes.survival.checks import _events_row

    row = _events_row("big", 50_000, "loo_predictive", 30_000, np.array([1.0e4, 2.0e4]),
                      "mid", 0.05, "cross-validated", np.array([np.nan, np.nan]))
    assert np.isnan(row["p_value"]) and not row["flag"]
    assert "degenerate" in row["note"]


@pytest.mark.heavy
def test_survival_checks_in_blocks_of_draws_give_the_same_numbers(short_cohort_fit,
                                                                  monkeypatch):
    """Blocks bound the memory of large data sets; they must not change any number."""
    from pclbayes.survival import checks, derived

    whole = checks.check_table(short_cohort_fit)
    monkeypatch.setattr(derived, "CHUNK_VALUES", 1000)
    monkeypatch.setattr(checks, "CHUNK_VALUES", 5)  # episodes in blocks of one
    assert derived.draw_blocks((4, 2000), 8 * 4)  # the check runs in blocks
    blocked = checks.check_table(short_cohort_fit)
    pd.testing.assert_frame_equal(whole, blocked, check_exact=False, rtol=1e-11, atol=0)


def _direct_cohort_log_lik(d, draws, c: int, chain: int, draw: int) -> float:
    """The documented 32-node adapted Gauss-Hermite rule applied to the cohort's likelihood
    summed directly over its episodes at each node (every independent episode's
    log-likelihood, plus the frailty clusters): no closed form in the cohort effect."""
    from pclbayes.survival.checks import _LOG_WEIGHTS, _NODES
    from pclbayes.survival.weibull import cluster_loglik, episode_loglik

    idx = np.flatnonzero(d.cohort_index == c)
    clusters = np.flatnonzero(d.cohort_index[d.cluster_index[:, 0]] == c)
    local = np.zeros(d.cohort_index.size, dtype=np.int64)
    local[idx] = np.arange(idx.size)
    k = draws.shape[chain, draw]
    k_i = k[d.group_index[idx]] if d.shape_by_group else np.full(idx.size, k)
    fixed = draws.log_median[chain, draw] + d.X[idx] @ draws.beta[chain, draw]
    single, log_t, event = d.single[idx], d.log_t[idx], d.event[idx]
    tau = np.array([draws.tau[chain, draw]])
    z_c = draws.z_cohort[..., c]
    centre, scale = np.mean(z_c), max(np.std(z_c), 0.05)
    terms = []
    for x, log_w in zip(_NODES, _LOG_WEIGHTS, strict=True):
        z = centre + scale * x
        eta = fixed + draws.sigma_cohort[chain, draw] * z
        ll = episode_loglik(log_t[single], event[single], eta[single], k_i[single]).sum()
        if clusters.size:
            ll += cluster_loglik(log_t, event, eta, k_i, tau, local[d.cluster_index[clusters]],
                                 d.cluster_mask[clusters]).sum()
        terms.append(ll + log_w + stats.norm.logpdf(z) - stats.norm.logpdf(x) + np.log(scale))
    return float(special.logsumexp(terms))


@pytest.mark.parametrize("shape", ["shared", "by_group"])
def test_cohort_likelihood_closed_form_with_groups_covariates_and_frailty(shape):
    """The closed form in the cohort effect (independent episodes) plus the frailty clusters,
    for random parameter values on the bundled PFS episodes (target groups, covariates,
    re-infused patients sharing a frailty), against the likelihood summed directly at every
    quadrature node (the quadrature itself is checked against scipy's quad above)."""
    from pclbayes.data import load
    from pclbayes.survival.checks import cohort_log_likelihood
    from pclbayes.survival.data import prepare_data
    from pclbayes.survival.derived import Draws
    from pclbayes.survival.design import build_design

    d = build_design(prepare_data(load(), "pfs").table, by="target", shape=shape)
    assert d.frailty and d.cohort_effect and d.shape_by_group == (shape == "by_group")
    assert (~d.single).any() and d.single.any()
    rng = np.random.default_rng(4)
    lead = (2, 50)
    k_lead = (*lead, len(d.groups)) if d.shape_by_group else lead
    draws = Draws(log_median=rng.normal(2.0, 0.3, lead),
                  beta=rng.normal(0, 0.3, (*lead, d.X.shape[1])),
                  shape=rng.uniform(0.8, 1.6, k_lead),
                  z_cohort=rng.normal(0, 1, (*lead, len(d.cohorts))),
                  sigma_cohort=rng.uniform(0.2, 0.8, lead), tau=rng.uniform(0.2, 1.0, lead),
                  sigma_new=np.ones(lead), z_new=np.zeros(lead))
    for c in range(len(d.cohorts)):
        got = cohort_log_likelihood(draws, d, c)
        for chain, draw in ((0, 0), (0, 41), (1, 7), (1, 49)):
            ref = _direct_cohort_log_lik(d, draws, c, chain, draw)
            assert got[chain, draw] == pytest.approx(ref, rel=1e-10, abs=1e-9), (c, chain, draw)
