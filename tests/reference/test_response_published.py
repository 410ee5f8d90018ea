"""Response models against published hierarchical-binomial analyses.

Sources (read 2026-11):

* Gelman, Carlin, Stern, Dunson, Vehtari, Rubin. *Bayesian Data Analysis*, 3rd ed., CRC 2013,
  sections 5.1 and 5.3 (rat tumour experiments; data in Table 5.1). Printed results:
  - sec. 5.1: with the population Beta(1.4, 8.6), the 71st experiment (4/14) has posterior
    Beta(5.4, 18.6), "posterior mean 0.223, standard deviation 0.083";
  - sec. 5.3: hyperprior p(alpha, beta) ~ (alpha + beta)^(-5/2); on the grid
    (log(alpha/beta), log(alpha+beta)) in [-2.3, -1.3] x [1, 5], "E(alpha|y) = 2.4 and
    E(beta|y) = 14.3"; the mode is "roughly (-1.75, 2.8)"; rates are shrunk towards a
    population distribution "with approximate mean 0.14".
* RBesT 1.11-0 vignette "Getting started with RBesT (binary)" (repository Novartis/RBesT,
  ``articles/introduction.md`` at commit 33ad81ae70d1904ba0f16e5a73861027f1627dbb): gMAP of the
  ankylosing spondylitis placebo data (8 studies), logit-normal random effects, intercept
  prior Normal(0, 2) (``beta.prior = 2``), tau ~ HalfNormal(0, 1) and, as a sensitivity
  analysis, HalfNormal(0, 1/2). Printed ``print(map_mcmc)`` output (RBesT's own MCMC, 4000
  draws, 3 significant digits):
  - tau HN(1):   mean 0.3870 sd 0.2150 2.5% 0.0399 50% 0.3590 97.5% 0.8970
  - MAP  HN(1):  mean 0.2550 sd 0.0864 2.5% 0.1060 50% 0.2470 97.5% 0.4610
  - tau HN(1/2): mean 0.3350 sd 0.1720 2.5% 0.0397 50% 0.3200 97.5% 0.7180
  - MAP  HN(1/2): mean 0.2590 sd 0.0776 2.5% 0.1290 50% 0.2500 97.5% 0.4420
  The tolerances below allow for the Monte Carlo error of both analyses (RBesT's MAP mean
  has an MCSE of about 0.0015, its 97.5% quantile about 0.006).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pclbayes.priors import Prior
from pclbayes.response import ResponseModel, beta_binomial
from pclbayes.response.counts import from_frame
from pclbayes.response.exact import _mixture_quantiles, fit_exact
from pclbayes.sampling import SamplerSettings

# BDA3 Table 5.1: tumours y / rats n in 70 historical experiments and the current one (4/14)
RAT_Y = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2,
         2, 2, 1, 5, 2, 5, 3, 2, 7, 7, 3, 3, 2, 9, 10, 4, 4, 4, 4, 4, 4, 4, 10, 4, 4, 4, 5, 11,
         12, 5, 5, 6, 5, 6, 6, 6, 6, 16, 15, 15, 9, 4]
RAT_N = [20, 20, 20, 20, 20, 20, 20, 19, 19, 19, 19, 18, 18, 17, 20, 20, 20, 20, 19, 19, 18, 18,
         25, 24, 23, 20, 20, 20, 20, 20, 20, 10, 49, 19, 46, 27, 17, 49, 47, 20, 20, 13, 48, 50,
         20, 20, 20, 20, 20, 20, 20, 48, 19, 19, 19, 22, 46, 49, 20, 20, 23, 19, 22, 20, 20, 20,
         52, 46, 47, 24, 14]


class _Bda3KappaPrior:
    """p(kappa) ~ kappa^(-3/2): BDA3's p(alpha, beta) ~ (alpha+beta)^(-5/2) in (mu, kappa).

    With mu = alpha/(alpha+beta), kappa = alpha+beta the Jacobian is kappa, so
    p(mu, kappa) ~ kappa^(-5/2) * kappa = kappa^(-3/2) with mu uniform.
    """

    def logpdf(self, kappa):
        return -1.5 * np.log(kappa)


@pytest.fixture(scope="module")
def rats():
    d = from_frame(pd.DataFrame({"cohort": [f"exp{i:02d}" for i in range(71)], "n": RAT_N,
                                 "responders": RAT_Y}), endpoint="tumour", by="none",
                   source="BDA3 Table 5.1")
    priors = {"mu": Prior.parse("Beta(alpha=1, beta=1)"), "kappa": _Bda3KappaPrior()}
    return fit_exact(d, priors, bounds=((-2.3, -1.3), (1.0, 5.0)), resolution=(100, 400))


def test_rat_tumour_hyperparameter_means_against_bda3(rats) -> None:
    e_alpha = rats.expect(lambda m, k: m * k)
    e_beta = rats.expect(lambda m, k: (1 - m) * k)
    assert round(e_alpha, 1) == 2.4 and round(e_beta, 1) == 14.3


def test_rat_tumour_mode_and_population_mean_against_bda3(rats) -> None:
    i, k = np.unravel_index(np.argmax(rats.joint[0]), rats.joint[0].shape)
    x, y = rats.x[0].mid[i], rats.y[0].mid[k]
    assert x == pytest.approx(-1.75, abs=0.05) and y == pytest.approx(2.8, abs=0.1)
    assert rats.mu_summary(0)["mean"] == pytest.approx(0.14, abs=0.005)


def test_rat_71_conjugate_posterior_against_bda3() -> None:
    # population Beta(1.4, 8.6) known: mu = 0.14, kappa = 10; data 4/14
    d = from_frame(pd.DataFrame({"cohort": ["rat71"], "n": [14], "responders": [4]}),
                   endpoint="tumour", by="none", source="BDA3 sec. 5.1")
    size = 200_000
    params = {"mu": np.full((1, size, 1), 0.14), "kappa": np.full((1, size), 10.0)}
    draws = beta_binomial.derive(params, d, np.random.default_rng(71),
                                 conditional=True)["cohort_rate"].ravel()
    # closed form: mean 5.4 / 24 = 0.225, sd 0.0835; BDA3 prints 0.223 and 0.083, computed
    # from the unrounded moment estimates behind "(1.4, 8.6)"
    assert draws.mean() == pytest.approx(5.4 / 24, abs=0.0005)
    assert draws.mean() == pytest.approx(0.223, abs=0.003)
    assert draws.std() == pytest.approx(0.083, abs=0.001)
    assert stats.kstest(draws, stats.beta(5.4, 18.6).cdf).pvalue > 0.001
    # the exact engine's beta-mixture quantiles with a single component are closed-form
    q = _mixture_quantiles(np.ones(1), np.array([1.4 + 4]), np.array([8.6 + 10]),
                           (0.025, 0.5, 0.975))
    np.testing.assert_allclose(q, stats.beta(5.4, 18.6).ppf([0.025, 0.5, 0.975]), atol=1e-6)


AS = pd.DataFrame({"cohort": [f"Study {i}" for i in range(1, 9)],
                   "n": [107, 44, 51, 39, 139, 20, 78, 35],
                   "responders": [23, 12, 19, 9, 39, 6, 9, 10]})


@pytest.mark.parametrize(("tau_scale", "tau_printed", "map_printed"), [
    (1.0, (0.3870, 0.2150, 0.0399, 0.3590, 0.8970), (0.2550, 0.0864, 0.1060, 0.2470, 0.4610)),
    (0.5, (0.3350, 0.1720, 0.0397, 0.3200, 0.7180), (0.2590, 0.0776, 0.1290, 0.2500, 0.4420)),
])
@pytest.mark.heavy
def test_ankylosing_spondylitis_map_against_rbest(tau_scale, tau_printed, map_printed) -> None:
    fit = ResponseModel(
        model="logit-normal",
        priors={"intercept": "Normal(mu=0, sigma=2)", "sigma": f"HalfNormal(sigma={tau_scale})"},
        sampler=SamplerSettings(draws=5000, target_accept=0.95),
    ).fit(AS, seed=34563)
    s = fit.summary().query("source != 'prior'").set_index("quantity")
    tau, new = s.loc["sigma"], s.loc["predictive_rate"]
    keys = ("mean", "sd", "lower", "median", "upper")
    for key, printed, tol in zip(keys, tau_printed, (0.02, 0.015, 0.015, 0.02, 0.05),
                                 strict=True):
        assert tau[key] == pytest.approx(printed, abs=tol), ("tau", key)
    for key, printed, tol in zip(keys, map_printed, (0.006, 0.004, 0.012, 0.008, 0.02),
                                 strict=True):
        assert new[key] == pytest.approx(printed, abs=tol), ("MAP", key)
