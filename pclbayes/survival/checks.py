r"""Checks of a fitted survival model against its data and its prior.

* Kaplan-Meier medians (lifelines) per cohort, per target and per reported group;
* posterior survival curves with 95% bands next to the data's Kaplan-Meier curve;
* observed versus expected events per cohort: under the model the expected number of
  events over the observed follow-up is :math:`\sum_i H_i(t_i)` (Cox-Snell residuals sum),
  and replicated counts are drawn as Poisson with that mean;
* the prior-predictive distribution of the median time per group;
* :func:`check_table`: checks of each cohort's events that its own data did not shape.

Checks of a cohort's events (:func:`check_table`)
-------------------------------------------------
Given the observed follow-up, the Weibull likelihood of a cohort's episodes is proportional
to that of Poisson counts of events with means :math:`H_i(t_i)` (Aitkin & Clayton, Appl Stat
1980;29:156-63), so the reference distribution of the cohort's event count :math:`O_c` is a
Poisson mixture with mean :math:`E_c(\theta) = \sum_{i \in c} H_i(t_i; \theta)` over draws
of :math:`\theta`. Its tail probabilities are computed exactly for every draw and averaged
(no simulation noise beyond the draws), and the count is tested two-sided (mid-p by default,
see :mod:`pclbayes.checks`):

``loo_predictive``
    The cohort's events given the **other** cohorts: :math:`\theta` from the posterior with
    the cohort's own effect replaced by a fresh one, :math:`\sigma_{cohort}\tilde z`,
    :math:`\tilde z \sim N(0, 1)` (the mixed predictive of Marshall & Spiegelhalter, Stat
    Med 2003;22:1649-60), and the posterior draws reweighted to leave the cohort out: by
    :math:`p(\theta \mid y_{-c}) \propto p(\theta \mid y) / p(y_c \mid \theta)`, with the
    cohort's likelihood integrated over its effect (32-node Gauss-Hermite; the patient
    frailty stays inside the cohort), by Pareto-smoothed importance sampling (Vehtari et al.,
    JMLR 2024;25:1-58). No refit is needed; the Pareto k is in the note and above 0.7 the
    weights are unreliable (they then tend to undercorrect, so that the p-value is more
    likely too large than too small). Without a cohort effect in the model the new
    cohort's SD is drawn from its prior, as for the new-cohort summaries. Too many events
    (times shorter than the other cohorts imply) give a small p-value, as do too few.
``prior_conflict``
    :math:`\theta` from the prior (the draws in ``idata_["prior"]``, the cohort effect
    included; Box 1980; Evans & Moshonov 2006): a small value means the prior put little
    mass on the cohort's events over its follow-up.

The Poisson approximation does not know that an episode has at most one event: under
parameter draws that make times much shorter than the follow-up, :math:`E_c` exceeds the
cohort's episodes, so ``expected`` (the mixture mean, dominated by such draws under a vague
prior) and ``upper`` can exceed ``n``; the p-values use the whole mixture and are not
affected by the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from pclbayes.checks import (
    ALPHA,
    check_alpha,
    check_frame,
    check_method,
    p_from_tails,
    p_method_label,
)
from pclbayes.survival.derived import (
    CHUNK_VALUES,
    Draws,
    blockwise,
    draws_from_posterior,
    expected_events,
    thin_step,
    thinned,
)
from pclbayes.survival.km import km_curve, km_table
from pclbayes.survival.weibull import LOG_LOG2, cluster_loglik, log_cumhaz, survival_at

if TYPE_CHECKING:
    from pclbayes.survival.model import SurvivalModel

PROBS = (0.025, 0.5, 0.975)
_STREAM_PPC_COUNTS = 5
_STREAM_DRAWS = 6
_STREAM_MIXED = 8
_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(32)
_LOG_WEIGHTS = np.log(_GH_WEIGHTS / _GH_WEIGHTS.sum())
#: Pareto k above which importance-sampling weights are unreliable (Vehtari et al. 2024).
PARETO_K_MAX = 0.7


def stats(values: np.ndarray, axis: int | tuple[int, ...] = (0, 1)) -> dict[str, np.ndarray]:
    """Mean, median and 95% equal-tailed interval over ``axis``."""
    values = np.asarray(values, dtype=float)
    q = np.nanquantile(values, PROBS, axis=axis)
    return {"mean": np.nanmean(values, axis=axis), "median": q[1], "lower": q[0],
            "upper": q[2]}


def profile_episodes(model: SurvivalModel) -> pd.DataFrame:
    """Episodes matching the fixed profile levels (``at``; by default first infusions)."""
    d = model.design_
    return d.episodes.loc[d.profile_mask]


def profile_label(model: SurvivalModel) -> str:
    """Human-readable description of the episodes the profiles describe."""
    d = model.design_
    if d.at:
        return ", ".join(f"{k} = {v}" for k, v in d.at.items())
    eps = d.episodes
    if "strategy" in eps.columns and set(eps["strategy"].astype(str)) == {"first"}:
        return "first infusions"
    return "all episodes"


def km_cross_check(model: SurvivalModel) -> pd.DataFrame:
    """Kaplan-Meier medians with 95% CIs over the profile episodes."""
    d = model.design_
    columns = ["cohort"]
    if "target" in d.episodes.columns:
        columns.append("target")
    if d.by not in ("none", "cohort", "target"):
        columns.append(d.by)
    table = km_table(profile_episodes(model), columns)
    return table.assign(episodes=profile_label(model))


def survival_curves(model: SurvivalModel, times: Sequence[float] | None = None) -> pd.DataFrame:
    """Posterior and new-cohort S(t) bands per group, and the Kaplan-Meier curve."""
    d = model.design_
    post = model.idata_["posterior"]
    if times is None:
        grid = np.linspace(0.0, 1.1 * float(np.exp(d.log_t).max()), 61)
    else:
        grid = np.asarray(times, dtype=float)
        if grid.ndim != 1 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
            raise ValueError("times must be a 1-D sequence of non-negative times")
    shapes = _group_shapes(model)
    eps = profile_episodes(model)
    rows = []
    for g, group in enumerate(d.groups):
        for source, var in (("posterior", "median_time"), ("new_cohort",
                                                          "median_time_new_cohort")):
            med = post[var].sel(group=group).values
            s = survival_at(grid, med[..., None], shapes[..., g, None])
            st = stats(s)
            rows.append(pd.DataFrame({"group": group, "time": grid, "source": source, **st}))
        sub = eps if d.by == "none" else eps[eps[d.by] == group]
        km = km_curve(sub["time"].to_numpy(), sub["event"].to_numpy(), grid)
        rows.append(pd.DataFrame({"group": group, "time": grid, "source": "kaplan_meier",
                                  "mean": np.nan, "median": km["estimate"],
                                  "lower": km["lower"], "upper": km["upper"]}))
    return pd.concat(rows, ignore_index=True)


def _group_shapes(model: SurvivalModel) -> np.ndarray:
    post = model.idata_["posterior"]
    d = model.design_
    lead = post["log_median"].shape
    if model.fixed_shape is not None:
        k = np.full(lead, float(model.fixed_shape))
    else:
        k = post["shape"].values
    if d.shape_by_group:
        return k
    return np.repeat(k[..., None], len(d.groups), axis=-1)


def ppc_table(model: SurvivalModel) -> pd.DataFrame:
    """Observed versus expected events per cohort (and overall).

    Columns (the ``ppc_table`` schema shared by every model, see
    :data:`pclbayes.model.PPC_COLUMNS`): ``cohort, n, statistic`` (``"events"``),
    ``observed`` (events), ``predicted_mean, lower, upper`` (mean and 95% interval of the
    replicated event count ``N_rep``) and ``p_value``, the two-sided posterior-predictive
    p-value ``2 min(P(N_rep >= O), P(N_rep <= O))`` (capped at 1); then
    ``expected_mean, expected_lower, expected_upper`` (the expected number of events, i.e.
    the cumulative hazard summed over the cohort's episodes at their observed times).

    A p-value near 1 means that the observed events lie in the middle of the replicates.
    Each replicate uses the cohort's own fitted effect, so a cohort can hardly look unusual
    here; :func:`check_table` compares it with the other cohorts and with the prior.
    """
    d = model.design_
    rng = np.random.default_rng([model.seed_, _STREAM_DRAWS])
    draws = draws_from_posterior(model.idata_["posterior"].to_dataset(), d, model.priors_,
                                 model.fixed_shape, rng)
    cum = expected_events(thinned(draws, thin_step(draws.lead, d.log_t.size)), d)
    rng = np.random.default_rng([model.seed_, _STREAM_PPC_COUNTS])
    rows = []
    cohorts = [*d.cohorts, "all"]
    for c in cohorts:
        idx = np.arange(d.log_t.size) if c == "all" else np.flatnonzero(
            d.cohort_index == d.cohorts.index(c))
        expected = cum[..., idx].sum(axis=-1)
        observed = int(d.event[idx].sum())
        rep = rng.poisson(expected)
        p = min(1.0, 2 * min(float((rep >= observed).mean()), float((rep <= observed).mean())))
        e = stats(expected)
        r = np.quantile(rep, [0.025, 0.975])
        rows.append({"cohort": c, "n": int(idx.size), "statistic": "events",
                     "observed": observed, "predicted_mean": float(rep.mean()),
                     "lower": float(r[0]), "upper": float(r[1]), "p_value": p,
                     "expected_mean": float(e["mean"]), "expected_lower": float(e["lower"]),
                     "expected_upper": float(e["upper"])})
    return pd.DataFrame(rows)


def prior_median_check(model: SurvivalModel) -> pd.DataFrame:
    """Prior-predictive median times per group (in the fit's unit) and tail shares.

    ``p_below_half_month`` and ``p_above_60_months`` use half a month and 60 months
    converted to the fit's time unit.
    """
    from pclbayes.data._schema import TIME_UNITS

    per_month = TIME_UNITS[getattr(model, "time_unit_", "months")]
    prior = model.idata_["prior"]
    rows = []
    for group in model.design_.groups:
        for var, label in (("median_time", "typical cohort"),
                           ("median_time_new_cohort", "new cohort")):
            m = prior[var].sel(group=group).values.ravel()
            q = np.quantile(m, [0.025, 0.25, 0.5, 0.75, 0.975])
            rows.append({"group": group, "cohort": label, "q2.5": q[0], "q25": q[1],
                         "q50": q[2], "q75": q[3], "q97.5": q[4],
                         "p_below_half_month": float((m < 0.5 * per_month).mean()),
                         "p_above_60_months": float((m > 60 * per_month).mean())})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ cohort checks
def poisson_mixture_tails(means: np.ndarray, observed: int, weights: np.ndarray | None = None
                          ) -> tuple[float, float, float]:
    """``P(N < o), P(N = o), P(N > o)`` of ``N ~ Poisson(E)`` averaged over draws of ``E``.

    ``weights`` (summing to 1) weight the draws; equal weights by default.
    """
    e = np.asarray(means, dtype=float).ravel()
    w = np.full(e.size, 1.0 / e.size) if weights is None else np.asarray(weights).ravel()
    below = float(w @ sps.poisson.cdf(observed - 1, e)) if observed > 0 else 0.0
    equal = float(w @ sps.poisson.pmf(observed, e))
    return below, equal, max(0.0, 1.0 - below - equal)


def poisson_mixture_quantile(means: np.ndarray, q: float, weights: np.ndarray | None = None
                             ) -> float:
    """Smallest ``k`` with ``P(N <= k) >= q`` for the (weighted) Poisson mixture."""
    e = np.asarray(means, dtype=float).ravel()
    w = np.full(e.size, 1.0 / e.size) if weights is None else np.asarray(weights).ravel()
    top = float(e[w > 0].max())
    lo, hi = -1, int(max(1.0, np.ceil(top + 10 * np.sqrt(top) + 10)))
    while hi - lo > 1:  # invariant: cdf(lo) < q <= cdf(hi)
        mid = (lo + hi) // 2
        if w @ sps.poisson.cdf(mid, e) >= q:
            hi = mid
        else:
            lo = mid
    return float(hi)


def cohort_log_likelihood(draws: Draws, design: Any, c: int) -> np.ndarray:
    r"""Log-likelihood of cohort ``c``'s data per draw, its own effect integrated out.

    :math:`\log \int \prod_{u \in c} L_u(\theta, \sigma_{cohort} z)\,\phi(z)\,dz`, shape
    ``(chain, draw)``; without a cohort effect, the plain log-likelihood. The integral uses
    32-node Gauss-Hermite quadrature adapted to the cohort: nodes :math:`z = \hat m + \hat s x`
    with :math:`\hat m, \hat s` the mean and SD of the cohort's posterior :math:`z` draws (at
    least 0.05), each weighted by :math:`\phi(z) / \phi((z - \hat m)/\hat s) \cdot \hat s`, so
    that a large cohort (a narrow integrand) is integrated as accurately as a small one.

    Only the cohort's own episodes are evaluated, in blocks of draws
    (:func:`pclbayes.survival.derived.blockwise`), so memory stays bounded whatever the
    number of patients.
    """
    idx = np.flatnonzero(design.cohort_index == c)
    z_c = draws.z_cohort[..., c]
    centre, scale = float(np.mean(z_c)), max(float(np.std(z_c)), 0.05)
    single = design.single[idx]
    clusters = (np.flatnonzero(design.cohort_index[design.cluster_index[:, 0]] == c)
                if design.frailty else np.zeros(0, dtype=int))
    local = np.zeros(design.cohort_index.size, dtype=np.int64)
    local[idx] = np.arange(idx.size)
    cluster_index = local[design.cluster_index[clusters]] if clusters.size else None
    log_t, event = design.log_t[idx], design.event[idx]

    groups = (design.group_index[idx][single] if design.shape_by_group
              else np.zeros(int(single.sum()), dtype=np.int64))
    levels = np.unique(groups)
    events = np.array([event[single][groups == g].sum() for g in levels], dtype=float)
    x_single, log_t_s = design.X[idx][single], log_t[single]
    event_s = event[single].astype(float)
    event_log_t = float(log_t_s @ event_s)

    def per_block(b: Draws) -> np.ndarray:
        # independent episodes, as functions of the cohort effect u (log H_i = h_i - k_i u):
        # sum_i l_i(u) = E - u sum_g k_g D_g - sum_g exp(log B_g - k_g u), with
        # E = sum_i d_i (log k_i - log t_i + h_i), D_g the events and B_g = sum_i H_i(0) of
        # shape group g: one pass over the episodes, then O(1) per node and draw
        k_s = b.shape[..., groups] if design.shape_by_group else b.shape[..., None]
        log_h = b.log_median[..., None] + b.beta @ x_single.T  # the log medians, then
        np.subtract(log_t_s, log_h, out=log_h)                 # h_i = log H_i(0), in place
        np.multiply(log_h, k_s, out=log_h)
        log_h += LOG_LOG2
        k_g = [b.shape[..., g] if design.shape_by_group else b.shape for g in levels]
        e = log_h @ event_s - event_log_t
        for k, d_g in zip(k_g, events, strict=True):
            e = e + d_g * np.log(k)
        log_b = ([special.logsumexp(log_h, axis=-1)] if levels.size == 1 else
                 [special.logsumexp(log_h[..., groups == g], axis=-1) for g in levels])
        del log_h
        if cluster_index is not None:
            fixed = b.log_median[..., None] + b.beta @ design.X[idx].T
            shape = (b.shape[..., design.group_index[idx]] if design.shape_by_group
                     else np.broadcast_to(b.shape[..., None], fixed.shape))

        def log_lik(effect: np.ndarray) -> np.ndarray:
            out = e
            for k, d_g, lb in zip(k_g, events, log_b, strict=True):
                with np.errstate(over="ignore"):
                    out = out - effect * k * d_g - np.exp(lb - k * effect)
            if cluster_index is not None:
                eta = fixed + effect[..., None]
                out = out + cluster_loglik(log_t, event, eta, shape, b.tau[..., None],
                                           cluster_index, design.cluster_mask[clusters]
                                           ).sum(axis=-1)
            return out

        if not design.cohort_effect:
            return log_lik(b.sigma_cohort * b.z_cohort[..., c])
        terms = []
        for x, w in zip(_NODES, _LOG_WEIGHTS, strict=True):
            z = centre + scale * x
            log_q = sps.norm.logpdf(z) - sps.norm.logpdf(x) + np.log(scale)
            terms.append(log_lik(b.sigma_cohort * z) + w + log_q)
        return special.logsumexp(np.stack(terms), axis=0)

    return blockwise(per_block, draws, units=max(idx.size, 1) * 4)


def cohort_expected_events(params: dict[str, np.ndarray], design: Any, idx: np.ndarray,
                           cohort_term: np.ndarray) -> np.ndarray:
    r"""Expected events :math:`\sum_{i \in idx} H_i(t_i)` per draw with a given cohort term.

    ``params`` holds ``log_median`` ``(chain, draw)``, ``beta`` ``(chain, draw, term)`` and
    ``shape`` (``(chain, draw)`` or ``(chain, draw, group)``); ``cohort_term`` is the
    cohort's effect on the log median, ``(chain, draw)``. The sum runs over blocks of
    episodes of at most :data:`pclbayes.survival.derived.CHUNK_VALUES` values, so memory
    stays bounded whatever the cohort's size.
    """
    n_draws = max(int(np.prod(params["log_median"].shape)), 1)
    size = max(1, CHUNK_VALUES // n_draws)
    total = np.zeros(params["log_median"].shape)
    for start in range(0, max(idx.size, 1), size):
        part = idx[start:start + size]
        eta = (params["log_median"][..., None] + params["beta"] @ design.X[part].T
               + cohort_term[..., None])
        shape = params["shape"]
        shape = (shape[..., design.group_index[part]] if design.shape_by_group
                 else shape[..., None])
        with np.errstate(over="ignore", under="ignore"):
            total = total + np.exp(log_cumhaz(design.log_t[part], eta, shape)).sum(axis=-1)
    return total


def _parameters(ds: Any, model: SurvivalModel) -> dict[str, np.ndarray]:
    d = model.design_
    lead = ds["log_median"].shape
    beta = ds["beta"].values if d.n_terms else np.zeros((*lead, 0))
    shape = (np.full(lead, float(model.fixed_shape)) if model.fixed_shape is not None
             else ds["shape"].values)
    return {"log_median": ds["log_median"].values, "beta": beta, "shape": shape}


def _events_row(cohort: str, n: int, check: str, observed: int, means: np.ndarray,
                method: str, alpha: float, note: str, weights: np.ndarray | None = None
                ) -> dict[str, Any]:
    e = np.asarray(means, dtype=float).ravel()
    w = np.full(e.size, 1.0 / e.size) if weights is None else np.asarray(weights).ravel()
    if not (np.isfinite(w).all() and (w > 0).any() and np.isfinite(e[w > 0]).all()):
        # degenerate importance weights (one cohort dominates the fit): no p-value
        return {"cohort": cohort, "n": int(n), "check": check, "statistic": "events",
                "observed": float(observed), "expected": np.nan, "lower": np.nan,
                "upper": np.nan, "p_value": np.nan, "p_method": p_method_label(method),
                "flag": False, "note": note + "; the importance weights are degenerate "
                "(this cohort dominates the fit): refit without it to check it"}
    p = p_from_tails(*poisson_mixture_tails(e, observed, w), method)
    return {"cohort": cohort, "n": int(n), "check": check, "statistic": "events",
            "observed": float(observed), "expected": float(w @ e),
            "lower": poisson_mixture_quantile(e, 0.025, w),
            "upper": poisson_mixture_quantile(e, 0.975, w), "p_value": p,
            "p_method": p_method_label(method), "flag": bool(p < alpha), "note": note}


def loo_weights(draws: Draws, design: Any, c: int) -> tuple[np.ndarray, float]:
    """Pareto-smoothed weights of the posterior draws that leave cohort ``c`` out, and k."""
    from arviz_stats.base import array_stats

    log_lik = cohort_log_likelihood(draws, design, c).ravel()
    # arviz-stats' psislw takes the log-likelihood (weights proportional to 1 / likelihood)
    log_w, khat = array_stats.psislw(np.where(np.isfinite(log_lik), log_lik, -700.0))
    with np.errstate(invalid="ignore", over="ignore"):
        w = np.exp(log_w - np.max(log_w))
        w = w / w.sum()
    return w, float(khat)


def check_table(model: SurvivalModel, method: str = "mid", alpha: float = ALPHA
                ) -> pd.DataFrame:
    """Cross-validated and prior-conflict checks of each cohort's events (module docstring).

    Returns
    -------
    DataFrame
        The columns of :data:`pclbayes.checks.CHECK_COLUMNS`, two rows per cohort
        (``check`` ``"loo_predictive"`` and ``"prior_conflict"``, statistic ``"events"``,
        ``n`` its episodes).
    """
    method, alpha = check_method(method), check_alpha(alpha)
    d = model.design_
    post = model.idata_["posterior"].to_dataset()
    draws = draws_from_posterior(post, d, model.priors_, model.fixed_shape,
                                 np.random.default_rng([model.seed_, _STREAM_MIXED]))
    fresh = draws.sigma_new * draws.z_new
    post_params = _parameters(post, model)
    prior = model.idata_["prior"].to_dataset()
    prior_params = _parameters(prior, model)
    prior_effect = (prior["sigma_cohort"].values[..., None] * prior["z_cohort"].values
                    if d.cohort_effect else None)
    loo_note = ("a fresh cohort effect under the posterior reweighted to leave the cohort "
                "out (Pareto-smoothed importance sampling, Pareto k = {k:.2f}){warn}; small p: "
                "its events do not fit the other cohorts (too many: shorter times)")
    prior_note = ("prior-predictive events over the cohort's follow-up; small p: the prior "
                  "conflicts with this cohort")
    rows = []
    for c, cohort in enumerate(d.cohorts):
        idx = np.flatnonzero(d.cohort_index == c)
        observed = int(d.event[idx].sum())
        mixed = cohort_expected_events(post_params, d, idx, fresh)
        weights, khat = loo_weights(draws, d, c)
        warn = (f" > {PARETO_K_MAX}: the weights are unreliable, read the p-value as an "
                "upper bound" if khat > PARETO_K_MAX else "")
        rows.append(_events_row(cohort, idx.size, "loo_predictive", observed, mixed, method,
                                alpha, loo_note.format(k=khat, warn=warn), weights))
        term = (prior_effect[..., c] if prior_effect is not None
                else np.zeros(prior_params["log_median"].shape))
        under_prior = cohort_expected_events(prior_params, d, idx, term)
        rows.append(_events_row(cohort, idx.size, "prior_conflict", observed, under_prior,
                                method, alpha, prior_note))
    return check_frame(rows)
