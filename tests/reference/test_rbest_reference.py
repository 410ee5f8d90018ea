"""pclbayes.planning against numbers printed by RBesT on its own examples.

Sources (read 2026-11; repository Novartis/RBesT, pkgdown site sources in the repository):

* ``articles/introduction.md`` at commit 20a870dbe62a2b1ee7d3f7f7b92a04d66ce41ba3, rendered with
  RBesT 1.11-0 (R 4.6.1; see its sessionInfo): ankylosing spondylitis (AS) example.
* ``reference/ess.md``, ``reference/postmix.md``, ``reference/preddist.md`` and
  ``reference/robustify.md`` at the same commit (help-page examples with printed output).
* ``reference/mixbeta.md`` at commit 33ad81ae70d1904ba0f16e5a73861027f1627dbb.

RBesT prints the MAP mixture of the AS example with 7 significant digits; all AS numbers below
are recomputed from that printed mixture, so they do not depend on RBesT's MCMC.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats

from pclbayes.planning import (
    BetaMixture,
    ess,
    posterior,
    predictive,
    robustify,
)

# RBesT introduction.md, `print(map)` after `automixfit(map_mcmc)`:
AS_MAP = BetaMixture(
    [0.4612914, 0.1917812, 0.1893896, 0.1575378],
    [33.9513487, 19.4400089, 12.2692310, 2.2521243],
    [103.0146367, 41.5205219, 55.9202833, 5.4812202],
)
# `robustify(map, weight = 0.2, mean = 1 / 2)`
AS_ROBUST = robustify(AS_MAP, weight=0.2, mean=0.5)
UNIFORM = BetaMixture.single(1, 1)
TREAT = BetaMixture.single(0.5, 1)  # `treat_prior <- mixbeta(c(1, 0.5, 1))`


# --------------------------------------------------------------------------- ESS help page
def test_ess_conjugate_beta_against_rbest() -> None:
    # reference/ess.md: ess(mixbeta(c(1, 5, 15))) -> 20
    assert ess(BetaMixture.single(5, 15)) == pytest.approx(20.0, abs=1e-9)


@pytest.mark.parametrize(
    ("method", "printed"),
    [("elir", 7.65152), ("moment", 3.161034), ("morita", 8.487603)],
)
def test_ess_beta_mixture_against_rbest(method: str, printed: float) -> None:
    # reference/ess.md: bmix <- mixbeta(rob = c(0.2, 1, 1), inf = c(0.8, 10, 2))
    bmix = BetaMixture([0.2, 0.8], [1, 10], [1, 2], names=["rob", "inf"])
    # RBesT integrates the ELIR on the rate scale; pclbayes on the logit scale, which adds the
    # boundary densities p(0+) + p(1-) = 0.2 * 1 + 0.2 * 1 of the uniform component (Beta(10, 2)
    # vanishes at both ends). Printed values carry 7 significant digits.
    boundary = 0.4 if method == "elir" else 0.0
    assert ess(bmix, method) - boundary == pytest.approx(printed, rel=2e-7)


# --------------------------------------------------------------------------- AS example
def test_as_map_summary_against_rbest() -> None:
    # introduction.md `summary(map)`:
    #   mean 0.25545885  sd 0.08662045  2.5% 0.10730400  50% 0.24758768  97.5% 0.46276759
    assert AS_MAP.mean == pytest.approx(0.25545885, abs=5e-9)
    assert AS_MAP.sd == pytest.approx(0.08662045, abs=5e-9)
    # RBesT's quantiles come from a root finder with tolerance ~1e-4 (ours are exact to
    # 1e-12); compare at that tolerance and check our cdf at RBesT's quantiles.
    ours = AS_MAP.ppf([0.025, 0.5, 0.975])
    np.testing.assert_allclose(ours, [0.10730400, 0.24758768, 0.46276759], atol=1e-4)
    np.testing.assert_allclose(
        AS_MAP.cdf([0.10730400, 0.24758768, 0.46276759]), [0.025, 0.5, 0.975], atol=1e-4
    )


@pytest.mark.parametrize(("method", "printed"), [("elir", 38), ("moment", 24), ("morita", 95)])
def test_as_map_ess_against_rbest(method: str, printed: int) -> None:
    # introduction.md: round(ess(map, method = ...)) -> 38 (elir), 24 (moment), 95 (morita)
    assert round(ess(AS_MAP, method)) == printed


def test_as_robustify_against_rbest() -> None:
    # introduction.md `print(map_robust)`:
    #   w 0.3690331 0.1534249 0.1515117 0.1260303 0.2000000, robust a = b = 1
    np.testing.assert_allclose(
        AS_ROBUST.weights, [0.3690331, 0.1534249, 0.1515117, 0.1260303, 0.2], atol=5e-8
    )
    assert AS_ROBUST.names[-1] == "robust"
    assert (AS_ROBUST.a[-1], AS_ROBUST.b[-1]) == (1.0, 1.0)
    # round(ess(map_robust)) -> 27, on the rate scale: ours minus the uniform component's
    # boundary densities 0.2 * (1 + 1)
    assert round(ess(AS_ROBUST) - 0.4) == 27


def _quantile_nodes(mix: BetaMixture) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with sum(w * g(x)) = E_mix[g] for smooth g: Gauss-Legendre in each
    component's quantile space (an integration independent of pclbayes' own code)."""
    x, w = np.polynomial.legendre.leggauss(64)
    edges = np.array([0.0, 1e-6, 1e-3, 0.05, 0.5, 0.95, 1 - 1e-3, 1 - 1e-6, 1.0])
    lo, hi = edges[:-1, None], edges[1:, None]
    u = (lo + (hi - lo) * (x + 1) / 2).ravel()
    wu = ((hi - lo) / 2 * w).ravel()
    nodes = np.concatenate([special.betaincinv(a, b, u) for a, b in zip(mix.a, mix.b, strict=True)])
    weights = np.concatenate([wk * wu for wk in mix.weights])
    return nodes, weights


