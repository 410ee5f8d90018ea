r"""Logit-normal random-effects model (the meta-analysis standard), non-centred.

For cohort unit :math:`j` in stratum :math:`s(j)` (stratum 0 is the reference),

.. math::

    \operatorname{logit} p_j = \alpha + \beta_{s(j)} + \sigma z_j, \qquad
    z_j \sim \mathrm{Normal}(0, 1), \qquad r_j \sim \mathrm{Binomial}(n_j, p_j),

with :math:`\beta_0 = 0`: ``intercept`` :math:`\alpha`, ``effect`` :math:`\beta_s` (log
odds ratio of stratum :math:`s` against the reference) and between-cohort SD ``sigma``
:math:`\sigma` (shared, or one per stratum). The non-centred form (sampling :math:`z`, not
:math:`\operatorname{logit} p`) keeps NUTS free of divergences when, as here, a handful of
small cohorts says little about :math:`\sigma`.

The population-mean rate of stratum :math:`s` is :math:`E[\operatorname{expit}(\mu_s +
\sigma z)]` with :math:`\mu_s = \alpha + \beta_s`, computed per draw by Gauss-Hermite
quadrature, so that it means the same as the beta-binomial :math:`\mu_s`; a new cohort's rate
is :math:`\operatorname{expit}(\mu_s + \sigma \tilde z)` with a fresh :math:`\tilde z` (the
meta-analytic-predictive distribution of RBesT's ``gMAP``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from pclbayes.priors import Prior
from pclbayes.response.counts import CountData

if TYPE_CHECKING:  # PyMC is imported by the functions that build the model
    import pymc as pm

    from pclbayes.nuts import Inputs

NAME = "logit-normal"
FREE = ("intercept", "effect", "sigma", "z")

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(64)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def free(data: CountData) -> tuple[str, ...]:
    """Free parameters for ``data`` (no ``effect`` with a single stratum)."""
    return FREE if data.n_strata > 1 else ("intercept", "sigma", "z")


def dims(heterogeneity: str) -> dict[str, tuple[str, ...]]:
    """Dimensions of the free parameters (``stratum``/``unit`` are renamed in results)."""
    return {"intercept": (), "effect": ("contrast",),
            "sigma": ("stratum",) if heterogeneity == "stratum" else (), "z": ("unit",)}


def inputs(data: CountData, priors: dict[str, Prior]) -> Inputs:
    """The counts and prior parameters: inputs of the compiled model."""
    from pclbayes.nuts import Inputs

    return Inputs({"n": data.n, "r": data.r, "s": data.stratum_index}, _used(priors, data))


def cache_key(data: CountData, priors: dict[str, Prior], heterogeneity: str) -> tuple:
    """What fixes the compiled model: everything except the values of its inputs."""
    return (NAME, data.n_strata, heterogeneity, *inputs(data, priors).key())


def _used(priors: dict[str, Prior], data: CountData) -> dict[str, Prior]:
    """The priors that appear in the model (no ``effect`` with a single stratum)."""
    return {k: v for k, v in priors.items() if k != "effect" or data.n_strata > 1}


def build(data: CountData, priors: dict[str, Prior], heterogeneity: str,
          containers: bool = True) -> pm.Model:
    """Non-centred PyMC model."""
    import pymc as pm
    import pytensor.tensor as pt

    coords = {"stratum": list(data.strata), "unit": list(data.units),
              "contrast": [c[0] for c in data.contrasts]}
    with pm.Model(coords=coords) as model:
        x = inputs(data, priors).attach(containers)
        n, r, s = x["n"], x["r"], x["s"]
        intercept = x.rv("intercept")
        if data.n_strata > 1:
            effect = x.rv("effect", dims="contrast")
            mu = pt.concatenate([pt.zeros(1), effect]) + intercept
        else:
            mu = pt.zeros(1) + intercept
        if heterogeneity == "stratum":
            sigma = x.rv("sigma", dims="stratum")[s]
        else:
            sigma = x.rv("sigma")
        z = pm.Normal("z", 0.0, 1.0, dims="unit")
        pm.Binomial("y", n=n, logit_p=mu[s] + sigma * z, observed=r, dims="unit")
    return model


def prior_parameters(priors: dict[str, Prior], data: CountData, heterogeneity: str,
                     size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw the parameters from their priors, shaped ``(1, size, ...)``."""
    out = {"intercept": np.asarray(priors["intercept"].rvs(size, rng))[None]}
    if data.n_strata > 1:
        out["effect"] = np.asarray(priors["effect"].rvs((size, data.n_strata - 1), rng))[None]
    sig_shape = (size, data.n_strata) if heterogeneity == "stratum" else size
    out["sigma"] = np.asarray(priors["sigma"].rvs(sig_shape, rng))[None]
    out["z"] = rng.standard_normal((1, size, data.n_units))
    return out


def stratum_means(params: dict[str, np.ndarray], n_strata: int) -> np.ndarray:
    """Mean log-odds ``mu`` of each stratum, shape ``(chain, draw, stratum)``."""
    intercept = np.asarray(params["intercept"], dtype=float)[..., None]
    if n_strata == 1:
        return intercept
    return np.concatenate([intercept, intercept + params["effect"]], axis=-1)


def population_moments(mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of ``expit(mu + sigma z)``, ``z ~ N(0, 1)`` (Gauss-Hermite, 64 nodes)."""
    p = special.expit(mu[..., None] + sigma[..., None] * _NODES)
    mean = p @ _WEIGHTS
    second = (p * p) @ _WEIGHTS
    return mean, np.sqrt(np.clip(second - mean**2, 0.0, None))


def derive(params: dict[str, np.ndarray], data: CountData, rng: np.random.Generator, *,
           conditional: bool) -> dict[str, np.ndarray]:
    """Rates, predictions and log-likelihood from draws of the parameters.

    ``conditional`` is accepted for symmetry with the beta-binomial model: the cohort
    effects ``z`` are parameters here, so posterior and prior draws are treated alike.
    """
    mu = stratum_means(params, data.n_strata)
    sigma = np.asarray(params["sigma"], dtype=float)
    if sigma.ndim == mu.ndim - 1:
        sigma = np.broadcast_to(sigma[..., None], mu.shape)
    idx = data.stratum_index
    eta = mu[..., idx] + sigma[..., idx] * params["z"]
    cohort_rate = special.expit(eta)
    pooled, spread = population_moments(mu, sigma)
    out = {
        "mu_logit": mu,
        "pooled_rate": pooled,
        "predictive_rate": special.expit(mu + sigma * rng.standard_normal(mu.shape)),
        "between_cohort_sd": spread,
        "cohort_rate": cohort_rate,
        "y_rep": rng.binomial(data.n, cohort_rate),
    }
    if conditional:
        from scipy import stats  # here: importing scipy.stats takes about a second

        out["log_lik"] = stats.binom.logpmf(data.r, data.n, cohort_rate)
    return out
