"""Weibull parametrisation, censored likelihood and positive-stable frailty (no sampling).

Every number is checked against an independent calculation: scipy.stats.weibull_min,
finite differences of the closed-form joint survival function, Monte Carlo integration
over the frailty, and PyMC's own ``pm.Censored(pm.Weibull)`` log-density.
"""

import numpy as np
import pytest
from scipy import integrate, stats

from pclbayes.survival import weibull as w


def _scipy(median, shape):
    return stats.weibull_min(shape, scale=w.scale_from_median(median, shape))


@pytest.mark.parametrize("shape", [0.5, 1.0, 2.7])
def test_median_scale_and_survival_match_scipy(shape):
    median = 7.3
    dist = _scipy(median, shape)
    assert dist.median() == pytest.approx(median, rel=1e-12)
    assert w.median_from_scale(w.scale_from_median(median, shape), shape) == pytest.approx(median)
    t = np.array([0.1, 3.0, 7.3, 20.0])
    np.testing.assert_allclose(w.survival_at(t, median, shape), dist.sf(t), rtol=1e-12)


@pytest.mark.parametrize("shape", [0.6, 1.0, 1.8])
def test_hazard_ratio_is_time_ratio_to_minus_shape(shape):
    # hazard h = f / S computed by scipy for two medians differing by the time ratio
    tr = 1.7
    base, other = _scipy(5.0, shape), _scipy(5.0 * tr, shape)
    t = np.array([0.5, 2.0, 9.0, 30.0])
    hr = (other.pdf(t) / other.sf(t)) / (base.pdf(t) / base.sf(t))
    np.testing.assert_allclose(hr, w.hazard_ratio(tr, shape), rtol=1e-10)
    # and the median ratio is the time ratio
    assert other.median() / base.median() == pytest.approx(tr)


def test_episode_loglik_matches_scipy_logpdf_and_logsf():
    rng = np.random.default_rng(3)
    t = rng.uniform(0.2, 30, 40)
    event = rng.integers(0, 2, 40).astype(float)
    eta = rng.normal(2, 0.5, 40)
    shape = rng.uniform(0.5, 3, 40)
    got = w.episode_loglik(np.log(t), event, eta, shape)
    dist = _scipy(np.exp(eta), shape)
    expected = np.where(event == 1, dist.logpdf(t), dist.logsf(t))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_episode_loglik_is_stable_for_extreme_times():
    t = np.array([1e-12, 1e-6, 1e6, 1e12])
    out = w.episode_loglik(np.log(t), np.array([1.0, 0.0, 0.0, 1.0]), 2.0, 1.5)
    assert np.all(np.isfinite(out[:3]))
    assert out[1] == pytest.approx(-np.log(2) * (1e-6 / np.exp(2.0)) ** 1.5, rel=1e-9)
    assert out[3] == -np.inf or out[3] < -1e10  # overflow only to -inf, never nan
    assert not np.any(np.isnan(out))


def _joint_loglik_fd(t, ev, eta, k, tau):
    """log of (-1)^d d^d S / dt_events by central finite differences of joint_survival."""
    h = 1e-4 * np.asarray(t)

    def s(a, b):
        return w.joint_survival([a, b], eta, k, tau)

    t1, t2 = t
    if ev == (0, 0):
        val = s(t1, t2)
    elif ev == (1, 0):
        val = -(s(t1 + h[0], t2) - s(t1 - h[0], t2)) / (2 * h[0])
    elif ev == (0, 1):
        val = -(s(t1, t2 + h[1]) - s(t1, t2 - h[1])) / (2 * h[1])
    else:
        val = (s(t1 + h[0], t2 + h[1]) - s(t1 + h[0], t2 - h[1]) - s(t1 - h[0], t2 + h[1])
               + s(t1 - h[0], t2 - h[1])) / (4 * h[0] * h[1])
    return np.log(val)


