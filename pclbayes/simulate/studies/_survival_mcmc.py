r"""The survival-design analysis by NUTS (``engine = "mcmc"``): the same model, sampled.

The exact quadrature of :mod:`pclbayes.simulate.studies.survival_design` is the default;
this engine fits the same Weibull model with the same priors by NUTS
(:func:`pclbayes.nuts.run_nuts`), for a check of the quadrature or for priors one would
rather sample. The posterior probability of the rule is the share of draws with
:math:`\theta > \theta^\star(k)`; the row's diagnostics come from
:func:`pclbayes.diagnostics.check_convergence`.

The data enter the compiled model as fixed-length vectors (the ``n`` planned patients, the
not-yet-enrolled ones with weight 0), so one compiled model serves every task of a study.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pclbayes.sampling import SamplerSettings

LOG2 = math.log(2.0)


def mcmc_posterior(times: np.ndarray, events: np.ndarray, n_max: int, analysis: Any,
                   cut: Any, settings: SamplerSettings, seed: int) -> dict[str, float]:
    """Posterior probability, means and diagnostics of one trial by NUTS."""
    import pymc as pm
    import pytensor.tensor as pt

    from pclbayes.diagnostics import check_convergence
    from pclbayes.nuts import Inputs, run_nuts

    m = times.size
    t = np.ones(n_max)
    ev = np.zeros(n_max)
    mask = np.zeros(n_max)
    t[:m], ev[:m], mask[:m] = np.maximum(times, 1e-300), events.astype(float), 1.0
    inputs = Inputs({"t": t, "ev": ev, "mask": mask}, {})
    prior_key = (repr(analysis.log_median), None if analysis.rate is None
                 else analysis.rate.to_dict(), analysis.shape,
                 None if analysis.shape_prior is None else analysis.shape_prior.to_dict())
    key = ("survival-design", n_max, repr(prior_key), inputs.key())

    def build(containers: bool) -> pm.Model:
        with pm.Model() as model:
            data = inputs.attach(containers)
            if analysis.shape is not None:
                k = pt.as_tensor(float(analysis.shape))
            else:
                p = analysis.shape_prior
                k = getattr(pm, p.dist)("shape", **p.params)
            if analysis.log_median is not None:
                theta = analysis.log_median.to_pymc("theta")
            else:
                p = analysis.rate
                rho = getattr(pm, p.dist)("rate", **p.params)
                theta = pm.Deterministic("theta", (math.log(LOG2) - pt.log(rho)) / k)
            log_scale = theta - math.log(LOG2) / k
            log_t = pt.log(data["t"])
            z = pt.exp(k * (log_t - log_scale))
            ll = data["mask"] * (data["ev"] * (pt.log(k) - k * log_scale + (k - 1) * log_t)
                                 - z)
            pm.Potential("loglik", pt.sum(ll))
        return model

    tree = run_nuts(key, build, inputs.data(), settings, seed)
    post = tree["posterior"].to_dataset()
    theta = np.asarray(post["theta"].values, dtype=float).ravel()
    k = (np.full(theta.shape, float(analysis.shape)) if analysis.shape is not None
         else np.asarray(post["shape"].values, dtype=float).ravel())
    names = ["theta"] if analysis.log_median is not None else ["rate"]
    if analysis.shape is None:
        names.append("shape")
    report = check_convergence(tree, names, label="survival design task", warn=False)
    return {"prob": float(np.mean(theta > cut(k))), "mean_log_median": float(theta.mean()),
            "mean_shape": float(k.mean()), "max_rhat": float(report.max_rhat),
            "min_ess_bulk": float(report.min_ess_bulk),
            "divergences": float(report.divergences)}