def _prob_greater(post_t: BetaMixture, nodes_c: tuple[np.ndarray, np.ndarray]) -> float:
    """P(theta_t > theta_c) = E_c[P(theta_t > x)] with theta_c given by quadrature nodes."""
    x, w = nodes_c
    sf_t = 1.0 - special.betainc(post_t.a, post_t.b, x[:, None]) @ post_t.weights
    return float(w @ sf_t)


def _prob_treat_better(post_t: BetaMixture, post_c: BetaMixture) -> float:
    return _prob_greater(post_t, _quantile_nodes(post_c))


def _two_sample_design(prior_t: BetaMixture, prior_c: BetaMixture, n_t: int, n_c: int):
    """RBesT oc2S with decision2S(0.95, 0, lower.tail = FALSE), by full enumeration."""
    nodes_c = [_quantile_nodes(posterior(prior_c, yc, n_c)) for yc in range(n_c + 1)]
    decide = np.array(
        [
            [_prob_greater(posterior(prior_t, yt, n_t), nc) > 0.95 for nc in nodes_c]
            for yt in range(n_t + 1)
        ],
        dtype=float,
    )

    def power(theta_t: float, theta_c: float) -> float:
        pt = stats.binom.pmf(np.arange(n_t + 1), n_t, theta_t)
        pc = stats.binom.pmf(np.arange(n_c + 1), n_c, theta_c)
        return float(pt @ decide @ pc)

    return power


@pytest.mark.parametrize(
    ("label", "prior_t", "prior_c", "n_c", "printed"),
    [
        ("non-robust", TREAT, AS_MAP, 6, 0.302),
        ("uniform 24:24", UNIFORM, UNIFORM, 24, 0.341),
        ("robust", TREAT, AS_ROBUST, 6, 0.368),
        ("uniform", UNIFORM, UNIFORM, 6, 0.529),
    ],
)
def test_as_delta_for_80pct_power_against_rbest(
    label: str, prior_t: BetaMixture, prior_c: BetaMixture, n_c: int, printed: float
) -> None:
    # introduction.md, table `target_effect` (knitr::kable(digits = 3)): the difference delta
    # at which the 2-arm design (24 active vs n_c control) reaches 80% power, with the control
    # rate at the MAP mean summary(map)["mean"].
    design = _two_sample_design(prior_t, prior_c, 24, n_c)
    mean_c = AS_MAP.mean
    delta = optimize.brentq(lambda d: design(mean_c + d, mean_c) - 0.8, 0.0, 1 - mean_c, xtol=1e-9)
    assert round(delta, 3) == pytest.approx(printed, abs=1e-9), label


