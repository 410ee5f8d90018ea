r"""Predictive checks of a fitted response model that can flag a cohort.

The posterior-predictive check of :meth:`ResponseModel.ppc_table` replicates each cohort
from its own posterior rate; with two to six patients per cohort (and every patient
responding) that rate is pulled to the cohort's own data and the p-value is 1 by
construction. The checks here compare each cohort with a distribution its own data did not
shape, and the cohorts with each other. Notation: cohort unit :math:`j` has :math:`r_j`
responders of :math:`n_j` and belongs to stratum :math:`s = s(j)`; the beta-binomial
population has mean :math:`\mu_s` and concentration :math:`\kappa`, the logit-normal one
log-odds mean :math:`m_s` and SD :math:`\sigma`.

``loo_predictive`` (one row per cohort unit)
    The predictive distribution of :math:`r_j` given the *other* cohorts only,

    .. math::

        p(r_j \mid r_{-j}) = \int \mathrm{BetaBinomial}(r_j; n_j, \mu_s\kappa,
        (1-\mu_s)\kappa)\; p(\mu, \kappa \mid r_{-j})\, d\mu\, d\kappa,

    a cross-validated (leave-one-cohort-out) check (Marshall & Spiegelhalter, Stat Med
    2003;22:1649-60). For the beta-binomial model :math:`p(\mu, \kappa \mid r_{-j})` is
    computed *exactly* by refitting the grid engine (:mod:`pclbayes.response.exact`) without
    unit :math:`j`, whatever engine the fit used; the mass function is the exact beta-binomial
    mixture over the grid. The logit-normal model has no exact engine: its row reweights
    the posterior draws of :math:`(m, \sigma)`, using the identity
    :math:`p(m, \sigma \mid r_{-j}) \propto p(m, \sigma \mid r) / p(r_j \mid m, \sigma)` with
    the cohort's likelihood integrated over its effect, :math:`p(r_j \mid m, \sigma) = \int
    \mathrm{Binomial}(r_j; n_j, \operatorname{expit}(m_s + \sigma z))\,\phi(z)\,dz`
    (Gauss-Hermite), by Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao &
    Gabry, JMLR 2024;25:1-58), and averages the **mixed predictive** (a fresh cohort effect)
    over the reweighted draws. That is an approximation of a refit: its Pareto k is given in
    the note, and above 0.7 the weights are unreliable; they then tend to undercorrect (the
    draws still lean towards hyperparameters that accommodate the cohort), so that the
    p-value is more likely too large than too small. A unit
    that is the only one in its stratum is predicted from the prior of its stratum mean (and
    the heterogeneity learnt from the other strata): it can only flag a conflict with that
    prior.

``dispersion`` (one row, cohort ``"all"``)
    Pearson's statistic of the cohorts around their stratum's pooled rate
    :math:`\hat p_s = \sum_{j \in s} r_j / \sum_{j \in s} n_j`,

    .. math::

        X^2(r) = \sum_j \frac{(r_j - n_j \hat p_{s(j)})^2}{n_j \hat p_{s(j)}(1 - \hat p_{s(j)})}

    (terms with :math:`\hat p_s \in \{0, 1\}` and strata with one unit contribute 0), against
    its posterior-predictive distribution with **fresh cohort rates**: for each posterior draw
    of the hyperparameters, new rates :math:`p_j^{rep}` from the population distribution and
    :math:`r_j^{rep} \sim \mathrm{Binomial}(n_j, p_j^{rep})` (replication at the level of the
    hyperparameters, Gelman, Meng & Stern, Stat Sin 1996;6:733-807). The p-value is the upper
    tail, mid-p by default, :math:`P(X^2_{rep} > X^2) + \tfrac12 P(X^2_{rep} = X^2)`: a small
    value means the cohorts differ more than the fitted heterogeneity allows. It uses the data
    twice (the hyperparameters were fitted to them) and is conservative: with a
    heterogeneity prior that lets :math:`\kappa` (or :math:`\sigma`) follow the data, one
    outlying cohort among a few is absorbed by a larger fitted spread and the p-value stays
    near 0.1; it flags when the heterogeneity prior is informative.

``dispersion_prior`` (one row, cohort ``"all"``)
    The same statistic against its **prior**-predictive distribution (hyperparameters from
    the draws in ``idata_["prior"]``; Box 1980). :math:`X^2` is nearly free of the rate
    levels, so this is a conflict check of the heterogeneity prior: a small value means the
    cohorts differ more than the heterogeneity prior makes plausible.

``prior_conflict`` (one row per cohort unit)
    The prior-predictive p-value of :math:`r_j` (Box, J R Stat Soc A 1980;143:383-430;
    Evans & Moshonov, Bayesian Anal 2006;1:893-914): the same mixture with the hyperparameters
    drawn from their prior (the draws in ``idata_["prior"]``). A small value means the prior
    put little mass on the cohort's count: prior and data conflict, and the posterior is a
    compromise between them.

``map_conflict`` (:func:`new_cohort_check`)
    A new cohort's count against the meta-analytic-predictive (MAP) distribution of a new
    cohort of its stratum, :math:`\int \mathrm{BetaBinomial}(r; n, \mu_s\kappa,
    (1-\mu_s)\kappa)\,p(\mu, \kappa \mid r)` (grid-exact for the exact engine, averaged over
    the posterior draws otherwise; Gauss-Hermite for the logit-normal model): the prior-data
    conflict check of a trial that would use the MAP prior.

Counts are tested two-sided with the mid-p value by default (see :mod:`pclbayes.checks`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from pclbayes.checks import (
    ALPHA,
    check_alpha,
    check_frame,
    check_method,
    count_row,
    p_method_label,
    upper_tail_p,
)
from pclbayes.errors import SpecError
from pclbayes.response.counts import CountData
from pclbayes.response.exact import fit_exact

if TYPE_CHECKING:
    from pclbayes.response.model import ResponseModel

#: Random stream (``np.random.default_rng([seed, stream])``) of the dispersion replicates.
STREAM_DISPERSION = 7
#: Random stream of the prior-predictive dispersion replicates.
STREAM_DISPERSION_PRIOR = 8

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(64)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
#: Pareto k above which importance-sampling weights are unreliable (Vehtari et al. 2024).
PARETO_K_MAX = 0.7
_CHUNK = 2_000_000  # values of one binomial-pmf block (draws x nodes x counts)


# ---------------------------------------------------------------------- mass functions
def beta_binomial_mixture_pmf(n: int, weights: np.ndarray, a: np.ndarray, b: np.ndarray
                              ) -> np.ndarray:
    r"""``P(Y = k) = \sum_c w_c \mathrm{BetaBinomial}(k; n, a_c, b_c)``, ``k = 0..n``."""
    from scipy import stats  # here: importing scipy.stats takes about a second

    w = np.asarray(weights, dtype=float).ravel()
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    k = np.arange(int(n) + 1)
    out = np.zeros(k.size)
    step = max(1, _CHUNK // k.size)
    for i in range(0, w.size, step):
        block = stats.betabinom.pmf(k[:, None], int(n), a[None, i:i + step],
                                    b[None, i:i + step])
        out += np.nan_to_num(block) @ w[i:i + step]
    return out / out.sum()


def logit_normal_draw_pmfs(n: int, m: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    r"""``P(Y = k \mid m_d, \sigma_d)`` of ``Binomial(n, expit(m + sigma z))``, ``z ~ N(0, 1)``.

    One row per draw ``d`` (``(draws, n + 1)``); the integral over :math:`z` uses 64-node
    Gauss-Hermite quadrature, so the result is a deterministic function of the draws.
    """
    from scipy import stats

    m, sigma = np.asarray(m, dtype=float).ravel(), np.asarray(sigma, dtype=float).ravel()
    k = np.arange(int(n) + 1)
    out = np.empty((m.size, k.size))
    step = max(1, _CHUNK // (k.size * _NODES.size))
    for i in range(0, m.size, step):
        p = special.expit(m[i:i + step, None] + sigma[i:i + step, None] * _NODES[None, :])
        out[i:i + step] = np.einsum("kdq,q->dk", stats.binom.pmf(k[:, None, None], int(n),
                                                                 p[None]), _WEIGHTS)
    return out


def logit_normal_mixture_pmf(n: int, m: np.ndarray, sigma: np.ndarray,
                             weights: np.ndarray | None = None) -> np.ndarray:
    """:func:`logit_normal_draw_pmfs` averaged over the draws (with ``weights`` if given)."""
    mat = logit_normal_draw_pmfs(n, m, sigma)
    w = np.full(mat.shape[0], 1.0 / mat.shape[0]) if weights is None else weights
    out = w @ mat
    return out / out.sum()


def hyperparameters(ds: Any, model: str, n_strata: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``(location, spread)`` per stratum, each ``(draws, strata)``.

    ``(mu, kappa)`` for the beta-binomial model, ``(mu_logit, sigma)`` for the logit-normal
    one, from a posterior or prior dataset of a fitted response model.
    """
    loc_name, spread_name = ("mu", "kappa") if model == "beta-binomial" else ("mu_logit",
                                                                             "sigma")
    loc = np.asarray(ds[loc_name].values, dtype=float).reshape(-1, n_strata)
    spread = np.asarray(ds[spread_name].values, dtype=float).reshape(loc.shape[0], -1)
    return loc, np.broadcast_to(spread, loc.shape)