@pytest.mark.parametrize("ev", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("tau", [0.05, 0.4, 0.8])
def test_pair_loglik_matches_finite_differences_of_joint_survival(ev, tau):
    t = np.array([3.0, 7.5])
    eta, k = np.array([1.5, 2.1]), np.array([1.3, 0.8])
    got = w.cluster_loglik(np.log(t), np.array(ev, float), eta, k, tau,
                           np.array([[0, 1]]), np.ones((1, 2)))[0]
    assert got == pytest.approx(_joint_loglik_fd(t, ev, eta, k, tau), abs=2e-5)


def test_joint_survival_equals_integral_over_the_frailty():
    # S(t1, t2) = E_Z[exp(-Z (u1 + u2))] with Z positive stable; u = H^(1/alpha)
    tau, t = 0.35, np.array([4.0, 6.0])
    eta, k = np.array([1.6, 1.9]), np.array([1.1, 1.4])
    alpha = 1 - tau
    u = np.exp(w.log_cumhaz(np.log(t), eta, k) / alpha)
    z = w.positive_stable(alpha, 400_000, np.random.default_rng(11))
    mc = np.exp(-z * u.sum()).mean()
    assert w.joint_survival(t, eta, k, tau) == pytest.approx(mc, abs=3e-3)


def test_pair_loglik_reduces_to_independence_at_tau_zero():
    t, ev = np.array([2.0, 9.0]), np.array([1.0, 0.0])
    eta, k = np.array([1.0, 2.0]), np.array([1.2, 1.2])
    joint = w.cluster_loglik(np.log(t), ev, eta, k, 1e-12, np.array([[0, 1]]), np.ones((1, 2)))
    assert joint[0] == pytest.approx(w.episode_loglik(np.log(t), ev, eta, k).sum(), rel=1e-8)


def test_padded_slot_is_ignored():
    # a patient with one used slot (padding repeats index 0) equals the single-episode term
    t, ev = np.array([4.0]), np.array([1.0])
    got = w.cluster_loglik(np.log(t), ev, np.array([1.7]), np.array([1.3]), 0.4,
                           np.array([[0, 0]]), np.array([[1.0, 0.0]]))
    assert got[0] == pytest.approx(w.episode_loglik(np.log(t), ev, 1.7, 1.3)[0], rel=1e-10)


@pytest.mark.parametrize("alpha", [0.3, 0.7, 1.0])
def test_positive_stable_laplace_transform(alpha):
    z = w.positive_stable(alpha, 300_000, np.random.default_rng(5))
    for s in (0.3, 1.0, 3.0):
        assert np.exp(-s * z).mean() == pytest.approx(np.exp(-s ** alpha), abs=4e-3)


def test_draw_times_marginal_weibull_and_kendall_tau():
    rng = np.random.default_rng(7)
    n, tau = 4000, 0.45
    eta = np.tile([1.2, 2.0], n)
    shape = np.tile([0.9, 1.6], n)
    cluster = np.repeat(np.arange(n), 2)
    times = w.draw_times(eta, shape, tau, cluster, rng).reshape(n, 2)
    for j in range(2):
        ks = stats.kstest(times[:, j], _scipy(np.exp(eta[j]), shape[j]).cdf)
        assert ks.pvalue > 0.01
    assert stats.kendalltau(times[:, 0], times[:, 1]).statistic == pytest.approx(tau, abs=0.03)


def test_weibull_median_by_numerical_integration():
    # S(median) = 1/2 with S from integrating the hazard numerically
    median, shape = 6.0, 1.7
    lam = w.scale_from_median(median, shape)
    cum, _ = integrate.quad(lambda t: shape / lam * (t / lam) ** (shape - 1), 0, median)
    assert np.exp(-cum) == pytest.approx(0.5, rel=1e-9)


def test_pytensor_graph_equals_numpy():
    import pytensor
    import pytensor.tensor as pt

    rng = np.random.default_rng(2)
    lt = np.log(rng.uniform(0.5, 20, 6))
    ev = np.array([1.0, 0, 1, 1, 0, 1])
    eta, k, tau = pt.dvector("eta"), pt.dvector("k"), pt.dscalar("tau")
    idx, mask = np.array([[0, 1], [2, 3], [4, 4]]), np.array([[1.0, 1], [1, 1], [1, 0]])
    out = w.cluster_loglik(lt, ev, eta, k, tau, idx, mask, pt)
    f = pytensor.function([eta, k, tau], [out, w.episode_loglik(lt, ev, eta, k, pt)])
    e, kk = rng.normal(2, 0.3, 6), rng.uniform(0.7, 2, 6)
    got_c, got_e = f(e, kk, 0.3)
    np.testing.assert_allclose(got_c, w.cluster_loglik(lt, ev, e, kk, 0.3, idx, mask), rtol=1e-12)
    np.testing.assert_allclose(got_e, w.episode_loglik(lt, ev, e, kk), rtol=1e-12)


@pytest.mark.heavy
def test_model_logp_equals_pm_censored_weibull():
    """Without the frailty the model's log-density equals PyMC's pm.Censored(pm.Weibull)."""
    import pandas as pd
    import pymc as pm

    from pclbayes.survival.build import build_model
    from pclbayes.survival.defaults import default_priors
    from pclbayes.survival.design import build_design

    rng = np.random.default_rng(4)
    n = 12
    table = pd.DataFrame({
        "cohort": np.repeat(["a", "b", "c"], 4), "patient_id": [str(i) for i in range(n)],
        "episode": 1, "time": rng.uniform(1, 20, n), "event": rng.integers(0, 2, n),
        "target": rng.choice(["BCMA", "GPRC5D"], n)})
    priors = default_priors()
    design = build_design(table, by="target", frailty="none")
    ours = build_model(design, priors)
    with pm.Model(coords={"term": design.term_labels, "cohort": design.cohorts}) as naive:
        mu = pm.Normal("log_median", 1.8, 1.2)
        beta = pm.Normal("beta", 0, 1, dims="term")
        sigma = pm.HalfNormal("sigma_cohort", 0.5)
        z = pm.Normal("z_cohort", 0, 1, dims="cohort")
        k = pm.LogNormal("shape", 0, 0.5)
        eta = mu + pm.math.dot(design.X, beta) + (sigma * z)[design.cohort_index]
        scale = pm.math.exp(eta) / np.log(2) ** (1 / k)
        upper = np.where(design.event == 1, np.inf, np.exp(design.log_t))
        pm.Censored("t", pm.Weibull.dist(alpha=k, beta=scale), lower=None, upper=upper,
                    observed=np.exp(design.log_t))
    point = {"log_median": 2.1, "beta": np.array([-0.4]), "sigma_cohort_log__": np.log(0.3),
             "z_cohort": np.array([0.5, -1.0, 0.2]), "shape_log__": np.log(1.4)}
    assert ours.compile_logp()(point) == pytest.approx(naive.compile_logp()(point), rel=1e-10)


@pytest.mark.heavy
def test_packed_inputs_give_the_same_log_density_as_constants():
    """Data and prior values fed through the two packed containers reach the right places."""
    import pandas as pd

    from pclbayes.survival.build import build_model, inputs
    from pclbayes.survival.defaults import default_priors
    from pclbayes.survival.design import build_design

    rng = np.random.default_rng(5)
    n = 14
    table = pd.DataFrame({
        "cohort": np.repeat(["a", "b"], 7), "patient_id": [str(i // 2) for i in range(n)],
        "episode": [1 + i % 2 for i in range(n)], "time": rng.uniform(1, 20, n),
        "event": rng.integers(0, 2, n), "target": rng.choice(["BCMA", "GPRC5D"], n)})
    priors = default_priors()
    design = build_design(table, by="target")
    assert design.frailty and design.n_terms and design.cohort_effect
    packed = build_model(design, priors, containers=True)
    plain = build_model(design, priors, containers=False)
    assert {v.name for v in packed.data_vars} == set(inputs(design, priors, None).data())
    point = packed.initial_point()
    point = {k: v + 0.3 for k, v in point.items()}
    assert packed.compile_logp()(point) == pytest.approx(plain.compile_logp()(point), rel=1e-12)
