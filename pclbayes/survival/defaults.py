"""Default priors, options and sampler settings of the Weibull survival model.

Every prior is stated on the **months** scale (given or default, whatever the data's time
unit) and comes with a one-line reason; override any of them from Python
(``SurvivalModel(priors={"shape": "LogNormal(mu=0, sigma=0.3)"})``) or in the ``[priors]``
table of a specification file. Only the ``log_median`` prior depends on the unit: for data
in another unit its location is shifted by ``log(units per month)``
(:func:`prior_in_unit`); time ratios, hazard ratios, the shape, the cohort SD and
Kendall's tau do not depend on the unit.
"""

from __future__ import annotations

import numpy as np

from pclbayes.priors import Prior
from pclbayes.sampling import SamplerSettings

#: Endpoints the bundled data provide (a user's table may name any ``<endpoint>_months``).
ENDPOINTS = ("pfs", "os")

#: Covariates of the linear predictor, used when present in the data with two or more levels.
DEFAULT_COVARIATES = ("target", "strategy", "pcl_type")

#: Reference level of each covariate (the first level otherwise, never ``unknown``).
DEFAULT_REFERENCE = {"target": "BCMA", "strategy": "first", "pcl_type": "primary"}

#: Level that stands for a missing covariate value (kept as its own level, never dropped).
UNKNOWN = "unknown"

#: Horizons (months) at which survival probabilities are reported.
DEFAULT_HORIZONS = (6.0, 12.0)

#: Default horizons in each time unit: about six months and one year.
DEFAULT_HORIZONS_BY_UNIT = {"days": (180.0, 365.0), "weeks": (26.0, 52.0),
                            "months": DEFAULT_HORIZONS, "years": (0.5, 1.0)}

#: A covariate or grouping column may have at most this many levels.
MAX_LEVELS = 12

#: NUTS settings: target_accept 0.99 because the cohort random effect with three cohorts
#: (one of them holding most episodes) gives a mild funnel that produced a few divergent
#: transitions at 0.9 and 0.95 on the bundled data; 0.99 removed them (docs/survival.md).
DEFAULT_SAMPLER = SamplerSettings(draws=1000, tune=1000, chains=4, target_accept=0.99)

#: Cohort effects are centred when every cohort's own data pin its log median down well:
#: Fisher information ``shape**2 * events`` of at least this (posterior SD about 0.1) in every
#: cohort. Otherwise (small cohorts, as in the bundled data) they are non-centred.
CENTRE_INFORMATION = 100.0

#: Number of prior draws used for the prior-predictive check.
DEFAULT_PRIOR_DRAWS = 2000

_REF_KARMMA = "Munshi et al., N Engl J Med 2021;384:705-716 (KarMMa: median PFS 8.8 months)"
_REF_PCL = ("Fernandez de Larrea et al., Leukemia 2013;27:780-791 (IMWG consensus on plasma "
            "cell leukemia: median OS about one year or less)")

_PFS_PRIORS = {
    "log_median": Prior(
        "Normal", {"mu": 1.8, "sigma": 1.2},
        "log median time (months) at the reference profile in a typical cohort: 95% prior "
        "range 0.6-64 months, i.e. weeks to years (centred near 6 months; cf. " + _REF_KARMMA
        + ")"),
    "effect": Prior(
        "Normal", {"mu": 0.0, "sigma": 1.0},
        "log time ratio of each covariate level: 95% prior range 0.14-7.1 (up to seven-fold "
        "longer or shorter), centred on no effect (Gelman et al., Ann Appl Stat 2008;2:1360)"),
    "shape": Prior(
        "LogNormal", {"mu": 0.0, "sigma": 0.5},
        "Weibull shape: 95% prior range 0.38-2.7, falling (k<1) to rising (k>1) hazards, "
        "centred on a constant hazard (Collett, Modelling Survival Data, 3rd ed. 2015, ch. 5)"),
    "sigma_cohort": Prior(
        "HalfNormal", {"sigma": 0.5},
        "between-cohort SD of the log median: prior median 0.34, 95% below 0.98 (Rover et "
        "al., Res Synth Methods 2021;12:448-474, half-normal heterogeneity priors)"),
    "kendall_tau": Prior(
        "Beta", {"alpha": 1.5, "beta": 4.0},
        "Kendall's tau between the episodes of one patient: mean 0.27, 95% range 0.03-0.67; "
        "positive dependence expected, independence allowed (Hougaard, Analysis of "
        "Multivariate Survival Data, 2000, ch. 7)"),
}

_OS_LOG_MEDIAN = Prior(
    "Normal", {"mu": 2.5, "sigma": 1.2},
    "log median OS (months) at the reference profile in a typical cohort: 95% prior range "
    "1.2-128 months, centred near one year (" + _REF_PCL + ")")

#: Parameters whose prior must live on the positive half-line, the real line or (0, 1).
POSITIVE = frozenset({"HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "Gamma",
                      "LogNormal"})
REAL = frozenset({"Normal", "StudentT"})
SUPPORT = {"log_median": "real", "effect": "real", "shape": "positive",
           "sigma_cohort": "positive", "kendall_tau": "unit"}


def default_priors(endpoint: str = "pfs") -> dict[str, Prior]:
    """Default priors for ``endpoint`` (``os`` centres the median near one year)."""
    priors = dict(_PFS_PRIORS)
    if endpoint == "os":
        priors["log_median"] = _OS_LOG_MEDIAN
    return priors


def prior_in_unit(name: str, prior: Prior, unit: str) -> Prior:
    r"""``prior`` (stated in months) for times in ``unit``.

    The log median in ``unit`` is :math:`\log m_u = \log m + \log c`, with :math:`c`
    units per month (:data:`pclbayes.data._schema.TIME_UNITS`), so the location of the
    ``log_median`` prior moves by :math:`\log c` and its scale is unchanged; every other
    parameter is unit-free and returned as it is.
    """
    from pclbayes.data._schema import TIME_UNITS

    if name != "log_median" or unit == "months" or "mu" not in prior.params:
        return prior
    shift = float(np.log(TIME_UNITS[unit]))
    return Prior(prior.dist, {**prior.params, "mu": prior.params["mu"] + shift},
                 f"{prior.reason} [stated in months; location + log({TIME_UNITS[unit]:.6g}) "
                 f"= {shift:+.4g} for times in {unit}]")