def test_as_trial_analysis_against_rbest() -> None:
    # introduction.md, "Trial Analysis": r_placebo = 1 of 6 (robust MAP prior), r_treat = 14
    # of 24 (Beta(0.5, 1)); pmixdiff(post_treat, post_placebo, 0, lower.tail = FALSE)
    # prints 0.9917197.
    prob = _prob_treat_better(posterior(TREAT, 14, 24), posterior(AS_ROBUST, 1, 6))
    assert prob == pytest.approx(0.9917197, abs=5e-8)
    # decision(postmix(treat, n=24, r=15), postmix(map, n=6, r=3)) -> 1; (14, 4) -> 0
    assert _prob_treat_better(posterior(TREAT, 15, 24), posterior(AS_MAP, 3, 6)) > 0.95
    assert _prob_treat_better(posterior(TREAT, 14, 24), posterior(AS_MAP, 4, 6)) <= 0.95


# --------------------------------------------------------------------------- other help pages
def test_postmix_conflicting_data_against_rbest() -> None:
    # reference/postmix.md: prior.rob <- mixbeta(c(0.5, 4, 10), c(0.5, 1, 1));
    # postmix(prior.rob, n = 20, r = 18) prints
    #   w 0.002672948 0.997327052, a 22 19, b 12 3
    post = posterior(BetaMixture([0.5, 0.5], [4, 1], [10, 1]), r=18, n=20)
    np.testing.assert_allclose(post.weights, [0.002672948, 0.997327052], atol=5e-10)
    np.testing.assert_array_equal(post.a, [22, 19])
    np.testing.assert_array_equal(post.b, [12, 3])


def test_preddist_beta_mixture_against_rbest() -> None:
    # reference/preddist.md, Example 2: bm <- mixbeta(inf = c(0.8, 15, 50), rob = c(0.2, 1, 1));
    # dmix(preddist(bm, n = 10), 0:10) and qmix(bmPred, 0.5) = 2
    printed = [
        0.08814590,
        0.19605661,
        0.23899190,
        0.19379686,
        0.11696528,
        0.05913205,
        0.03082078,
        0.02104347,
        0.01863583,
        0.01822732,
        0.01818400,
    ]
    pred = predictive(BetaMixture([0.8, 0.2], [15, 1], [50, 1]), n=10)
    np.testing.assert_allclose(pred.pmf(), printed, atol=5e-9)
    assert pred.ppf(0.5) == 2
    # Example 1: uniform prior, n = 10 -> median 5
    assert predictive(UNIFORM, n=10).ppf(0.5) == 5


def test_robustify_weights_against_rbest() -> None:
    # reference/robustify.md: robustify(mixbeta(inf1 = c(0.2, 8, 3), inf2 = c(0.8, 10, 2)),
    # weight = 0.1, mean = 0.5) prints w 0.18 0.72 0.10, a 8 10 1, b 3 2 1
    rb = robustify(BetaMixture([0.2, 0.8], [8, 10], [3, 2]), weight=0.1, mean=0.5)
    np.testing.assert_allclose(rb.weights, [0.18, 0.72, 0.10], atol=1e-12)
    np.testing.assert_array_equal(rb.a, [8, 10, 1])
    np.testing.assert_array_equal(rb.b, [3, 2, 1])


def test_mean_n_parametrisation_against_rbest() -> None:
    # reference/mixbeta.md: mn2beta(0.3, 5) -> a 1.5, b 3.5 (component "rob" of bm4)
    mix = BetaMixture.from_mean_n([1.0], [0.3], [5])
    assert (mix.a[0], mix.b[0]) == pytest.approx((1.5, 3.5))
