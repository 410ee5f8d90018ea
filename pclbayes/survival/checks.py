r"""Checks of a fitted survival model against its data and its prior.

* Kaplan-Meier medians (lifelines) per cohort, per target and per reported group;
* posterior survival curves with 95% bands next to the data's Kaplan-Meier curve;
* observed versus expected events per cohort: under the model the expected number of
  events over the observed follow-up is :math:`\sum_i H_i(t_i)` (Cox-Snell residuals sum),
  and replicated counts are drawn as Poisson with that mean;
* the prior-predictive distribution of the median time per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pclbayes.survival.derived import (
    draws_from_posterior,
    expected_events,
    thin_step,
    thinned,
)
from pclbayes.survival.km import km_curve, km_table
from pclbayes.survival.weibull import survival_at

if TYPE_CHECKING:
    from pclbayes.survival.model import SurvivalModel

PROBS = (0.025, 0.5, 0.975)
_STREAM_PPC_COUNTS = 5
_STREAM_DRAWS = 6


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
            raise ValueError("times must be a 1-D sequence of non-negative months")
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
    """Prior-predictive median times per group (months) and tail shares."""
    prior = model.idata_["prior"]
    rows = []
    for group in model.design_.groups:
        for var, label in (("median_time", "typical cohort"),
                           ("median_time_new_cohort", "new cohort")):
            m = prior[var].sel(group=group).values.ravel()
            q = np.quantile(m, [0.025, 0.25, 0.5, 0.75, 0.975])
            rows.append({"group": group, "cohort": label, "q2.5": q[0], "q25": q[1],
                         "q50": q[2], "q75": q[3], "q97.5": q[4],
                         "p_below_half_month": float((m < 0.5).mean()),
                         "p_above_60_months": float((m > 60).mean())})
    return pd.DataFrame(rows)
