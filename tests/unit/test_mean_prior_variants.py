"""Every shipped response specification varies the prior of its mean rate (mu or intercept).

With every patient responding, the upper limit of a pooled rate is set by that prior, so
the report's sensitivity table must show a variant that changes it.
"""

import pytest

from pclbayes._paths import BUNDLED_MODELS
from pclbayes.priors import Prior
from pclbayes.report import sections
from pclbayes.specs import list_specs, sensitivity_specs

RESPONSE = [s for s in list_specs(BUNDLED_MODELS) if s.family == "response"]


def test_there_are_response_specs():
    assert len(RESPONSE) == 5


@pytest.mark.parametrize("spec", RESPONSE, ids=[s.name for s in RESPONSE])
def test_a_variant_changes_the_mean_rate_prior(spec):
    name = "intercept" if spec.options.get("model") == "logit-normal" else "mu"
    own = Prior.parse(spec.priors[name])
    changed = [v for v in sensitivity_specs(spec)
               if name in v.priors and Prior.parse(v.priors[name]) != own]
    assert len(changed) == 1, f"{spec.name}: no variant changes the {name} prior"
    variant = changed[0]
    # only the mean-rate prior changes: the heterogeneity prior is the specification's own
    for other, value in spec.priors.items():
        if other != name:
            assert Prior.parse(variant.priors[other]) == Prior.parse(value)
    table = sections.prior_variants_table([spec])
    row = table[table["variant"] == variant.name.split("@", 1)[1]]
    assert len(row) == 1 and row["changed"].iloc[0].startswith(f"{name} ~ ")
    assert f"(was {own})" in row["changed"].iloc[0]


def test_jeffreys_and_wider_intercept_are_what_they_say():
    by_name = {s.name: s for s in RESPONSE}
    bb = sensitivity_specs(by_name["response_orr_by_target"])
    jeffreys = next(v for v in bb if v.name.endswith("@jeffreys-mean"))
    assert Prior.parse(jeffreys.priors["mu"]) == Prior("Beta", {"alpha": 0.5, "beta": 0.5})
    ln = sensitivity_specs(by_name["response_orr_by_target_logit_normal"])
    wide = next(v for v in ln if v.name.endswith("@wider-intercept"))
    prior = Prior.parse(wide.priors["intercept"])
    assert prior == Prior("Normal", {"mu": 0, "sigma": 3})
    # the reason's "0.3%-99.7%" is the 95% prior range of expit(intercept)
    from scipy.special import expit

    lo, hi = expit(prior.frozen().ppf([0.025, 0.975]))
    assert round(100 * lo, 1) == 0.3 and round(100 * hi, 1) == 99.7


def _changed(spec, name):
    own = spec.priors.get(name)
    return [v.name.split("@", 1)[1] for v in sensitivity_specs(spec)
            if name in v.priors and (own is None or Prior.parse(v.priors[name])
                                     != Prior.parse(own))]


def test_every_prior_that_matters_has_a_variant():
    """mu/intercept, heterogeneity, Weibull shape, cohort SD and Kendall's tau are varied."""
    specs = {s.name: s for s in list_specs(BUNDLED_MODELS)}
    for name, spec in specs.items():
        if spec.family == "response":
            het = "sigma" if spec.options.get("model") == "logit-normal" else "kappa"
            assert len(_changed(spec, het)) == 2, name  # more and less heterogeneity
    pfs = specs["survival_pfs_by_target"]
    for prior in ("log_median", "shape", "sigma_cohort"):
        assert _changed(pfs, prior), prior
    assert _changed(specs["survival_pfs_by_strategy"], "kendall_tau") == ["uniform-kendall-tau"]
    tau = Prior.parse(sensitivity_specs(specs["survival_pfs_by_strategy"])[0]
                      .priors["kendall_tau"])
    assert tau == Prior("Beta", {"alpha": 1, "beta": 1})