def draws_pmf(n: int, loc: np.ndarray, spread: np.ndarray, model: str) -> np.ndarray:
    """Predictive mass function of a new cohort of ``n`` under draws of its hyperparameters."""
    if model == "beta-binomial":
        w = np.full(loc.size, 1.0 / loc.size)
        return beta_binomial_mixture_pmf(n, w, loc * spread, (1 - loc) * spread)
    return logit_normal_mixture_pmf(n, loc, spread)


def drop_unit(counts: CountData, j: int) -> CountData:
    """The counts without unit ``j`` (every stratum kept, possibly without units)."""
    keep = np.arange(counts.n_units) != j

    def kept(labels: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v for v, k in zip(labels, keep, strict=True) if k)

    return replace(counts, units=kept(counts.units), cohorts=kept(counts.cohorts),
                   groups=kept(counts.groups), n=counts.n[keep], r=counts.r[keep],
                   stratum_index=counts.stratum_index[keep])


def loo_pmf(fit: ResponseModel, j: int) -> tuple[np.ndarray, float]:
    """Mass function of unit ``j``'s responders given the other units (module docstring).

    Returns the mass function and the Pareto k of the importance weights (logit-normal
    model; NaN for the exact beta-binomial refit).
    """
    counts = fit.counts_
    s, n = int(counts.stratum_index[j]), int(counts.n[j])
    if fit.model == "beta-binomial":
        post = fit_exact(drop_unit(counts, j), fit.priors_, fit.heterogeneity,
                         resolution=tuple(fit.resolution))
        w, a, b = post._mixture(s)
        return beta_binomial_mixture_pmf(n, w, a, b), float("nan")
    from arviz_stats.base import array_stats

    loc, spread = hyperparameters(fit.idata_["posterior"], fit.model, counts.n_strata)
    mat = logit_normal_draw_pmfs(n, loc[:, s], spread[:, s])
    with np.errstate(divide="ignore"):
        log_lik = np.log(mat[:, int(counts.r[j])])
    # arviz-stats' psislw takes the log-likelihood (weights proportional to 1 / likelihood)
    log_w, khat = array_stats.psislw(np.maximum(log_lik, -700.0))
    pmf = np.exp(log_w - log_w.max()) @ mat
    return pmf / pmf.sum(), float(khat)


