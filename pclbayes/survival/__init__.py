"""Pooled Weibull survival models (PFS, OS) of CAR T episodes with censoring.

Examples
--------
>>> from pclbayes.survival import SurvivalModel
>>> fit = SurvivalModel(endpoint="pfs", by="target").fit(seed=1)   # doctest: +SKIP
>>> fit.summary()                                                   # doctest: +SKIP
"""

from __future__ import annotations

from pclbayes.survival.defaults import default_priors
from pclbayes.survival.model import SurvivalModel
from pclbayes.survival.spec import OPTION_KEYS, from_spec, predictive_median_draws

__all__ = [
    "OPTION_KEYS",
    "SurvivalModel",
    "default_priors",
    "from_spec",
    "predictive_median_draws",
]
