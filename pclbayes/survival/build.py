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

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from pclbayes.nuts import Attached, Inputs
from pclbayes.priors import Prior
from pclbayes.survival.design import Design, coords, free_parameters
from pclbayes.survival.patterns import cluster_slots, covariate_patterns, single_episodes
from pclbayes.survival.weibull import cluster_loglik_slots, pattern_loglik

#: The prior of each sampled parameter that has one (the cohort effects are standard normal
#: or centred on ``log_median``).
_PRIOR_OF = {"log_median": "log_median", "beta": "effect", "shape": "shape",
             "sigma_cohort": "sigma_cohort", "kendall_tau": "kendall_tau"}


def inputs(design: Design, priors: dict[str, Prior], fixed_shape: float | None) -> Inputs:
    """The data arrays and the prior parameters the graph uses: inputs of the compiled model.

    The episodes enter by covariate pattern (:mod:`pclbayes.survival.patterns`): the
    independent episodes as their log times sorted by pattern plus two sums per pattern,
    the clustered ones as ``(patient, slot)`` arrays.
    """
    pat = covariate_patterns(design)
    single = single_episodes(design, pat)
    arrays = {"log_t": single.log_t, "pattern": single.pattern, "pattern_events": single.events,
              "pattern_event_log_t": single.event_log_t}
    if design.n_terms:
        arrays["pattern_X"] = pat.X
    if design.cohort_effect:
        arrays["pattern_cohort"] = pat.cohort
    if design.shape_by_group:
        arrays["pattern_group"] = pat.group
    if design.frailty:
        slots = cluster_slots(design, pat)
        arrays.update({"cluster_log_t": slots.log_t, "cluster_event": slots.event,
                       "cluster_pattern": slots.pattern, "cluster_mask": slots.mask})
    return Inputs(arrays, {rv: priors[_PRIOR_OF[rv]]
                           for rv in free_parameters(design, fixed_shape) if rv in _PRIOR_OF})


def graph_key(design: Design, priors: dict[str, Prior], fixed_shape: float | None
              ) -> tuple:
    """What the compiled graph of :func:`build_model` fixes: everything but the input values.

    The model's options, the starting values, and the names, kinds and shapes of the
    :func:`inputs` with the prior families.
    """
    starts = (_start_log_median(design, priors["log_median"]),
              _start(priors["shape"], 1.0) if fixed_shape is None else {})
    return ("weibull", design.frailty, design.cohort_effect, design.cohort_centred,
            design.shape_by_group, fixed_shape, repr(starts),
            *inputs(design, priors, fixed_shape).key())


def build_model(design: Design, priors: dict[str, Prior], fixed_shape: float | None = None,
                containers: bool = False) -> pm.Model:
    """Build the PyMC model (parameters and the censored likelihood only).

    The linear predictor and the shape are evaluated per covariate pattern; the
    likelihood of the independent episodes is :func:`pattern_loglik`, that of the patients
    sharing a frailty :func:`cluster_loglik_slots`. With ``containers`` the data and the
    prior parameters are ``pm.Data`` inputs (:func:`inputs`), so one compiled model serves
    every fit with the same :func:`graph_key`.
    """
    start = _start_log_median(design, priors["log_median"])
    with pm.Model(coords=coords(design)) as model:
        x = inputs(design, priors, fixed_shape).attach(containers)
        eta_ref = x.rv("log_median", **start)
        eta = _pattern_eta(design, x, eta_ref, start.get("initval", 0.0))
        shape = _pattern_shape(design, x, priors, fixed_shape)
        loglik = pattern_loglik(x["log_t"], x["pattern"], x["pattern_events"],
                                x["pattern_event_log_t"], eta, shape, pt,
                                shape_per_pattern=design.shape_by_group)
        if design.frailty:
            loglik = loglik + pt.sum(_cluster_term(design, x, eta, shape))
        pm.Potential("censored_weibull_loglik", loglik)
    return model


def _pattern_eta(design: Design, x: Attached, eta_ref: Any, start_value: float) -> Any:
    """Log median of every covariate pattern (with its cohort effect), a vector."""
    n_patterns = covariate_patterns(design).size
    eta = eta_ref + pt.zeros(n_patterns)
    if design.n_terms:
        # a row-wise sum, not pt.dot: numba's BLAS wrappers for dot (and for its
        # gradient) take most of a cold compilation, and the design has few columns
        eta = eta + pt.sum(x["pattern_X"] * x.rv("beta", dims="term"), axis=1)
    if design.cohort_effect:
        sigma = x.rv("sigma_cohort")
        if design.cohort_centred:
            level = pm.Normal("cohort_log_median", mu=eta_ref, sigma=sigma, dims="cohort",
                              initval=np.full(len(design.cohorts), start_value))
            eta = eta + (level - eta_ref)[x["pattern_cohort"]]
        else:
            z = pm.Normal("z_cohort", 0.0, 1.0, dims="cohort")
            eta = eta + (sigma * z)[x["pattern_cohort"]]
    return eta


def _pattern_shape(design: Design, x: Attached, priors: dict[str, Prior],
                   fixed_shape: float | None) -> Any:
    """The Weibull shape: a scalar, or one per pattern with ``shape = "by_group"``."""
    if fixed_shape is not None:
        return pt.as_tensor(float(fixed_shape))
    if design.shape_by_group:
        init = {k: np.ones(len(design.groups)) * v
                for k, v in _start(priors["shape"], 1.0).items()}
        return x.rv("shape", dims="group", **init)[x["pattern_group"]]
    return x.rv("shape", **_start(priors["shape"], 1.0))


def _cluster_term(design: Design, x: Attached, eta: Any, shape: Any) -> Any:
    """Frailty log-likelihood of every clustered patient (values gathered by pattern)."""
    n_slots = design.cluster_index.shape[1]
    pattern = x["cluster_pattern"]
    cols = [pattern[s] for s in range(n_slots)]
    shapes = [shape[c] for c in cols] if shape.ndim else [shape] * n_slots
    return cluster_loglik_slots(
        [x["cluster_log_t"][s] for s in range(n_slots)],
        [x["cluster_event"][s] * x["cluster_mask"][s] for s in range(n_slots)],
        [eta[c] for c in cols], shapes, x.rv("kendall_tau"),
        [x["cluster_mask"][s] for s in range(n_slots)], pt)


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