# ---------------------------------------------------------------------- dispersion
def chi_square(r: np.ndarray, n: np.ndarray, stratum_index: np.ndarray) -> np.ndarray:
    """Pearson's :math:`X^2` of cohort counts ``r`` (``(..., unit)``) around stratum rates."""
    r = np.asarray(r, dtype=float)
    out = np.zeros(r.shape[:-1])
    for s in np.unique(stratum_index):
        idx = np.flatnonzero(stratum_index == s)
        if idx.size < 2:
            continue
        ns = n[idx].astype(float)
        p = r[..., idx].sum(axis=-1, keepdims=True) / ns.sum()
        den = ns * p * (1 - p)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(den > 0, (r[..., idx] - ns * p) ** 2 / den, 0.0)
        out = out + terms.sum(axis=-1)
    return out


def replicate_fresh_cohorts(fit: ResponseModel, group: str, rng: np.random.Generator
                            ) -> np.ndarray:
    """Counts of every unit with fresh cohort rates per draw of ``group``, ``(draws, unit)``.

    ``group`` is ``"posterior"`` or ``"prior"``: whose hyperparameter draws to use.
    """
    counts = fit.counts_
    loc, spread = hyperparameters(fit.idata_[group], fit.model, counts.n_strata)
    loc, spread = loc[:, counts.stratum_index], spread[:, counts.stratum_index]
    if fit.model == "beta-binomial":
        rate = rng.beta(loc * spread, (1 - loc) * spread)
    else:
        rate = special.expit(loc + spread * rng.standard_normal(loc.shape))
    return rng.binomial(counts.n, rate)


_DISPERSION = {
    "posterior": ("dispersion", STREAM_DISPERSION,
                  "Pearson X^2 of cohort rates around their stratum's pooled rate vs replicates "
                  "with fresh cohort rates from the posterior population distribution; small "
                  "p: more between-cohort spread than the fitted heterogeneity allows (uses "
                  "the data twice: conservative)"),
    "prior": ("dispersion_prior", STREAM_DISPERSION_PRIOR,
              "Pearson X^2 of cohort rates around their stratum's pooled rate vs its "
              "prior-predictive distribution; small p: more between-cohort spread than the "
              "heterogeneity prior makes plausible"),
}


