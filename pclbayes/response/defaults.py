"""Default priors of the response models, with the reason and the reference for each.

Every default is weakly informative for a handful of small cohorts: it rules out values no
clinician would consider (all-or-nothing cohorts, identical cohorts established by three
studies, odds ratios of 1000) and is otherwise flat over the plausible range. Each can be
overridden from Python (``ResponseModel(priors={"kappa": "Gamma(alpha=2, beta=0.05)"})``)
or in the ``[priors]`` table of a specification file.
"""

from __future__ import annotations

from dataclasses import dataclass

from pclbayes.errors import SpecError
from pclbayes.priors import Prior

#: Model families of :class:`~pclbayes.response.ResponseModel`.
MODELS = ("beta-binomial", "logit-normal")
#: Inference engines: the fastest correct one chosen by rule (exact for the beta-binomial
#: model, NUTS for the logit-normal one), NUTS, or deterministic numerical integration
#: (beta-binomial only).
METHODS = ("auto", "mcmc", "exact")
#: Between-cohort heterogeneity: one parameter for all strata, or one per stratum.
HETEROGENEITY = ("shared", "stratum")

#: Reference level of the contrasts for the two built-in groupings.
REFERENCE_LEVELS = {"target": "BCMA", "strategy": "first"}

_POSITIVE = ("HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "Gamma", "LogNormal")
_REAL = ("Normal", "StudentT")


@dataclass(frozen=True)
class PriorInfo:
    """What a model parameter means, its default prior, and why.

    Attributes
    ----------
    meaning : str
        The parameter in words.
    default : Prior
        Default prior (its ``reason`` is the one-line justification).
    reference : str
        Where the choice comes from.
    support : {"unit", "positive", "real"}
        Allowed support of any replacement prior.
    """

    meaning: str
    default: Prior
    reference: str
    support: str


PRIORS: dict[str, dict[str, PriorInfo]] = {
    "beta-binomial": {
        "mu": PriorInfo(
            meaning="population-mean response rate of each stratum (mean of the Beta "
                    "distribution of cohort rates)",
            default=Prior.parse(
                "Beta(alpha=1, beta=1)",
                reason="uniform over 0-1: no rate favoured; where every patient responded, the "
                       "upper limit comes from this prior, not from the data",
            ),
            reference="Gelman et al. Bayesian Data Analysis, 3rd ed. (2013), sec. 5.3 "
                      "(uniform prior on the population mean alpha/(alpha+beta))",
            support="unit",
        ),
        "kappa": PriorInfo(
            meaning="concentration of the Beta distribution of cohort rates (its 'prior sample "
                    "size'); small = heterogeneous cohorts, large = alike",
            default=Prior.parse(
                "Gamma(alpha=2, beta=0.1)",
                reason="mean 20, 95% in 2.4-56: between-cohort SD of an 80% rate of 0.05-0.22. "
                       "It keeps kappa away from 0 (all-or-nothing cohorts) and gives "
                       "P(kappa > 99) = 0.0005, so nearly identical cohorts (SD of an 80% rate "
                       "below 0.04) are all but ruled out: with many similar cohorts use a "
                       "wider prior",
            ),
            reference="no published default exists for a beta concentration pooled over a few "
                      "cohorts: chosen by the between-cohort SD it implies (docs/response.md); "
                      "compare the improper p(alpha, beta) ~ (alpha + beta)^(-5/2) of Gelman et "
                      "al., Bayesian Data Analysis, 3rd ed. (2013), sec. 5.3",
            support="positive",
        ),
    },
    "logit-normal": {
        "intercept": PriorInfo(
            meaning="mean log-odds of response in the reference stratum",
            default=Prior.parse(
                "Normal(mu=0, sigma=1.5)",
                reason="close to uniform on the rate scale (95% of rates in 0.05-0.95); wider "
                       "normals pile prior mass at 0 and 1, which sets the upper tail when "
                       "every patient responds",
            ),
            reference="McElreath, Statistical Rethinking, 2nd ed. (2020), sec. 11.1",
            support="real",
        ),
        "effect": PriorInfo(
            meaning="log odds ratio of each other stratum against the reference stratum",
            default=Prior.parse(
                "Normal(mu=0, sigma=1)",
                reason="centred on no difference, odds ratios 1/7-7 with 95% probability: "
                       "sceptical of target or strategy effects that one cohort cannot establish",
            ),
            reference="Gelman et al. Ann Appl Stat 2008;2:1360-83 (weakly informative "
                      "priors for logistic regression coefficients)",
            support="real",
        ),
        "sigma": PriorInfo(
            meaning="between-cohort standard deviation of the log-odds (tau)",
            default=Prior.parse(
                "HalfNormal(sigma=1)",
                reason="up to 'large' heterogeneity (tau = 1) with prior median 0.67; the "
                       "standard choice for binary meta-analytic-predictive priors",
            ),
            reference="Neuenschwander et al. Clin Trials 2010;7:5-18; Weber et al. J Stat Softw "
                      "2021;100(19) (RBesT)",
            support="positive",
        ),
    },
}


def default_priors(model: str) -> dict[str, Prior]:
    """Return the default priors of ``model`` by parameter name."""
    if model not in PRIORS:
        raise SpecError(f"unknown model '{model}'; choose one of {', '.join(MODELS)}")
    return {name: info.default for name, info in PRIORS[model].items()}


def check_support(model: str, priors: dict[str, Prior]) -> None:
    """Raise :class:`SpecError` if a prior does not live where its parameter does."""
    for name, prior in priors.items():
        support = PRIORS[model][name].support
        p = prior.params
        if support == "unit":
            ok = prior.dist == "Beta" or (
                prior.dist == "Uniform" and p["lower"] >= 0 and p["upper"] <= 1)
            need = "Beta(...) or Uniform inside [0, 1]"
        elif support == "positive":
            ok = prior.dist in _POSITIVE or (prior.dist == "Uniform" and p["lower"] >= 0)
            need = f"one of {', '.join(_POSITIVE)} or Uniform with lower >= 0"
        else:
            ok = prior.dist in _REAL or prior.dist == "Uniform"
            need = f"one of {', '.join(_REAL)} or Uniform"
        if not ok:
            raise SpecError(f"prior for '{name}' ({prior}) has the wrong support: "
                            f"{PRIORS[model][name].meaning} needs {need}")
