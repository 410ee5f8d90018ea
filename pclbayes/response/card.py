"""The readable model card printed for a fitted :class:`ResponseModel`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pclbayes.response.model import ResponseModel

_ENDPOINTS = {"orr": "ORR (PR or better)", "cr": "CR or better"}


def _ci(r: pd.Series, fmt: str = ".3f") -> str:
    return f"{r['median']:{fmt}} ({r['lower']:{fmt}}, {r['upper']:{fmt}})"


def model_card(fit: ResponseModel) -> str:
    """Data, model, priors, pooling, headline table and diagnostics of a fit."""
    counts, frame = fit.counts_, fit.summary_
    endpoint = _ENDPOINTS.get(fit.counts_.endpoint, fit.counts_.endpoint)
    by = "all cohorts together" if fit.by == "none" else f"by {fit.by}"
    het = fit._heterogeneity_name()
    dim = counts.dim
    if fit.model == "beta-binomial":
        model = (f"beta-binomial: cohort rates ~ Beta(mean mu[{dim}], concentration kappa), "
                 "integrated out; cohort rates recovered from Beta(a + r, b + n - r)")
    else:
        model = (f"logit-normal: logit(rate) = intercept + effect[{dim}] + sigma * z[cohort], "
                 "non-centred")
    if fit.exact_ is not None:
        engine = (f"exact (numerical integration on a {fit.resolution[0]} x "
                  f"{fit.resolution[1]} grid per stratum)")
    else:
        s = fit.sampler_
        engine = f"MCMC ({s.sampler}, {s.chains} chains x {s.draws} draws, {s.tune} tuning)"
    if counts.n_strata == 1:
        pooling = f"partial: one population of cohort rates; {het} describes its spread"
    elif fit.heterogeneity == "shared":
        pooling = (f"partial: one population per {dim} level; {het} shared across levels "
                   f"(a level with one cohort cannot inform its own {het})")
    else:
        pooling = f"partial: one population per {dim} level, each with its own {het}"
    lines = [
        f"Hierarchical response model: {endpoint}, {by}",
        f"  model    {model}",
        f"  engine   {engine}",
        f"  data     {int(counts.n.sum())} patients, {int(counts.r.sum())} responders in "
        f"{counts.n_units} cohort unit(s) ({counts.source}; data {fit.data_hash_[:12]})",
        f"  pooling  {pooling}",
    ]
    if fit.by == "target":
        lines.append("           first infusions only")
    elif fit.by == "strategy":
        lines.append("           first infusions and target-switched re-infusions (the same "
                     "patients may appear in both)")
    full = [lv for s, lv in enumerate(counts.strata)
            if (counts.r[counts.stratum_index == s] == counts.n[counts.stratum_index == s]).all()]
    if full:
        lines.append(f"  note     every patient responded in {', '.join(full)}: the likelihood "
                     "is flat towards 100%, so upper limits there are set by the priors")
    lines += ["", "Priors"]
    for name, prior in fit.priors_.items():
        lines.append(f"  {name:<9} ~ {prior!s:<26} {prior.reason}")
    lines += ["", "Population-mean response rate, median (95% interval)"]
    for _, r in frame[frame["quantity"] == "pooled_rate"].iterrows():
        lines.append(f"  {r['level']:<16} {_ci(r)}")
    lines += ["", "Rate of a new cohort (predictive)"]
    for _, r in frame[frame["quantity"] == "predictive_rate"].iterrows():
        lines.append(f"  {r['level']:<16} {_ci(r)}")
    lines += ["", "Cohorts: observed -> shrunken"]
    for _, r in frame[frame["quantity"] == "cohort_rate"].iterrows():
        obs = f"{int(r['responders'])}/{int(r['n'])} = {r['observed']:.3f}"
        lines.append(f"  {r['level']:<16} {obs:<14} -> {_ci(r)}")
    contrasts = frame[frame["quantity"] == "contrast"]
    if len(contrasts):
        lines += ["", "Contrasts of population-mean rates"]
        for _, r in contrasts.iterrows():
            lines.append(f"  {r['level']:<16} {_ci(r, '+.3f')}  P(>0) = {r['prob_gt']:.3f}")
    lines += ["", f"Heterogeneity ({het}): posterior vs prior"]
    posterior = frame[(frame["quantity"] == het) & (frame["source"] != "prior")]
    for _, r in posterior.iterrows():
        prior = frame[(frame["quantity"] == het) & (frame["source"] == "prior")
                      & (frame["level"] == r["level"])]
        p = prior.iloc[0]
        lines.append(f"  {r['level']:<16} posterior {_ci(r, '.3g')}   prior {_ci(p, '.3g')}")
    for _, r in frame[frame["quantity"] == "between_cohort_sd"].iterrows():
        lines.append(f"  between-cohort SD of the rate, {r['level']}: {_ci(r)}")
    lines += ["", "Diagnostics"]
    if fit.exact_ is not None:
        lines.append("  exact engine: deterministic, no sampler diagnostics apply; "
                     f"log evidence {fit.exact_.log_evidence:.3f}")
    else:
        lines += ["  " + line for line in str(fit.diagnostics_).splitlines()]
        if not fit.diagnostics_.ok:
            lines.append("  WARNING: the sampler did not pass the convergence gate; do not "
                         "report these numbers before following the advice above")
    return "\n".join(lines)
