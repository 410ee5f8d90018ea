"""Large-data behaviour of the Weibull model: pattern-aggregated likelihood, parametrisation
rule and bounded memory of the post-processing (no sampling).

The aggregated log-likelihood is checked against scipy's Weibull log-density and
log-survival summed episode by episode, and against the frailty likelihood evaluated
episode by episode (itself checked against finite differences in test_survival_weibull).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pclbayes.survival import weibull as w
from pclbayes.survival.build import build_model
from pclbayes.survival.defaults import default_priors
from pclbayes.survival.design import build_design
from pclbayes.survival.patterns import covariate_patterns, single_episodes


def _table(n, rng, n_cohorts=4, second=0.0):
    """Random episodes with two covariates (one with missing values) in shuffled order."""
    patients = np.arange(n)
    rows = pd.DataFrame({
        "cohort": rng.choice([f"c{i}" for i in range(n_cohorts)], n),
        "patient_id": patients.astype(str), "episode": 1,
        "target": rng.choice(["BCMA", "GPRC5D"], n),
        "arm": rng.choice(["x", "y", "z", None], n),
    })
    again = rows[rng.random(n) < second].assign(episode=2)
    table = pd.concat([rows, again], ignore_index=True)
    table["time"] = rng.weibull(1.3, len(table)) * 8 + 0.05
    table["event"] = rng.integers(0, 2, len(table))
    return table.sample(frac=1.0, random_state=1).reset_index(drop=True)


def _values(model, point):
    names = [v.name for v in model.free_RVs]
    fn = model.compile_fn([model[n] for n in names] + [model.potentials[0]],
                          inputs=model.value_vars, on_unused_input="ignore")
    out = fn(point)
    return dict(zip(names, out[:-1], strict=True)), float(out[-1])


def _eta(design, v):
    eta = np.full(design.log_t.size, float(v["log_median"]))
    if design.n_terms:
        eta = eta + design.X @ v["beta"]
    if design.cohort_effect:
        if design.cohort_centred:
            eta = eta + (v["cohort_log_median"] - v["log_median"])[design.cohort_index]
        else:
            eta = eta + (v["sigma_cohort"] * v["z_cohort"])[design.cohort_index]
    return eta


def _point(model, rng):
    return {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}


@pytest.mark.parametrize("options", [
    {"by": "target"},
    {"by": "arm", "shape": "by_group", "cohort_parametrisation": "centred"},
    {"by": "none", "cohort_effect": False},
])
@pytest.mark.heavy
def test_aggregated_loglik_equals_scipy_sum_over_episodes(options):
    rng = np.random.default_rng(8)
    design = build_design(_table(400, rng), frailty="none", **options)
    pat = covariate_patterns(design)
    assert pat.size < 0.2 * design.log_t.size  # the test data aggregate
    model = build_model(design, default_priors())
    for _ in range(3):
        v, loglik = _values(model, _point(model, rng))
        eta = _eta(design, v)
        k = v["shape"][design.group_index] if design.shape_by_group else v["shape"]
        dist = stats.weibull_min(k, scale=w.scale_from_median(np.exp(eta), k))
        t = np.exp(design.log_t)
        expected = np.where(design.event == 1, dist.logpdf(t), dist.logsf(t)).sum()
        assert loglik == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_aggregated_loglik_with_fixed_shape_and_packed_inputs():
    rng = np.random.default_rng(9)
    design = build_design(_table(300, rng), by="target", frailty="none")
    model = build_model(design, default_priors(), fixed_shape=1.0, containers=True)
    v, loglik = _values(model, _point(model, rng))
    rate = np.log(2.0) / np.exp(_eta(design, v))  # exponential model
    t = np.exp(design.log_t)
    expected = np.sum(design.event * np.log(rate) - rate * t)
    assert loglik == pytest.approx(expected, rel=1e-12, abs=1e-9)


@pytest.mark.heavy
def test_aggregated_loglik_with_frailty_equals_episode_by_episode():
    rng = np.random.default_rng(10)
    table = _table(300, rng, second=0.3)
    design = build_design(table, by="target")
    assert design.frailty and design.single.sum() < design.log_t.size
    model = build_model(design, default_priors(), containers=True)
    for _ in range(2):
        v, loglik = _values(model, _point(model, rng))
        eta = _eta(design, v)
        k = np.full(eta.size, v["shape"])
        s = design.single
        expected = (w.episode_loglik(design.log_t[s], design.event[s], eta[s], k[s]).sum()
                    + w.cluster_loglik(design.log_t, design.event, eta, k,
                                       v["kendall_tau"], design.cluster_index,
                                       design.cluster_mask).sum())
        assert loglik == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_pattern_sufficient_statistics_by_hand():
    # two patterns: (BCMA, cohort a) episodes 0 and 2; (GPRC5D, cohort a) episode 1
    table = pd.DataFrame({"cohort": "a", "patient_id": ["1", "2", "3"], "episode": 1,
                          "target": ["BCMA", "GPRC5D", "BCMA"], "time": [2.0, 3.0, 5.0],
                          "event": [1, 1, 0]})
    design = build_design(table, by="target", frailty="none")
    pat = covariate_patterns(design)
    assert pat.size == 2 and pat.index[0] == pat.index[2] != pat.index[1]
    single = single_episodes(design, pat)
    p = pat.index[0]
    assert single.events[p] == 1 and single.event_log_t[p] == pytest.approx(np.log(2.0))
    assert sorted(single.log_t[single.pattern == p]) == pytest.approx(np.log([2.0, 5.0]))


# --- post-processing memory ------------------------------------------------------------------
def _draws(design, lead, rng):
    from pclbayes.survival.derived import Draws

    n_c = len(design.cohorts)
    return Draws(log_median=rng.normal(2, 0.1, lead),
                 beta=rng.normal(0, 0.1, (*lead, design.n_terms)),
                 shape=rng.uniform(1.1, 1.5, lead), z_cohort=rng.normal(0, 1, (*lead, n_c)),
                 sigma_cohort=rng.uniform(0.1, 0.3, lead), tau=np.zeros(lead),
                 sigma_new=rng.uniform(0.1, 0.3, lead), z_new=rng.normal(0, 1, lead))


@pytest.fixture(scope="module")
def big_design():
    rng = np.random.default_rng(12)
    return build_design(_table(50_000, rng, n_cohorts=3), by="target", frailty="none")


@pytest.mark.heavy
@pytest.mark.parametrize("which", ["pointwise_loglik", "predictive_times", "expected_events"])
def test_post_processing_memory_is_the_output_plus_a_block(big_design, which):
    import tracemalloc

    from pclbayes.survival import derived

    lead = (2, 200)  # 20 million values: 160 MB of output
    d = _draws(big_design, lead, np.random.default_rng(1))
    args = (np.random.default_rng(2),) if which == "predictive_times" else ()
    tracemalloc.start()
    try:
        out = getattr(derived, which)(d, big_design, *args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (*lead, big_design.log_t.size) and np.all(np.isfinite(out))
    block_bytes = derived.CHUNK_VALUES * 8
    # one-shot evaluation would hold several output-sized temporaries (about 5x the output)
    assert peak < out.nbytes + 12 * block_bytes


def test_blockwise_log_likelihood_equals_one_shot(big_design, monkeypatch):
    from pclbayes.survival import derived

    d = _draws(big_design, (2, 30), np.random.default_rng(3))
    blocked = derived.pointwise_loglik(d, big_design)
    monkeypatch.setattr(derived, "CHUNK_VALUES", 10**12)
    eta, k = derived.episode_predictors(d, big_design)
    dist = stats.weibull_min(k, scale=w.scale_from_median(np.exp(eta), k))
    t = np.exp(big_design.log_t)
    expected = np.where(big_design.event == 1, dist.logpdf(t), dist.logsf(t))
    np.testing.assert_allclose(blocked, expected, rtol=1e-10, atol=1e-12)


# --- cohort parametrisation rule ----------------------------------------------------------
def _arm_trial(n, rng, cohort_sizes=None):
    cohorts = (np.repeat(["a", "b", "c"], cohort_sizes) if cohort_sizes is not None
               else rng.choice(["a", "b", "c"], n))
    n = cohorts.size
    t = rng.weibull(1.3, n) * 8
    c = rng.exponential(30.0, n)
    return pd.DataFrame({"cohort": cohorts, "patient_id": np.arange(n).astype(str),
                         "episode": 1, "arm": rng.choice(["ctrl", "trt"], n),
                         "time": np.minimum(t, c), "event": (t <= c).astype(int)})


def test_large_cohorts_get_the_centred_form():
    from pclbayes.survival.design import free_parameters

    design = build_design(_arm_trial(15_000, np.random.default_rng(0)), by="arm")
    assert design.cohort_centred
    assert "cohort_log_median" in free_parameters(design, None)


@pytest.mark.parametrize("sizes", [(2, 2, 11), (4000, 4000, 5)])
def test_a_tiny_cohort_gets_the_non_centred_form(sizes):
    # 5 patients give at most 5 events: shape**2 * events is far below 100 for any
    # plausible shape, so that cohort's level is not pinned down by its own data
    design = build_design(_arm_trial(0, np.random.default_rng(1), sizes), by="arm")
    assert not design.cohort_centred
