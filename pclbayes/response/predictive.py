"""Draws of a new cohort's response rate, for trial planning (MAP priors)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pclbayes.errors import SpecError
from pclbayes.sampling import SamplerSettings


def predictive_draws(data: Any, *, endpoint: str, by: str, level: str | None,
                     model: str = "logit-normal", tau_prior: str | None = None, seed: int = 0,
                     sampler: SamplerSettings | dict | None = None) -> np.ndarray:
    """Posterior draws of the response rate of a new cohort in stratum ``level``.

    This is the meta-analytic-predictive (MAP) distribution, as RBesT's ``gMAP``: for the
    logit-normal model ``logit(p_new) ~ Normal(mu_level, sigma)`` with ``mu_level`` and
    ``sigma`` drawn from their posterior; for the beta-binomial model
    ``p_new ~ Beta(mu_level * kappa, (1 - mu_level) * kappa)``.

    Parameters
    ----------
    data : EvidenceBase or DataFrame
        The evidence base (for example a user's aggregate CSV ``cohort, n, responders``
        loaded with :func:`pclbayes.data.load`).
    endpoint : str
        ``"orr"``, ``"cr"`` or a 0/1 outcome column.
    by : str
        Grouping: ``"none"``, ``"target"``, ``"strategy"`` or a column.
    level : str or None
        Stratum of the new cohort; may be None when ``by`` has a single level.
    model : {"logit-normal", "beta-binomial"}
    tau_prior : str, optional
        Prior of the between-cohort SD of the log-odds (``sigma``), e.g.
        ``"HalfNormal(sigma=0.5)"``; logit-normal model only.
    seed : int
    sampler : SamplerSettings or dict, optional
        Default: 4 x 1000 draws, target acceptance 0.99 for the logit-normal model.

    Returns
    -------
    numpy.ndarray
        1-D array of ``chains x draws`` rates in [0, 1].
    """
    from pclbayes.response.counts import prepare
    from pclbayes.response.model import ResponseModel

    priors: dict[str, Any] = {}
    if tau_prior is not None:
        if model != "logit-normal":
            raise SpecError("tau_prior is the between-cohort SD of the logit-normal model; for "
                            "the beta-binomial model set priors={'kappa': ...} on ResponseModel")
        priors["sigma"] = tau_prior
    if sampler is None:
        # few cohorts put the logit-normal posterior near its funnel: sample carefully
        sampler = SamplerSettings(target_accept=0.99 if model == "logit-normal" else 0.9)
    fit = ResponseModel(endpoint=endpoint, by=by, model=model, priors=priors, sampler=sampler)
    fit.validate()
    strata = prepare(data, endpoint=endpoint, by=by).strata
    if level is None:
        if len(strata) != 1:
            raise SpecError(f"by='{by}' has levels {', '.join(strata)}: name the new cohort's "
                            "level")
        level = strata[0]
    if level not in strata:
        raise SpecError(f"level '{level}' is not a level of '{by}'; levels: {', '.join(strata)}")
    fit.fit(data, seed=seed)
    da = fit.idata_["posterior"]["predictive_rate"].sel({fit.counts_.dim: level})
    return np.asarray(da.values, dtype=float).ravel()
