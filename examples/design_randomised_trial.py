"""Design a randomised CAR T trial in PCL with a robust MAP prior for the control arm.

Setting: a new CAR T product (treatment) against an established BCMA-directed CAR T (control),
endpoint complete response or better (CR). The control prior is the meta-analytic-predictive
(MAP) prior for the CR rate of a new BCMA cohort from the bundled evidence, robustified with a
20% uniform component; the treatment prior is uniform. The chain:

MAP prior -> robust MAP prior and its ESS -> dual-criterion decision rule on the rate
difference -> decision boundary -> exact operating characteristics over a grid of true rates
-> assurance -> sample-size search with 1:1 allocation and with the control size reduced by
the ESS of the control prior -> predictive-probability monitoring of the treatment arm.

The bundled evidence is small (15 PCL patients, 3 cohorts), so the MAP prior is wide and worth
only a few patients; with your own data pass ``data_path`` to ``map_prior_from_evidence``.

Run: python examples/design_randomised_trial.py
"""

from __future__ import annotations

import numpy as np

from pclbayes.planning import (
    BetaMixture,
    TwoArmDesign,
    decision_rule,
    ess,
    map_prior_from_evidence,
    monitored_design,
    monitoring_oc,
    two_arm_oc,
    two_arm_rule,
    two_arm_sample_size,
)

SEED = 1

# 1. Control prior: MAP prior for the CR rate of a new BCMA cohort, plus a 20% Beta(1, 1).
res = map_prior_from_evidence(
    endpoint="cr", by="target", level="BCMA", robust_weight=0.2, robust_mean=0.5, seed=SEED
)
control_prior = res.prior
treatment_prior = BetaMixture.single(1, 1)
control_ess = ess(control_prior)
print("== Robust MAP prior for the control CR rate (bundled BCMA cohorts)")
print(control_prior)
print(f"ESS (ELIR) of the robust MAP prior: {control_ess:.1f} patients")
lo, hi = control_prior.interval(0.9)

# 2. Rule: significance and clinical relevance on the rate difference,
#    P(CR_t - CR_c > 0 | data) > 0.9 and P(CR_t - CR_c > 0.15 | data) > 0.5.
rule = two_arm_rule([0.0, 0.15], [0.9, 0.5])
n_t, n_c = 30, 20
design = TwoArmDesign(treatment_prior, control_prior, n_t, n_c, rule)
print(f"\n== Design: {n_t} treatment vs {n_c} control patients; success if {rule}")
print(design.boundary_frame().to_string(index=False))

# 3. Exact operating characteristics: type-I error along theta_t = theta_c over the plausible
#    control rates, and power for effects of +0.2 and +0.3.
theta_c = np.round(np.linspace(max(lo, 0.05), min(hi, 0.95), 6), 3)
print("\n== Type-I error (theta_t = theta_c) and power (theta_t = theta_c + effect)")
for effect in (0.0, 0.2, 0.3):
    theta_t = np.clip(theta_c + effect, 0, 1)
    oc = two_arm_oc(treatment_prior, control_prior, n_t, n_c, rule, theta_t, theta_c)
    label = "type-I error" if effect == 0 else f"power, effect +{effect:g}"
    print(f"-- {label}")
    print(oc.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
print(f"Assurance (design priors = analysis priors): {design.assurance():.4f}")

# 4. Sample size: type-I error <= 0.1 over the plausible control rates, power >= 0.8 at a CR
#    rate of 0.3 above the MAP prior mean. 1:1 allocation, then n_c = n_t - round(ESS).
null = theta_c
alt_c = round(control_prior.mean, 3)
alt_t = min(alt_c + 0.3, 0.99)
for allocation in (1.0, "ess"):
    print(f"\n== Sample-size search, allocation {allocation!r}")
    print(
        two_arm_sample_size(
            treatment_prior, control_prior, rule, null=null, alt_t=alt_t, alt_c=alt_c,
            power=0.8, alpha=0.1, n_t_min=10, n_t_max=60, step=5, allocation=allocation,
            n_c_min=5,
        )
    )

# 5. Interim monitoring of the treatment arm alone (single-arm view): stop for futility when
#    the predictive probability that P(CR > control mean | data) > 0.9 at n = 30 is below 0.1.
mon = monitored_design(
    treatment_prior, 30, decision_rule(alt_c, 0.9), [10, 20], futility=0.1, efficacy=0.95
)
print("\n== Predictive-probability monitoring of the treatment arm")
print(monitoring_oc(mon, [alt_c, alt_c + 0.15, alt_t]))
