"""Trial planning with historical evidence: MAP priors, mixtures, ESS, decisions and OC.

The workflow is a chain of small verbs, each returning a printable object::

    fit = fit_beta_mixture(map_draws)             # parametric MAP prior
    prior = robustify(fit.mixture, 0.2, mean=0.3)  # protect against prior-data conflict
    ess(prior)                                     # effective sample size (ELIR)
    rule = decision_rule(0.3, 0.95)                # P(rate > 0.3 | data) > 0.95
    operating_characteristics(prior, 24, rule, [0.3, 0.5])
    sample_size(prior, rule, null=0.3, alt=0.5, power=0.8, alpha=0.1)

See ``docs/planning.md`` for the statistics and references.
"""

from __future__ import annotations

from pclbayes.planning.borrowing import (
    BorrowedMapPrior,
    BorrowingResult,
    CellDistribution,
    HierarchicalPosterior,
    borrow_response,
    borrowed_map_prior,
    codata_map,
    conflict_check,
    exnex,
    hierarchical_posterior,
    load_codata,
    power_prior,
    power_prior_sensitivity,
)
from pclbayes.planning.decisions import (
    Criterion,
    DecisionRule,
    InterimFutility,
    OperatingCharacteristics,
    SampleSizeResult,
    assurance,
    decision_boundary,
    decision_rule,
    operating_characteristics,
    sample_size,
)
from pclbayes.planning.ess import ess, ess_events, ess_table
from pclbayes.planning.fit import MixtureFit, fit_beta_mixture, fit_normal_mixture
from pclbayes.planning.io import (
    convergence_warning,
    load_convergence,
    load_prior,
    load_provenance,
    make_provenance,
    prior_from_dict,
    prior_to_dict,
    save_prior,
    to_pymc,
)
from pclbayes.planning.map_prior import (
    MapPrior,
    build_map_prior,
    draws_ess,
    map_prior_ess_range,
    map_prior_from_evidence,
)
from pclbayes.planning.mixture import BetaMixture, robustify
from pclbayes.planning.monitor import (
    MonitoredDesign,
    MonitoringOC,
    TwoArmInterim,
    monitored_design,
    monitoring_oc,
    predictive_probability,
    two_arm_interim,
    two_arm_interim_oc,
)
from pclbayes.planning.normal import NormalMixture
from pclbayes.planning.robust_oc import RobustWeightOC, informative_part, oc_by_robust_weight
from pclbayes.planning.survival_map import (
    SurvivalMapPrior,
    build_survival_map_prior,
    robustify_log_median,
    survival_map_prior_from_evidence,
)
from pclbayes.planning.survival_prior import (
    EventCountPredictive,
    event_probability,
    log_median_prior,
    predictive_events,
)
from pclbayes.planning.two_arm import (
    DifferenceCriterion,
    TwoArmDesign,
    TwoArmOC,
    TwoArmRule,
    TwoArmSampleSize,
    prob_difference,
    two_arm_assurance,
    two_arm_boundary,
    two_arm_oc,
    two_arm_rule,
    two_arm_sample_size,
)
from pclbayes.planning.update import (
    BetaBinomialMixture,
    posterior,
    posterior_prob,
    predictive,
)

__all__ = [
    "BetaBinomialMixture",
    "BetaMixture",
    "BorrowedMapPrior",
    "BorrowingResult",
    "CellDistribution",
    "Criterion",
    "DecisionRule",
    "DifferenceCriterion",
    "EventCountPredictive",
    "HierarchicalPosterior",
    "InterimFutility",
    "MapPrior",
    "MixtureFit",
    "MonitoredDesign",
    "MonitoringOC",
    "NormalMixture",
    "OperatingCharacteristics",
    "RobustWeightOC",
    "SampleSizeResult",
    "SurvivalMapPrior",
    "TwoArmDesign",
    "TwoArmInterim",
    "TwoArmOC",
    "TwoArmRule",
    "TwoArmSampleSize",
    "assurance",
    "borrow_response",
    "borrowed_map_prior",
    "build_map_prior",
    "build_survival_map_prior",
    "codata_map",
    "conflict_check",
    "convergence_warning",
    "decision_boundary",
    "decision_rule",
    "draws_ess",
    "ess",
    "ess_events",
    "ess_table",
    "event_probability",
    "exnex",
    "fit_beta_mixture",
    "fit_normal_mixture",
    "hierarchical_posterior",
    "informative_part",
    "load_codata",
    "load_convergence",
    "load_prior",
    "load_provenance",
    "log_median_prior",
    "make_provenance",
    "map_prior_ess_range",
    "map_prior_from_evidence",
    "monitored_design",
    "monitoring_oc",
    "oc_by_robust_weight",
    "operating_characteristics",
    "posterior",
    "posterior_prob",
    "power_prior",
    "power_prior_sensitivity",
    "predictive",
    "predictive_events",
    "predictive_probability",
    "prior_from_dict",
    "prior_to_dict",
    "prob_difference",
    "robustify",
    "robustify_log_median",
    "sample_size",
    "save_prior",
    "survival_map_prior_from_evidence",
    "to_pymc",
    "two_arm_assurance",
    "two_arm_boundary",
    "two_arm_interim",
    "two_arm_interim_oc",
    "two_arm_oc",
    "two_arm_rule",
    "two_arm_sample_size",
]
