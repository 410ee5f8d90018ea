"""Agreement with a published Bayesian Weibull regression with censoring: BUGS "Mice".

Source: BUGS Examples Volume I, "Mice: Weibull regression" (Spiegelhalter, Thomas, Best and
Lunn; as distributed with MultiBUGS, Example/Mice.odc), data from Grieve (1987, The
Statistician 36:283-288), analysed by Dellaportas and Smith (1993, Applied Statistics
42:443-459). Photocarcinogenicity in four groups of 20 mice; survival in weeks, 15 mice of
the 80 censored.

BUGS model: ``t[i, j] ~ dweib(r, mu[i])`` censored at ``t.cen``, ``mu[i] = exp(beta[i])``,
``beta[i] ~ dnorm(0, 0.001)``, ``r ~ dunif(0.1, 10)``; contrasts ``beta[g] - beta[1]`` are
log hazard ratios against the irradiated control. Published posterior (mean, sd, MC error;
20000 draws after 2000 burn-in):

    pos.control   0.3255  0.3439  0.004532
    r             2.98    0.3134  0.01894
    test.sub     -0.3499  0.3436  0.003248
    veh.control  -1.15    0.3713  0.005118

pclbayes writes the same model as log median = mu + b[group] with shape k. The map
(beta, r) -> (mu, b, k) has Jacobian k^4 (four groups), so BUGS' flat priors on
(beta, r) are exactly a prior proportional to k^4 on the shape, i.e. Gamma(5, ~0), with
flat priors on mu and b. The BUGS contrast beta[g] - beta[1] equals log(hazard_ratio).
"""

import numpy as np
import pandas as pd
import pytest

from pclbayes.sampling import SamplerSettings
from pclbayes.survival import SurvivalModel

NA = None
# rows: irradiated control, vehicle control, test substance, positive control
T = [
    [12, 1, 21, 25, 11, 26, 27, 30, 13, 12, 21, 20, 23, 25, 23, 29, 35, NA, 31, 36],
    [32, 27, 23, 12, 18, NA, NA, 38, 29, 30, NA, 32, NA, NA, NA, NA, 25, 30, 37, 27],
    [22, 26, NA, 28, 19, 15, 12, 35, 35, 10, 22, 18, NA, 12, NA, NA, 31, 24, 37, 29],
    [27, 18, 22, 13, 18, 29, 28, NA, 16, 22, 26, 19, NA, NA, 17, 28, 26, 12, 17, 26],
]
T_CEN = [
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0],
    [0, 0, 0, 0, 0, 40, 40, 0, 0, 0, 40, 0, 40, 40, 40, 40, 0, 0, 0, 0],
    [0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24, 0, 40, 40, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 29, 10, 0, 0, 0, 0, 0, 0],
]
GROUPS = ["irradiated", "vehicle", "test", "positive"]
PUBLISHED = {  # contrast name in pclbayes: (BUGS node, mean, sd, MC error)
    "vehicle vs irradiated": ("veh.control", -1.15, 0.3713, 0.005118),
    "test vs irradiated": ("test.sub", -0.3499, 0.3436, 0.003248),
    "positive vs irradiated": ("pos.control", 0.3255, 0.3439, 0.004532),
}
R_PUBLISHED = (2.98, 0.3134, 0.01894)


def mice_table() -> pd.DataFrame:
    rows = []
    for g, (times, cens) in enumerate(zip(T, T_CEN, strict=True)):
        for j, (t, c) in enumerate(zip(times, cens, strict=True)):
            rows.append({"patient_id": f"{GROUPS[g]}-{j + 1}", "group": GROUPS[g],
                         "time": float(c if t is None else t), "event": int(t is not None)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fit():
    priors = {"log_median": "Normal(mu=0, sigma=100)", "effect": "Normal(mu=0, sigma=100)",
              "shape": "Gamma(alpha=5, beta=0.001)"}
    return SurvivalModel(by="group", covariates=[], reference={"group": "irradiated"},
                         priors=priors, sampler=SamplerSettings(draws=2000, target_accept=0.9)
                         ).fit(mice_table(), seed=1987)


def test_data_as_published():
    df = mice_table()
    assert len(df) == 80 and int((df["event"] == 0).sum()) == 15
    assert df.groupby("group")["event"].sum().to_dict() == {
        "irradiated": 19, "vehicle": 13, "test": 16, "positive": 17}


def _mcse(x: np.ndarray, fit) -> float:
    import arviz as az

    return float(az.mcse(np.asarray(x).reshape(fit.idata_["posterior"].sizes["chain"], -1)))


@pytest.mark.heavy
def test_log_hazard_ratios_match_bugs(fit):
    assert fit.diagnostics_.ok
    post = fit.idata_["posterior"]
    for contrast, (_node, mean, sd, mc_pub) in PUBLISHED.items():
        x = np.log(post["hazard_ratio"].sel(contrast=contrast).values)
        tol = 4 * np.hypot(mc_pub, _mcse(x, fit)) + 0.01
        assert x.mean() == pytest.approx(mean, abs=tol), contrast
        assert x.std() == pytest.approx(sd, rel=0.08), contrast


@pytest.mark.heavy
def test_shape_matches_bugs_r(fit):
    mean, sd, mc_pub = R_PUBLISHED
    k = fit.idata_["posterior"]["shape"].values
    tol = 4 * np.hypot(mc_pub, _mcse(k, fit)) + 0.01
    assert k.mean() == pytest.approx(mean, abs=tol)
    assert k.std() == pytest.approx(sd, rel=0.08)
