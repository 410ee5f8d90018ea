"""Entry points used by specifications and the trial-planning toolkit."""

from __future__ import annotations

from typing import Any

import numpy as np

from pclbayes.errors import SpecError
from pclbayes.survival.model import SurvivalModel

#: ``[model]`` keys a survival specification may set (besides family, name and title).
OPTION_KEYS = ("model", "endpoint", "by", "covariates", "reference", "at", "shape",
               "fixed_shape", "cohort_effect", "cohort_parametrisation", "frailty", "episodes",
               "pfs_coding", "censor_at", "censor_cohort_events", "exclude_cohorts",
               "horizons", "time_unit", "prior_draws")


def from_spec(spec: Any, data: Any, *, seed: int | None = None) -> SurvivalModel:
    """Fit the survival model a :class:`pclbayes.specs.Spec` describes.

    Raises
    ------
    SpecError
        For an unknown ``[model]`` key (the message lists the valid keys) or option.
    """
    if spec.family != "survival":
        raise SpecError(f"{spec.name}: family '{spec.family}' is not a survival specification")
    try:
        model = SurvivalModel.from_spec_options(spec)
    except SpecError as exc:
        raise SpecError(f"{spec.path or spec.name}: {exc}") from None
    return model.fit(data, seed=spec.seed if seed is None else seed)


def predictive_median_draws(
    data: Any, *, endpoint: str = "pfs", by: str = "target", level: str | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Posterior-predictive draws of a new cohort's median time for one stratum.

    Parameters
    ----------
    data : EvidenceBase, path, DataFrame or None
        As for :meth:`SurvivalModel.fit`.
    endpoint, by : str
        As for :class:`SurvivalModel` (default priors and sampler).
    level : str, optional
        The stratum (a level of ``by``); may be omitted when there is a single group.
    seed : int

    Returns
    -------
    dict
        ``"median"``: 1-D draws of the new cohort's median time (months) for ``level``,
        ``"shape"``: the matching Weibull shape draws (same order).
    """
    model = SurvivalModel(endpoint=endpoint, by=by).fit(data, seed=seed)
    groups = model.design_.groups
    if level is None:
        if len(groups) != 1:
            raise SpecError(f"choose a level of '{by}': {', '.join(groups)}")
        level = groups[0]
    if level not in groups:
        raise SpecError(f"level '{level}' is not a level of '{by}' (levels: {', '.join(groups)})")
    post = model.idata_["posterior"]
    median = post["median_time_new_cohort"].sel(group=level).values.ravel()
    shape = post["shape"]
    if "group" in shape.dims:
        shape = shape.sel(group=level)
    return {"median": np.asarray(median, dtype=float),
            "shape": np.asarray(shape.values, dtype=float).ravel()}
