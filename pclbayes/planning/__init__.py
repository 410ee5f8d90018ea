"""Trial planning with historical evidence: MAP priors, mixtures, ESS, decisions and OC.

The workflow is a chain of small verbs, each returning a printable object::

    fit = fit_beta_mixture(map_draws)             # parametric MAP prior
    prior = robustify(fit.mixture, 0.2, mean=0.3)  # protect against prior-data conflict
    ess(prior)                                     # effective sample size (ELIR)
    rule = decision_rule(0.3, 0.95)                # P(rate > 0.3 | data) > 0.95
    operating_characteristics(prior, 24, rule, [0.3, 0.5])
    sample_size(prior, rule, null=0.3, alt=0.5, power=0.8, alpha=0.1)

See ``docs/planning.md`` for the statistics and references.

The names are imported on first use (:pep:`562`): ``pclbayes plan oc`` loads the decision
and mixture modules it needs and not, for example, pandas or the co-data models.
"""

from __future__ import annotations

from pclbayes._lazy import lazy_names

# ``ess`` names both a submodule and its function: bound here, the function wins (a lazy
# name would be shadowed by the submodule as soon as anything imported it).
from pclbayes.planning.ess import ess as ess
from pclbayes.planning.ess import ess_events as ess_events
from pclbayes.planning.ess import ess_table as ess_table

#: ``{public name: module that defines it}``; resolved by :func:`__getattr__`.
_LAZY: dict[str, str] = {
    "BetaBinomialMixture": "pclbayes.planning.update",
    "BetaMixture": "pclbayes.planning.mixture",
    "BorrowedMapPrior": "pclbayes.planning.borrowing",
    "BorrowingResult": "pclbayes.planning.borrowing",
    "CellDistribution": "pclbayes.planning.borrowing",
    "Criterion": "pclbayes.planning.decisions",
    "DecisionRule": "pclbayes.planning.decisions",
    "DifferenceCriterion": "pclbayes.planning.two_arm",
    "EventCountPredictive": "pclbayes.planning.survival_prior",
    "HierarchicalPosterior": "pclbayes.planning.borrowing",
    "InterimFutility": "pclbayes.planning.decisions",
    "MapPrior": "pclbayes.planning.map_prior",
    "MixtureFit": "pclbayes.planning.fit",
    "MonitoredDesign": "pclbayes.planning.monitor",
    "MonitoringOC": "pclbayes.planning.monitor",
    "NormalMixture": "pclbayes.planning.normal",
    "OperatingCharacteristics": "pclbayes.planning.decisions",
    "RobustWeightOC": "pclbayes.planning.robust_oc",
    "SampleSizeResult": "pclbayes.planning.decisions",
    "SurvivalMapPrior": "pclbayes.planning.survival_map",
    "TwoArmDesign": "pclbayes.planning.two_arm",
    "TwoArmInterim": "pclbayes.planning.monitor",
    "TwoArmOC": "pclbayes.planning.two_arm",
    "TwoArmRule": "pclbayes.planning.two_arm",
    "TwoArmSampleSize": "pclbayes.planning.two_arm",
    "assurance": "pclbayes.planning.decisions",
    "borrow_response": "pclbayes.planning.borrowing",
    "borrowed_map_prior": "pclbayes.planning.borrowing",
    "build_map_prior": "pclbayes.planning.map_prior",
    "build_survival_map_prior": "pclbayes.planning.survival_map",
    "codata_map": "pclbayes.planning.borrowing",
    "conflict_check": "pclbayes.planning.borrowing",
    "convergence_warning": "pclbayes.planning.io",
    "decision_boundary": "pclbayes.planning.decisions",
    "decision_rule": "pclbayes.planning.decisions",
    "draws_ess": "pclbayes.planning.map_prior",
    "event_probability": "pclbayes.planning.survival_prior",
    "exnex": "pclbayes.planning.borrowing",
    "fit_beta_mixture": "pclbayes.planning.fit",
    "fit_normal_mixture": "pclbayes.planning.fit",
    "hierarchical_posterior": "pclbayes.planning.borrowing",
    "informative_part": "pclbayes.planning.robust_oc",
    "load_codata": "pclbayes.planning.borrowing",
    "load_convergence": "pclbayes.planning.io",
    "load_prior": "pclbayes.planning.io",
    "load_provenance": "pclbayes.planning.io",
    "log_median_prior": "pclbayes.planning.survival_prior",
    "make_provenance": "pclbayes.planning.io",
    "map_prior_ess_range": "pclbayes.planning.map_prior",
    "map_prior_from_evidence": "pclbayes.planning.map_prior",
    "monitored_design": "pclbayes.planning.monitor",
    "monitoring_oc": "pclbayes.planning.monitor",
    "oc_by_robust_weight": "pclbayes.planning.robust_oc",
    "operating_characteristics": "pclbayes.planning.decisions",
    "posterior": "pclbayes.planning.update",
    "posterior_prob": "pclbayes.planning.update",
    "power_prior": "pclbayes.planning.borrowing",
    "power_prior_sensitivity": "pclbayes.planning.borrowing",
    "predictive": "pclbayes.planning.update",
    "predictive_events": "pclbayes.planning.survival_prior",
    "predictive_probability": "pclbayes.planning.monitor",
    "prior_from_dict": "pclbayes.planning.io",
    "prior_to_dict": "pclbayes.planning.io",
    "prob_difference": "pclbayes.planning.two_arm",
    "robustify": "pclbayes.planning.mixture",
    "robustify_log_median": "pclbayes.planning.survival_map",
    "sample_size": "pclbayes.planning.decisions",
    "save_prior": "pclbayes.planning.io",
    "survival_map_prior_from_evidence": "pclbayes.planning.survival_map",
    "to_pymc": "pclbayes.planning.io",
    "two_arm_assurance": "pclbayes.planning.two_arm",
    "two_arm_boundary": "pclbayes.planning.two_arm",
    "two_arm_interim": "pclbayes.planning.monitor",
    "two_arm_interim_oc": "pclbayes.planning.monitor",
    "two_arm_oc": "pclbayes.planning.two_arm",
    "two_arm_rule": "pclbayes.planning.two_arm",
    "two_arm_sample_size": "pclbayes.planning.two_arm",
}

__all__ = sorted([*_LAZY, "ess", "ess_events", "ess_table"])


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
