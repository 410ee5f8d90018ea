"""pclbayes: Bayesian pooling of CAR T-cell evidence in plasma cell leukemia.

The names most scripts need are available from the top level::

    import pclbayes

    eb = pclbayes.load()                                          # the evidence base
    cr = pclbayes.ResponseModel(endpoint="cr", by="target").fit(eb, seed=1)
    pfs = pclbayes.SurvivalModel(endpoint="pfs", by="target").fit(eb, seed=1)
    again = pclbayes.load_fit("fits/cr.nc")                       # a stored fit, either family
    rule = pclbayes.decision_rule(0.3, 0.95)                      # planning verbs

They are imported on first use (:pep:`562`), so ``import pclbayes`` stays fast and loads
neither PyMC, PyTensor, ArviZ nor matplotlib; it never selects a matplotlib backend.
"""

from __future__ import annotations

from pclbayes._lazy import lazy_names

__version__ = "0.1.0"

#: Planning verbs re-exported at the top level (the functions of :mod:`pclbayes.planning`).
_PLANNING_VERBS = (
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
)

#: ``{public name: module that defines it}``; resolved by :func:`__getattr__`.
_LAZY: dict[str, str] = {
    "load": "pclbayes.data",
    "ResponseModel": "pclbayes.response",
    "SurvivalModel": "pclbayes.survival",
    "load_fit": "pclbayes.model",
    **dict.fromkeys(_PLANNING_VERBS, "pclbayes.planning"),
}

__all__ = ["__version__", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