def dispersion_row(fit: ResponseModel, group: str, method: str, alpha: float
                   ) -> dict[str, Any]:
    """A dispersion row: Pearson's X^2 against fresh-cohort replicates of ``group``."""
    counts = fit.counts_
    check, stream, note = _DISPERSION[group]
    observed = float(chi_square(counts.r, counts.n, counts.stratum_index))
    rep = chi_square(replicate_fresh_cohorts(fit, group, np.random.default_rng(
        [fit.seed_, stream])), counts.n, counts.stratum_index)
    sizes = np.bincount(counts.stratum_index, minlength=counts.n_strata)
    row = {"cohort": "all", "n": int(counts.n.sum()), "check": check,
           "statistic": "chi_square", "observed": observed, "expected": float(rep.mean()),
           "lower": float(np.quantile(rep, 0.025)), "upper": float(np.quantile(rep, 0.975)),
           "p_method": p_method_label(method, "upper tail")}
    if not (sizes >= 2).any():
        return {**row, "p_value": np.nan, "flag": False,
                "note": "no stratum has two cohort units: no dispersion to check"}
    p = upper_tail_p(rep, observed, method)
    return {**row, "p_value": p, "flag": bool(p < alpha), "note": note}


# ---------------------------------------------------------------------- tables
def _loo_note(fit: ResponseModel, j: int, khat: float) -> str:
    counts = fit.counts_
    alone = int((counts.stratum_index == counts.stratum_index[j]).sum()) == 1
    if fit.model == "beta-binomial":
        text = "exact refit without this cohort unit (grid engine)"
    else:
        text = (f"Pareto-smoothed importance sampling of the posterior draws, Pareto k = "
                f"{khat:.2f}")
        if khat > PARETO_K_MAX:
            text += (f" > {PARETO_K_MAX}: the weights are unreliable (the cohort moves the "
                     "hyperparameters much); read the p-value as an upper bound")
    if alone:
        text += ("; the only unit of its stratum: its level is predicted from the prior "
                 "(and, through shared parameters, the other strata)")
    return text


def check_table(fit: ResponseModel, method: str = "mid", alpha: float = ALPHA
                ) -> pd.DataFrame:
    """Every check of :mod:`pclbayes.response.checks` (see :meth:`ResponseModel.check_table`)."""
    method, alpha = check_method(method), check_alpha(alpha)
    counts = fit.counts_
    loc, spread = hyperparameters(fit.idata_["prior"], fit.model, counts.n_strata)
    rows = []
    for j, unit in enumerate(counts.units):
        n, r, s = int(counts.n[j]), int(counts.r[j]), int(counts.stratum_index[j])
        pmf, khat = loo_pmf(fit, j)
        rows.append(count_row(unit, n, "loo_predictive", "responders", r, pmf, method, alpha,
                              _loo_note(fit, j, khat)))
        rows.append(count_row(unit, n, "prior_conflict", "responders", r,
                              draws_pmf(n, loc[:, s], spread[:, s], fit.model), method,
                              alpha, "prior-predictive distribution (hyperparameters from "
                              "their prior); small p: the prior conflicts with this cohort"))
    rows += [dispersion_row(fit, group, method, alpha) for group in ("posterior", "prior")]
    frame = check_frame(rows)
    frame["group"] = [counts.groups[counts.units.index(c)] if c in counts.units else "all"
                      for c in frame["cohort"]]
    return frame


def map_pmf(fit: ResponseModel, n: int, s: int) -> np.ndarray:
    """MAP predictive mass function of a new cohort of ``n`` patients in stratum ``s``."""
    if fit.exact_ is not None:
        w, a, b = fit.exact_._mixture(s)
        return beta_binomial_mixture_pmf(n, w, a, b)
    loc, spread = hyperparameters(fit.idata_["posterior"], fit.model, fit.counts_.n_strata)
    return draws_pmf(n, loc[:, s], spread[:, s], fit.model)


def new_cohort_check(fit: ResponseModel, n: int, responders: int, level: str | None = None,
                     method: str = "mid", alpha: float = ALPHA) -> pd.DataFrame:
    """A new cohort's ``responders`` of ``n`` against the MAP predictive of its stratum."""
    method, alpha = check_method(method), check_alpha(alpha)
    counts = fit.counts_
    for name, value in (("n", n), ("responders", responders)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise SpecError(f"{name} must be a non-negative integer, got {value!r}")
    if n < 1 or responders > n:
        raise SpecError(f"need 1 <= n and responders <= n, got {responders} of {n}")
    if level is None:
        if counts.n_strata > 1:
            raise SpecError(f"name the level of the new cohort: one of {', '.join(counts.strata)}")
        level = counts.strata[0]
    if level not in counts.strata:
        raise SpecError(f"unknown level {level!r}; levels: {', '.join(counts.strata)}")
    s = counts.strata.index(level)
    row = count_row("new", int(n), "map_conflict", "responders", int(responders),
                    map_pmf(fit, int(n), s), method, alpha,
                    f"meta-analytic-predictive distribution of a new {level} cohort; small p: "
                    "the new cohort conflicts with the MAP prior")
    frame = check_frame([row])
    frame["group"] = level
    return frame
