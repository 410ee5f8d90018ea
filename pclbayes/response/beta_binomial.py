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

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import gammaln

from pclbayes.priors import Prior
from pclbayes.response.counts import CountData

if TYPE_CHECKING:  # PyMC is imported by the functions that build the model
    import pymc as pm

    from pclbayes.nuts import Inputs

NAME = "beta-binomial"
#: Parameters NUTS samples (and the convergence gate checks).
FREE = ("mu", "kappa")
_RISING_MAX = 500  # strata with larger units: scipy's betabinom.logpmf
def dims(heterogeneity: str) -> dict[str, tuple[str, ...]]:
    """Dimensions of the free parameters (``stratum`` is renamed in results)."""
    return {"mu": ("stratum",), "kappa": ("stratum",) if heterogeneity == "stratum" else ()}


def inputs(data: CountData, priors: dict[str, Prior]) -> Inputs:
    """The counts and prior parameters: inputs of the compiled model."""
    from pclbayes.nuts import Inputs

    return Inputs({"n": data.n, "r": data.r, "s": data.stratum_index},
                  {"mu": priors["mu"], "kappa": priors["kappa"]})


def cache_key(data: CountData, priors: dict[str, Prior], heterogeneity: str) -> tuple:
    """What fixes the compiled model: everything except the values of its inputs."""
    return (NAME, data.n_strata, heterogeneity, *inputs(data, priors).key())


def build(data: CountData, priors: dict[str, Prior], heterogeneity: str,
          containers: bool = True) -> pm.Model:
    """PyMC model of the marginal (beta-binomial) likelihood."""
    import pymc as pm

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
        out["log_lik"] = log_likelihood(a, b, data)
    return out


def log_likelihood(a: np.ndarray, b: np.ndarray, data: CountData) -> np.ndarray:
    r"""Beta-binomial log-pmf of each unit's count, per draw of its stratum's ``(a, b)``.

    .. math::

        \log p(r_j \mid n_j, a, b) = \log\binom{n_j}{r_j} + L_a(r_j) + L_b(n_j - r_j)
        - L_{a+b}(n_j), \qquad L_c(k) = \sum_{i<k} \log(c + i),

    the beta-function ratio as rising factorials (exact for any counts and any
    concentration). Per stratum, :math:`L_c(k)` is a cumulative sum over
    :math:`k \le \max n_j`, computed once per draw and read off for every unit of the
    stratum, so the cost per unit is a look-up. Strata with units above 500 patients use
    scipy's ``betabinom.logpmf``.

    Parameters
    ----------
    a, b : ndarray
        Shape ``(chain, draw, stratum)``.

    Returns
    -------
    ndarray
        Shape ``(chain, draw, unit)``.
    """
    out = np.empty((*a.shape[:-1], data.n_units))
    const = gammaln(data.n + 1.0) - gammaln(data.r + 1.0) - gammaln(data.n - data.r + 1.0)
    for s in range(a.shape[-1]):
        units = np.flatnonzero(data.stratum_index == s)
        if not units.size:
            continue
        n, r = data.n[units], data.r[units]
        sa, sb = a[..., s:s + 1], b[..., s:s + 1]
        if n.max() > _RISING_MAX:
            from scipy import stats  # here: importing scipy.stats takes about a second

            out[..., units] = stats.betabinom.logpmf(r, n, sa, sb)
            continue
        steps = np.arange(int(n.max()), dtype=float)
        out[..., units] = (const[units] + _rising(sa, steps)[..., r]
                           + _rising(sb, steps)[..., n - r] - _rising(sa + sb, steps)[..., n])
    return out


def _rising(c: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``L_c(k)`` for ``k = 0 ... len(steps)`` along a new last axis (``c``: ``(..., 1)``)."""
    logs = np.log(c + steps)
    return np.concatenate([np.zeros((*c.shape[:-1], 1)), np.cumsum(logs, axis=-1)], axis=-1)
