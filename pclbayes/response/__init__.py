"""Hierarchical models of response rates pooled over small cohorts.

* :class:`ResponseModel` -- beta-binomial (default; exact engine available) or logit-normal
  random effects, stratified by antigen target, re-infusion strategy or any column.
* :func:`from_spec` -- run a ``models/response_*.toml`` specification.
* :func:`predictive_draws` -- draws of a new cohort's rate (meta-analytic-predictive).

Examples
--------
>>> from pclbayes.data import load
>>> from pclbayes.response import ResponseModel
>>> fit = ResponseModel(endpoint="cr", by="target").fit(load(), seed=1)  # doctest: +SKIP
>>> print(fit)                                                            # doctest: +SKIP
"""

from __future__ import annotations

from pclbayes.response.counts import CountData
from pclbayes.response.defaults import HETEROGENEITY, METHODS, MODELS, PRIORS, default_priors
from pclbayes.response.exact import ExactPosterior, fit_exact
from pclbayes.response.model import ResponseModel
from pclbayes.response.predictive import predictive_draws
from pclbayes.response.spec import from_spec

__all__ = [
    "HETEROGENEITY",
    "METHODS",
    "MODELS",
    "PRIORS",
    "CountData",
    "ExactPosterior",
    "ResponseModel",
    "default_priors",
    "fit_exact",
    "from_spec",
    "predictive_draws",
]
