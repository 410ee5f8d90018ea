"""pclbayes.planning.two_arm against numbers printed by RBesT on its own two-arm examples.

Sources (read 2026-12; repository Novartis/RBesT, pkgdown site sources in the repository):

* ``articles/introduction.md`` at commit 20a870dbe62a2b1ee7d3f7f7b92a04d66ce41ba3, rendered with
  RBesT 1.11-0 (R 4.6.1; see its sessionInfo), sections "Design Evaluation" (``oc2S`` with
  ``decision2S(0.95, 0, lower.tail = FALSE)``, table ``target_effect``), "Data Scenarios"
  (``decision2S_boundary``) and "Trial Analysis" (``pmixdiff``): ankylosing spondylitis (AS)
  example, 24 active patients against 6 (or 24) placebo patients.
* ``reference/decision2S.md`` at commit 33ad81ae70d1904ba0f16e5a73861027f1627dbb (help-page
  example of a dual criterion on the log-odds scale, ``link = "logit"``).

The AS MAP mixture is the one RBesT prints (7 significant digits), as in
``test_rbest_reference.py``; every number below is recomputed from it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from pclbayes.planning import BetaMixture, posterior, robustify
from pclbayes.planning.two_arm import TwoArmDesign, prob_difference, two_arm_rule

# RBesT introduction.md, `print(map)` after `automixfit(map_mcmc)`
AS_MAP = BetaMixture(
    [0.4612914, 0.1917812, 0.1893896, 0.1575378],
    [33.9513487, 19.4400089, 12.2692310, 2.2521243],
    [103.0146367, 41.5205219, 55.9202833, 5.4812202],
)
AS_ROBUST = robustify(AS_MAP, weight=0.2, mean=0.5)  # robustify(map, weight = 0.2, mean = 1/2)
UNIFORM = BetaMixture.single(1, 1)  # uniform_prior <- mixbeta(c(1, 1, 1))
TREAT = BetaMixture.single(0.5, 1)  # treat_prior <- mixbeta(c(1, 0.5, 1))
RULE = two_arm_rule(0.0, 0.95)  # decision2S(0.95, 0, lower.tail = FALSE)


@pytest.mark.parametrize(
    ("label", "prior_t", "prior_c", "n_c", "printed"),
    [
        ("non-robust", TREAT, AS_MAP, 6, 0.302),
        ("uniform 24:24", UNIFORM, UNIFORM, 24, 0.341),
        ("robust", TREAT, AS_ROBUST, 6, 0.368),
        ("uniform", UNIFORM, UNIFORM, 6, 0.529),
    ],
)
def test_delta_for_80pct_power(
    label: str, prior_t: BetaMixture, prior_c: BetaMixture, n_c: int, printed: float
) -> None:
    # introduction.md, `knitr::kable(target_effect, digits = 3)`: the difference delta at
    # which oc2S(prior_t, prior_c, 24, n_c, decision) reaches 80% power, control rate at the
    # MAP mean (find_delta with uniroot on (0, 1 - mean)).
    design = TwoArmDesign(prior_t, prior_c, 24, n_c, RULE)
    mean_c = AS_MAP.mean
    delta = optimize.brentq(
        lambda d: design.prob_success(mean_c + d, mean_c)[0] - 0.8, 0.0, 1 - mean_c, xtol=1e-9
    )
    assert round(delta, 3) == pytest.approx(printed, abs=1e-9), label


def test_trial_analysis_pmixdiff() -> None:
    # introduction.md "Trial Analysis": 1 of 6 placebo (robust MAP prior), 14 of 24 active
    # (Beta(0.5, 1)); pmixdiff(post_treat, post_placebo, 0, lower.tail = FALSE) = 0.9917197
    prob = prob_difference(posterior(TREAT, 14, 24), posterior(AS_ROBUST, 1, 6))
    assert prob == pytest.approx(0.9917197, abs=5e-8)


def test_data_scenarios_boundary() -> None:
    # introduction.md "Data Scenarios": "the decision will always be negative if there are
    # less than 10 events in the treatment group" (robust, non-robust and uniform priors), and
    # under the non-robust prior with 15 treatment events "three (or less) placebo events
    # would be needed for success"; decision(postmix(treat, 24, 15), postmix(map, 6, 3)) = 1
    # and decision(postmix(treat, 24, 14), postmix(map, 6, 4)) = 0.
    for prior_t, prior_c in ((TREAT, AS_ROBUST), (TREAT, AS_MAP), (UNIFORM, UNIFORM)):
        b = TwoArmDesign(prior_t, prior_c, 24, 6, RULE).boundary
        assert b.min() == 10
    nonrobust = TwoArmDesign(TREAT, AS_MAP, 24, 6, RULE).boundary
    succeeds_at_15 = np.flatnonzero(nonrobust <= 15)
    assert succeeds_at_15.max() == 3
    assert nonrobust[3] <= 15  # (15, 3) succeeds
    assert nonrobust[4] > 14  # (14, 4) fails


def test_log_odds_dual_criterion_help_page() -> None:
    # reference/decision2S.md: post1 <- postmix(mixbeta(c(1, 1, 1)), n = 40, r = 10);
    # post2 <- postmix(mixbeta(c(1, 1, 1)), n = 40, r = 18)
    # decL2 <- decision2S(c(0.95, 0.5), c(0, log(2)), lower.tail = FALSE, link = "logit")
    # decL3 <- decision2S(c(0.95, 0.5), c(0, log(3)), lower.tail = FALSE, link = "logit")
    # decL2(post2, post1) -> 1; decL3(post2, post1) -> 0
    post1, post2 = posterior(UNIFORM, 10, 40), posterior(UNIFORM, 18, 40)
    p0 = prob_difference(post2, post1, 0.0, "log_odds_ratio")
    p2 = prob_difference(post2, post1, np.log(2), "log_odds_ratio")
    p3 = prob_difference(post2, post1, np.log(3), "log_odds_ratio")
    assert p0 > 0.95 and p2 > 0.5  # decL2 = 1
    assert not (p0 > 0.95 and p3 > 0.5)  # decL3 = 0
