r"""The PyMC graph of the Weibull survival model.

.. math::

    \eta_i = \mu + x_i^\top\beta + \sigma_c z_{c(i)}, \qquad z_c \sim N(0, 1)
    \quad\text{(non-centred cohort effect)},

or, when every cohort's own data determine its level well (large cohorts), the centred form
:math:`\eta_i = a_{c(i)} + x_i^\top\beta`, :math:`a_c \sim N(\mu, \sigma_c)` (same model,
better sampling geometry; Papaspiliopoulos, Roberts and Skold 2007, Stat Sci 22:59-73),

with :math:`\eta_i` the log median time of episode *i*, a shape :math:`k` (shared, or one per
reported group) and, for patients with several episodes, a positive-stable frailty with
Kendall's :math:`\tau` (:mod:`pclbayes.survival.weibull`). The exact censored likelihood
enters as one ``pm.Potential``; every reported quantity is computed afterwards from the
draws (:mod:`pclbayes.survival.derived`).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from pclbayes.priors import Prior
from pclbayes.survival.design import Design
from pclbayes.survival.weibull import cluster_loglik, episode_loglik


def free_parameters(design: Design, fixed_shape: float | None) -> list[str]:
    """Names of the sampled parameters (checked by the convergence gate)."""
    names = ["log_median"]
    if design.n_terms:
        names.append("beta")
    if fixed_shape is None:
        names.append("shape")
    if design.cohort_effect:
        names += ["sigma_cohort", "cohort_log_median" if design.cohort_centred else "z_cohort"]
    if design.frailty:
        names.append("kendall_tau")
    return names


def coords(design: Design) -> dict[str, tuple[str, ...]]:
    """Named coordinates of the model's dimensions."""
    out = {"term": design.term_labels, "cohort": design.cohorts}
    if design.shape_by_group:
        out["group"] = design.groups
    return out


def build_model(design: Design, priors: dict[str, Prior], fixed_shape: float | None = None,
                ) -> pm.Model:
    """Build the PyMC model (parameters and the censored likelihood only)."""
    start = _start_log_median(design, priors["log_median"])
    with pm.Model(coords=coords(design)) as model:
        eta = eta_ref = priors["log_median"].to_pymc("log_median", **start)
        start_value = start.get("initval", 0.0)
        if design.n_terms:
            beta = priors["effect"].to_pymc("beta", dims="term")
            eta = eta + pt.dot(pt.as_tensor(design.X), beta)
        else:
            eta = eta + pt.zeros(design.X.shape[0])
        if design.cohort_effect and design.cohort_centred:
            sigma = priors["sigma_cohort"].to_pymc("sigma_cohort")
            level = pm.Normal("cohort_log_median", mu=eta_ref, sigma=sigma, dims="cohort",
                              initval=np.full(len(design.cohorts), start_value))
            eta = eta + (level - eta_ref)[design.cohort_index]
        elif design.cohort_effect:
            sigma = priors["sigma_cohort"].to_pymc("sigma_cohort")
            z = pm.Normal("z_cohort", 0.0, 1.0, dims="cohort")
            eta = eta + (sigma * z)[design.cohort_index]
        if fixed_shape is not None:
            shape = pt.as_tensor(float(fixed_shape))
        elif design.shape_by_group:
            start = {k: np.ones(len(design.groups)) * v
                     for k, v in _start(priors["shape"], 1.0).items()}
            shape = priors["shape"].to_pymc("shape", dims="group", **start)[design.group_index]
        else:
            shape = priors["shape"].to_pymc("shape", **_start(priors["shape"], 1.0))
        if shape.ndim == 0:
            shape = pt.ones(design.X.shape[0]) * shape
        log_t, event = design.log_t, design.event
        single = np.flatnonzero(design.single)
        loglik = pt.sum(episode_loglik(log_t[single], event[single], eta[single],
                                       shape[single], pt))
        if design.frailty:
            tau = priors["kendall_tau"].to_pymc("kendall_tau")
            loglik = loglik + pt.sum(cluster_loglik(
                log_t, event, eta, shape, tau, design.cluster_index, design.cluster_mask, pt))
        pm.Potential("censored_weibull_loglik", loglik)
    return model


def _start(prior: Prior, value: float) -> dict[str, float]:
    """``initval`` for a prior if ``value`` lies inside its support (else PyMC's default).

    Sampling starts from data-scale values rather than from the prior's support point,
    which for very diffuse priors (e.g. ``Gamma(5, 0.001)`` with mean 5000 on the shape)
    lies where the likelihood underflows.
    """
    lo = prior.params.get("lower", -np.inf) if prior.dist == "Uniform" else -np.inf
    hi = prior.params.get("upper", np.inf) if prior.dist == "Uniform" else np.inf
    return {"initval": float(value)} if lo < value < hi else {}


def _start_log_median(design: Design, prior: Prior) -> dict[str, float]:
    return _start(prior, float(np.median(design.log_t)))
