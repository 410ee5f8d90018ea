"""Parameter recovery on simulated censored Weibull data (slow: real sampling at scale).

Data are simulated with scipy.stats.weibull_min (independent of pclbayes' own simulator),
with about 30% random right censoring, several shapes, two covariates and a cohort effect.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from pclbayes.survival import SurvivalModel
from pclbayes.survival.weibull import positive_stable, scale_from_median

pytestmark = pytest.mark.slow

TRUE = {"log_median": np.log(8.0), "target[GPRC5D]": np.log(0.6), "strategy[switch]": np.log(1.4)}


def _censoring_rate(times: np.ndarray, share: float, rng: np.random.Generator) -> float:
    """Exponential censoring rate giving ``share`` censored for these event times."""
    u = rng.exponential(size=times.size)

    def excess(rate: float) -> float:
        return float(np.mean(u / rate < times)) - share

    return optimize.brentq(excess, 1e-6, 100.0)


def simulate(shape: float, n: int, seed: int, n_cohorts: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    target = rng.choice(["BCMA", "GPRC5D"], n)
    strategy = rng.choice(["first", "switch"], n, p=[0.7, 0.3])
    cohort = rng.integers(0, n_cohorts, n)
    u = rng.normal(0, 0.3, n_cohorts)
    eta = (TRUE["log_median"] + (target == "GPRC5D") * TRUE["target[GPRC5D]"]
           + (strategy == "switch") * TRUE["strategy[switch]"] + u[cohort])
    t = stats.weibull_min(shape, scale=scale_from_median(np.exp(eta), shape)).rvs(
        random_state=rng)
    c = rng.exponential(size=n) / _censoring_rate(t, 0.3, np.random.default_rng(seed + 1))
    return pd.DataFrame({"cohort": [f"c{i}" for i in cohort], "time": np.minimum(t, c),
                         "event": (t <= c).astype(int), "target": target,
                         "strategy": strategy})


@pytest.mark.parametrize("shape", [0.7, 1.5, 3.0])
def test_recovers_medians_effects_and_shape(shape):
    df = simulate(shape, n=400, seed=int(shape * 100))
    assert abs((1 - df["event"].mean()) - 0.3) < 0.05
    m = SurvivalModel(by="target").fit(df, seed=7)
    assert m.diagnostics_.ok, str(m.diagnostics_)
    post = m.idata_["posterior"]
    checks = {"shape": (post["shape"].values, shape),
              "log_median": (post["log_median"].values, TRUE["log_median"])}
    for term in ("target[GPRC5D]", "strategy[switch]"):
        checks[term] = (post["beta"].sel(term=term).values, TRUE[term])
    for name, (draws, truth) in checks.items():
        lo, hi = np.quantile(draws, [0.005, 0.995])
        assert lo < truth < hi, f"{name}: truth {truth:.3f} outside [{lo:.3f}, {hi:.3f}]"
    # the shape is estimated to within 15%, and the effects are informed by the data
    assert post["shape"].values.mean() == pytest.approx(shape, rel=0.15)
    assert post["beta"].std(("chain", "draw")).max() < 0.3


def test_recovers_within_patient_dependence():
    rng = np.random.default_rng(99)
    n_pat, tau, shape = 300, 0.4, 1.3
    z = positive_stable(1 - tau, n_pat, rng)
    rows = []
    for p in range(n_pat):
        for ep, strat in ((1, "first"), (2, "switch")):
            eta = TRUE["log_median"] + (strat == "switch") * TRUE["strategy[switch]"]
            lam = scale_from_median(np.exp(eta), shape)
            # conditional on the frailty: H_cond = z * H^(1/alpha) = E
            t = lam * (rng.exponential() / z[p]) ** ((1 - tau) / shape)
            rows.append({"cohort": "c", "patient_id": str(p), "episode": ep, "time": t,
                         "event": 1, "strategy": strat})
    df = pd.DataFrame(rows)
    c = rng.exponential(size=len(df)) / _censoring_rate(df["time"].to_numpy(), 0.3, rng)
    df["event"] = (df["time"] <= c).astype(int)
    df["time"] = np.minimum(df["time"], c)
    m = SurvivalModel(by="strategy").fit(df, seed=3)
    assert m.diagnostics_.ok, str(m.diagnostics_)
    kt = m.idata_["posterior"]["kendall_tau"].values
    lo, hi = np.quantile(kt, [0.005, 0.995])
    assert lo < tau < hi
    assert hi - lo < 0.35  # much narrower than the prior's 99% range
    assert m.idata_["posterior"]["shape"].values.mean() == pytest.approx(shape, rel=0.15)


def test_centred_and_noncentred_forms_give_the_same_posterior():
    """The two sampling forms of the cohort effect describe the same model."""
    df = simulate(1.5, n=400, seed=150)
    fits = {form: SurvivalModel(by="target", cohort_parametrisation=form).fit(df, seed=5)
            for form in ("centred", "noncentred")}
    a, b = (fits[f].idata_["posterior"] for f in ("centred", "noncentred"))
    for var in ("log_median", "shape", "sigma_cohort"):
        x, y = a[var].values.ravel(), b[var].values.ravel()
        se = np.hypot(x.std() / np.sqrt(fits["centred"].diagnostics_.min_ess_bulk),
                      y.std() / np.sqrt(fits["noncentred"].diagnostics_.min_ess_bulk))
        assert abs(x.mean() - y.mean()) < 4 * se + 1e-3, var
    np.testing.assert_allclose(a["cohort_effect"].mean(("chain", "draw")),
                               b["cohort_effect"].mean(("chain", "draw")), atol=0.05)


def test_shape_per_group_on_bundled_data():
    from pclbayes.data import load

    m = SurvivalModel(by="target", shape="by_group").fit(load(), seed=1)
    assert m.diagnostics_.ok
    assert m.idata_["posterior"]["shape"].dims == ("chain", "draw", "group")
    assert "hazard_ratio" not in m.idata_["posterior"]
    out = m.to_dict()
    assert set(out["shape"]) == {"BCMA", "GPRC5D"}
    assert out["effects"]["GPRC5D vs BCMA"]["hazard_ratio"] is None
