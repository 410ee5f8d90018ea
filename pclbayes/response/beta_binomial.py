r"""Hierarchical beta-binomial model with the cohort rates integrated out.

For cohort unit :math:`j` in stratum :math:`s(j)`, with :math:`a_s = \mu_s\kappa` and
:math:`b_s = (1-\mu_s)\kappa`,

.. math::

    p_j \mid \mu, \kappa \sim \mathrm{Beta}(a_{s(j)}, b_{s(j)}), \qquad
    r_j \mid p_j \sim \mathrm{Binomial}(n_j, p_j),

so that marginally :math:`r_j \sim \mathrm{BetaBinomial}(n_j, a_{s(j)}, b_{s(j)})`. NUTS
samples only :math:`(\mu, \kappa)`; each cohort rate is then drawn exactly from its
conjugate conditional :math:`p_j \mid \mu, \kappa, r \sim \mathrm{Beta}(a + r_j,
b + n_j - r_j)`, once per posterior draw.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
from scipy import stats

from pclbayes.nuts import Inputs
from pclbayes.priors import Prior
from pclbayes.response.counts import CountData

NAME = "beta-binomial"
#: Parameters NUTS samples (and the convergence gate checks).
FREE = ("mu", "kappa")
def dims(heterogeneity: str) -> dict[str, tuple[str, ...]]:
    """Dimensions of the free parameters (``stratum`` is renamed in results)."""
    return {"mu": ("stratum",), "kappa": ("stratum",) if heterogeneity == "stratum" else ()}


def inputs(data: CountData, priors: dict[str, Prior]) -> Inputs:
    """The counts and prior parameters: inputs of the compiled model."""
    return Inputs({"n": data.n, "r": data.r, "s": data.stratum_index},
                  {"mu": priors["mu"], "kappa": priors["kappa"]})


def cache_key(data: CountData, priors: dict[str, Prior], heterogeneity: str) -> tuple:
    """What fixes the compiled model: everything except the values of its inputs."""
    return (NAME, data.n_strata, heterogeneity, *inputs(data, priors).key())


def build(data: CountData, priors: dict[str, Prior], heterogeneity: str,
          containers: bool = True) -> pm.Model:
    """PyMC model of the marginal (beta-binomial) likelihood."""
    coords = {"stratum": list(data.strata), "unit": list(data.units)}
    with pm.Model(coords=coords) as model:
        x = inputs(data, priors).attach(containers)
        n, r, s = x["n"], x["r"], x["s"]
        mu = x.rv("mu", dims="stratum")
        if heterogeneity == "stratum":
            kappa = x.rv("kappa", dims="stratum")[s]
        else:
            kappa = x.rv("kappa")
        pm.BetaBinomial("y", n=n, alpha=mu[s] * kappa, beta=(1 - mu[s]) * kappa, observed=r,
                        dims="unit")
    return model


def prior_parameters(priors: dict[str, Prior], data: CountData, heterogeneity: str,
                     size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw the parameters from their priors, shaped ``(1, size, ...)``."""
    s = data.n_strata
    mu = priors["mu"].rvs((size, s), rng)
    kappa = priors["kappa"].rvs((size, s) if heterogeneity == "stratum" else size, rng)
    return {"mu": mu[None], "kappa": np.asarray(kappa)[None]}


def derive(params: dict[str, np.ndarray], data: CountData, rng: np.random.Generator, *,
           conditional: bool) -> dict[str, np.ndarray]:
    """Rates, predictions and log-likelihood from draws of ``(mu, kappa)``.

    Parameters
    ----------
    params : dict
        ``mu`` of shape ``(chain, draw, stratum)`` and ``kappa`` of shape ``(chain, draw)``
        (shared) or ``(chain, draw, stratum)``.
    conditional : bool
        True for posterior draws (cohort rates from their conjugate conditionals given the
        data); False for prior draws (cohort rates from the population distribution).
    """
    mu = np.asarray(params["mu"], dtype=float)
    kappa = np.asarray(params["kappa"], dtype=float)
    if kappa.ndim == mu.ndim - 1:
        kappa = np.broadcast_to(kappa[..., None], mu.shape)
    a, b = mu * kappa, (1 - mu) * kappa
    idx = data.stratum_index
    au, bu = a[..., idx], b[..., idx]
    if conditional:
        cohort_rate = rng.beta(au + data.r, bu + data.n - data.r)
    else:
        cohort_rate = rng.beta(au, bu)
    out = {
        "pooled_rate": mu,
        "predictive_rate": rng.beta(a, b),
        "between_cohort_sd": np.sqrt(mu * (1 - mu) / (kappa + 1)),
        "cohort_rate": cohort_rate,
        "y_rep": rng.binomial(data.n, cohort_rate),
    }
    if conditional:
        out["log_lik"] = stats.betabinom.logpmf(data.r, data.n, au, bu)
    return out
