"""Tidy summary, JSON layout and the readable model card of a fitted ``SurvivalModel``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pclbayes.checks import draws_sd, mostly_prior, sd_ratio
from pclbayes.model import CI_PROB, SUMMARY_COLUMNS
from pclbayes.priors import Prior
from pclbayes.survival import checks
from pclbayes.survival.defaults import UNKNOWN

if TYPE_CHECKING:
    from pclbayes.survival.design import Design
    from pclbayes.survival.model import SurvivalModel

COLUMNS = [*SUMMARY_COLUMNS, "n", "events"]
_PARAMETER_ORDER = ("log_median", "effect", "shape", "sigma_cohort", "kendall_tau")


def _s(values: Any, ratio: bool = False) -> dict[str, float]:
    v = np.asarray(values, dtype=float).ravel()
    q = np.nanquantile(v, checks.PROBS)
    out = {"mean": float(np.nanmean(v)), "median": float(q[1]), "lower": float(q[0]),
           "upper": float(q[2])}
    if ratio:
        out["prob_gt"] = float(np.mean(v > 1))
    return out


def _row_stats(values: Any, ratio: bool, mcmc: bool) -> dict[str, float]:
    """:func:`_s` plus SD and, for MCMC draws ``(chain, draw)``, bulk ESS and R-hat."""
    out = _s(values, ratio)
    arr = np.asarray(values, dtype=float)
    out["sd"] = float(np.nanstd(arr.ravel(), ddof=1))
    if ratio:
        out["prob_gt_value"] = 1.0
    if mcmc and arr.ndim == 2 and arr.shape[0] > 1 and np.isfinite(arr).all():
        from arviz_stats.base import array_stats

        with np.errstate(invalid="ignore", divide="ignore"):
            out["ess_bulk"] = float(array_stats.ess(arr, chain_axis=0, draw_axis=1))
            out["r_hat"] = float(array_stats.rhat(arr, chain_axis=0, draw_axis=1))
    return out


def _exact(prior: Prior) -> dict[str, float]:
    """Mean, median and 95% interval of a parameter's prior (exact, from scipy)."""
    dist = prior.frozen()
    q = dist.ppf(np.asarray(checks.PROBS))
    return {"mean": float(dist.mean()), "median": float(q[1]), "lower": float(q[0]),
            "upper": float(q[2])}


def _exact_row(prior: Prior) -> dict[str, float]:
    out = _exact(prior)
    dist = prior.frozen()
    out["sd"] = float(dist.std()) if hasattr(dist, "std") else float("nan")
    return out


def _h(h: float) -> str:
    return f"{h:g}"


# ------------------------------------------------------------------ tidy summary
def summary_table(m: SurvivalModel) -> pd.DataFrame:
    """One row per reported quantity (see :meth:`SurvivalModel.summary`)."""
    d, post, prior = m.design_, m.idata_["posterior"], m.idata_["prior"]
    rows: list[dict[str, Any]] = []

    def add(quantity: str, level: str, values: Any, *, source: str = "posterior",
            ratio: bool = False, prior_values: Any = None, scale: str = "identity") -> None:
        stats = (_exact_row(values) if isinstance(values, Prior)
                 else _row_stats(values, ratio, mcmc=source == "posterior"))
        spread, shown = float("nan"), (np.nan, np.nan, np.nan)
        if source == "posterior" and prior_values is not None:
            spread = sd_ratio(draws_sd(values, scale), np.asarray(prior_values), scale)
            if np.isfinite(spread):
                v = np.asarray(prior_values, dtype=float).ravel()
                v = v[np.isfinite(v)]
                shown = tuple(float(x) for x in np.quantile(v, (0.5, *checks.PROBS[::2])))
        rows.append({"quantity": quantity, "level": level, **stats, "source": source,
                     "prior_sd_ratio": spread, "mostly_prior": mostly_prior(spread),
                     "prior_median": shown[0], "prior_lower": shown[1],
                     "prior_upper": shown[2]})

    def of_prior(var: str, **sel: Any) -> Any:
        return prior[var].sel(sel) if var in prior else None

    for g in d.groups:
        add("median_time", g, post["median_time"].sel(group=g),
            prior_values=of_prior("median_time", group=g), scale="log")
        for h in m.horizons_:
            add(f"survival_at_{_h(h)}", g, post["survival"].sel(group=g, horizon=h),
                prior_values=of_prior("survival", group=g, horizon=h))
        add("median_time_new_cohort", g, post["median_time_new_cohort"].sel(group=g),
            prior_values=of_prior("median_time_new_cohort", group=g), scale="log")
        for h in m.horizons_:
            add(f"survival_at_{_h(h)}_new_cohort", g,
                post["survival_new_cohort"].sel(group=g, horizon=h),
                prior_values=of_prior("survival_new_cohort", group=g, horizon=h))
        add("median_time", g, prior["median_time"].sel(group=g), source="prior")
        add("median_time_new_cohort", g, prior["median_time_new_cohort"].sel(group=g),
            source="prior")
    for c in d.contrast_labels:
        add("time_ratio", c, post["time_ratio"].sel(contrast=c), ratio=True,
            prior_values=of_prior("time_ratio", contrast=c), scale="log")
        if "hazard_ratio" in post:
            add("hazard_ratio", c, post["hazard_ratio"].sel(contrast=c), ratio=True,
                prior_values=of_prior("hazard_ratio", contrast=c), scale="log")
    if m.fixed_shape is None:
        if d.shape_by_group:
            for g in d.groups:
                add("shape", g, post["shape"].sel(group=g),
                    prior_values=of_prior("shape", group=g), scale="log")
                add("shape", g, m.priors_["shape"], source="prior")
        else:
            add("shape", "all", post["shape"], prior_values=of_prior("shape"), scale="log")
            add("shape", "all", m.priors_["shape"], source="prior")
    if d.cohort_effect:
        add("sigma_cohort", "all", post["sigma_cohort"],
            prior_values=of_prior("sigma_cohort"))
        for c in d.cohorts:
            effect = of_prior("cohort_effect", cohort=c)
            add("cohort_time_ratio", c, np.exp(post["cohort_effect"].sel(cohort=c)), ratio=True,
                prior_values=None if effect is None else np.exp(effect), scale="log")
    add("sigma_cohort", "all", m.priors_["sigma_cohort"], source="prior")
    if d.frailty:
        add("kendall_tau", "all", post["kendall_tau"], prior_values=of_prior("kendall_tau"))
        add("kendall_tau", "all", m.priors_["kendall_tau"], source="prior")
    for r in m.km_table().itertuples(index=False):
        rows.append({"quantity": "km_median", "level": f"{r.column}: {r.value}",
                     "mean": np.nan, "median": r.median, "lower": r.lower, "upper": r.upper,
                     "source": "observed", "n": r.n, "events": r.events,
                     "prior_sd_ratio": np.nan, "mostly_prior": False})
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    frame["ci_prob"] = CI_PROB
    frame["mostly_prior"] = frame["mostly_prior"].astype(bool)
    return frame


# ------------------------------------------------------------------ JSON layout
def to_dict(m: SurvivalModel) -> dict[str, Any]:
    """The ``--json`` layout."""
    d, post, prior = m.design_, m.idata_["posterior"], m.idata_["prior"]
    km = m.km_table()
    groups: dict[str, Any] = {}
    for g in d.groups:
        sub = km[(km["column"] == d.by) & (km["value"] == g)] if d.by != "none" else km.iloc[0:0]
        groups[g] = {
            "median_time": _s(post["median_time"].sel(group=g)),
            "survival_at": {_h(h): _s(post["survival"].sel(group=g, horizon=h))
                            for h in m.horizons_},
            "new_cohort": {
                "median_time": _s(post["median_time_new_cohort"].sel(group=g)),
                "survival_at": {_h(h): _s(post["survival_new_cohort"].sel(group=g, horizon=h))
                                for h in m.horizons_},
            },
            "prior_median_time": _s(prior["median_time"].sel(group=g)),
            "kaplan_meier": _km_row(sub.iloc[0]) if len(sub) else None,
        }
    effects = {}
    for c in d.contrast_labels:
        effects[c] = {"time_ratio": _s(post["time_ratio"].sel(contrast=c), ratio=True),
                      "hazard_ratio": _s(post["hazard_ratio"].sel(contrast=c), ratio=True)
                      if "hazard_ratio" in post else None}
    if m.fixed_shape is not None:
        shape: Any = {"fixed": float(m.fixed_shape)}
    elif d.shape_by_group:
        shape = {g: _s(post["shape"].sel(group=g)) for g in d.groups}
    else:
        shape = _s(post["shape"])
    sd = m.data_
    return {
        "model": "weibull",
        "name": m.label,
        "endpoint": m.endpoint,
        "by": d.by,
        "time_unit": m.time_unit_,
        "time_unit_source": m.time_unit_source,
        "parametrisation": "log median time (AFT); hazard_ratio = time_ratio ** (-shape)",
        "profile": {"fixed": dict(d.at), "averaged": [t.column for t in d.terms
                                                      if t.column not in d.at
                                                      and t.column != d.by]},
        "data": {
            "source": sd.source, "data_hash": sd.data_hash,
            "episodes": int(d.log_t.size), "patients": len(d.patient_labels),
            "events": int(d.event.sum()), "cohorts": list(d.cohorts),
            "episodes_per_cohort": {c: int((d.cohort_index == i).sum())
                                    for i, c in enumerate(d.cohorts)},
            "excluded": _records(sd.excluded),
            "cohorts_without_data": list(sd.cohorts_without_data),
        },
        "groups": groups,
        "shape": shape,
        "effects": effects,
        "cohort_sd": {"posterior": _s(post["sigma_cohort"]) if d.cohort_effect else None,
                      "prior": _exact(m.priors_["sigma_cohort"])},
        "cohort_time_ratios": {c: _s(np.exp(post["cohort_effect"].sel(cohort=c)), ratio=True)
                               for c in d.cohorts} if d.cohort_effect else {},
        "patient_dependence": {"kendall_tau": {"posterior": _s(post["kendall_tau"]),
                                               "prior": _exact(m.priors_["kendall_tau"])},
                               "patients_with_two_episodes": int(d.cluster_index.shape[0])}
        if d.frailty else None,
        "kaplan_meier": {"episodes": checks.profile_label(m),
                         **{col: {r.value: _km_row(r) for r in km[km["column"] == col]
                                  .itertuples(index=False)}
                            for col in km["column"].unique()}},
        "priors": {k: {"prior": str(v), "reason": v.reason} for k, v in m.priors_.items()
                   if _used(k, d, m.fixed_shape)},
        "diagnostics": m.diagnostics_.to_dict(),
        "notes": list(d.notes),
        "seed": m.seed_,
    }


def _km_row(r: Any) -> dict[str, float]:
    row = r.to_dict() if isinstance(r, pd.Series) else r._asdict()
    return {k: float(row[k]) for k in ("n", "events", "median", "lower", "upper")}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if df is None or df.empty:
        return []
    return [{k: (None if pd.isna(v) else (v if isinstance(v, str) else str(v)))
             for k, v in row.items()} for row in df.to_dict("records")]


def _used(name: str, d: Design | None, fixed_shape: float | None) -> bool:
    if d is None:
        return True
    return {"effect": d.n_terms > 0, "shape": fixed_shape is None,
            "kendall_tau": d.frailty}.get(name, True)


# ------------------------------------------------------------------ text
def prior_lines(priors: dict[str, Prior], d: Design | None, fixed_shape: float | None,
                unit: str = "months") -> str:
    """One line per prior: name, distribution and reason."""
    lines = ["Priors (months scale):" if unit == "months" else
             f"Priors (times in {unit}; log_median stated in months and shifted to {unit}):"]
    for name in _PARAMETER_ORDER:
        if name not in priors:
            continue
        p = priors[name]
        tag = "" if _used(name, d, fixed_shape) else " (not used by this fit)"
        lines.append(f"  {name:<13} {p!s:<32} {p.reason}{tag}")
    if fixed_shape is not None:
        lines.append(f"  shape fixed at {fixed_shape:g}"
                     + (" (exponential model)" if fixed_shape == 1 else ""))
    return "\n".join(lines)


def _ci(s: dict[str, float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(s['median'])} [{fmt.format(s['lower'])}, {fmt.format(s['upper'])}]"


def _km(r: dict[str, float] | None) -> str:
    if r is None or not np.isfinite(r["median"]):
        return "not reached" if r is not None else "-"
    lo = "-" if not np.isfinite(r["lower"]) else f"{r['lower']:.1f}"
    up = "NR" if not np.isfinite(r["upper"]) else f"{r['upper']:.1f}"
    return f"{r['median']:.1f} [{lo}, {up}]"


def model_card(m: SurvivalModel) -> str:
    """Readable description: data, model, priors, headline table, checks, diagnostics."""
    out = to_dict(m)
    d = m.design_
    ep = d.episodes
    n_switch = int((ep["strategy"] == "switch").sum()) if "strategy" in ep.columns else 0
    end = m.endpoint.upper()
    data = out["data"]
    lines = [f"Weibull survival model: {end} by {d.by}  [{m.label}]", "",
             f"Data: {data['episodes']} episodes ({n_switch} target-switched re-infusions) from "
             f"{data['patients']} patients in {len(d.cohorts)} cohort(s) "
             f"({', '.join(f'{c} {n}' for c, n in data['episodes_per_cohort'].items())}); "
             f"{data['events']} events, {data['episodes'] - data['events']} censored."]
    for r in data["excluded"]:
        lines.append(f"  Left out: {r.get('cohort')}/{r.get('patient_id')} "
                     f"({r.get('strategy', 'episode ' + str(r.get('episode')))}): {r['reason']}")
    for c in data["cohorts_without_data"]:
        lines.append(f"  Cohort {c} has no {end} data and does not inform this fit.")
    lines.append(f"  Small evidence: {data['events']} events in total; intervals are wide and "
                 "the priors matter (see prior_summary()).")
    terms = " + ".join(t.column for t in d.terms) or "no covariates"
    lines += ["", "Model: log median time = log_median + " + terms
              + (f" + cohort effect ({len(d.cohorts)} cohorts, "
                 f"{'centred' if d.cohort_centred else 'non-centred'})"
                 if d.cohort_effect else " (no cohort effect)") + ";",
              "  Weibull shape " + ("per group" if d.shape_by_group else
                                    "shared" if m.fixed_shape is None else
                                    f"fixed at {m.fixed_shape:g}")
              + "; hazard ratio = time ratio ** (-shape)."]
    if d.frailty:
        lines.append(f"  {d.cluster_index.shape[0]} patient(s) with two episodes share a "
                     "positive-stable frailty (each episode stays Weibull; Kendall's tau "
                     "measures their dependence).")
    averaged = out["profile"]["averaged"]
    fixed = ", ".join(f"{k} = {v}" for k, v in d.at.items())
    lines.append("  Groups: levels of '" + d.by + "'" + (f", at {fixed}" if fixed else "")
                 + (f"; {', '.join(averaged)} at the observed mix" if averaged else "")
                 + "; 'typical cohort' = cohort effect 0.")
    lines += [f"  Note: {n}" for n in d.notes]

    km_by = out["kaplan_meier"].get(d.by, {}) if d.by != "none" else {}
    hs = [_h(h) for h in m.horizons_]
    lines += ["", f"Median {end} ({m.time_unit_}) and survival, posterior median [95% CrI]:",
              f"  {'group':<16} {'median':<20} " + " ".join(f"{'S(' + h + ')':<19}" for h in hs)
              + " KM median [95% CI]"]
    for g, r in out["groups"].items():
        for label, block in ((g[:16], r), ("  new cohort", r["new_cohort"])):
            row = f"  {label:<16} {_ci(block['median_time']):<20} " + " ".join(
                f"{_ci(block['survival_at'][h], '{:.2f}'):<19}" for h in hs)
            lines.append((row + (" " + _km(km_by.get(g)) if block is r else "")).rstrip())
    if out["effects"]:
        lines += ["", "Effects: time ratio TR (>1 = longer) and hazard ratio HR, "
                      "posterior median [95% CrI]:"]
        for c, e in out["effects"].items():
            tr = e["time_ratio"]
            line = f"  {c:<24} TR {_ci(tr, '{:.2f}'):<20} P(TR>1) {tr['prob_gt']:.2f}"
            if e["hazard_ratio"] is not None:
                hr = e["hazard_ratio"]
                line += f"   HR {_ci(hr, '{:.2f}'):<20} P(HR>1) {hr['prob_gt']:.2f}"
            if UNKNOWN in c:
                line += "  (missing-value level)"
            lines.append(line)
    lines.append("")
    shape = out["shape"]
    if "fixed" in shape:
        lines.append(f"Shape fixed at {shape['fixed']:g}.")
    elif "mean" in shape:
        lines.append(f"Weibull shape {_ci(shape, '{:.2f}')}.")
    else:
        lines.append("Weibull shape: " + ", ".join(f"{g} {_ci(s, '{:.2f}')}"
                                                   for g, s in shape.items()))
    sd = out["cohort_sd"]
    if sd["posterior"] is not None:
        lines.append(f"Cohort SD (log scale) {_ci(sd['posterior'], '{:.2f}')}; prior "
                     f"{_ci(sd['prior'], '{:.2f}')}: with {len(d.cohorts)} cohorts the data "
                     "say little beyond the prior.")
    if out["patient_dependence"]:
        kt = out["patient_dependence"]["kendall_tau"]
        lines.append(f"Kendall's tau (same patient) {_ci(kt['posterior'], '{:.2f}')}; prior "
                     f"{_ci(kt['prior'], '{:.2f}')}.")
    lines += ["", f"Kaplan-Meier cross-check ({out['kaplan_meier']['episodes']}), "
                  "median [95% CI] (n, events):"]
    for col, block in out["kaplan_meier"].items():
        if col == "episodes":
            continue
        lines.append(f"  {col}: " + "; ".join(
            f"{v} {_km(r)} ({int(r['n'])}, {int(r['events'])})" for v, r in block.items()))
    lines += ["", prior_lines(m.priors_, d, m.fixed_shape, m.time_unit_), "",
              f"Diagnostics: {m.diagnostics_}"]
    return "\n".join(lines)


def methods_text(m: SurvivalModel) -> str:
    """One methods paragraph (used by the HTML report)."""
    d = m.design_
    terms = ", ".join(t.column for t in d.terms) or "no covariates"
    parts = [
        f"Times are in {m.time_unit_} ({m.time_unit_source}).",
        f"{m.endpoint.upper()} was modelled at episode level with a Weibull distribution and "
        "exact right censoring (log density for events, log survival for censored times). "
        f"The log median time depends on {terms}"
        + (" and a normal cohort random effect ("
           + ("centred" if d.cohort_centred else "non-centred")
           + f") over {len(d.cohorts)} cohorts"
           if d.cohort_effect else "") + "; a missing covariate value is its own level.",
        "The Weibull shape is " + ("estimated per reported group" if d.shape_by_group else
                                   "shared" if m.fixed_shape is None else
                                   f"fixed at {m.fixed_shape:g}")
        + "; time ratios are exp(coefficient) and hazard ratios time ratio^(-shape).",
    ]
    if d.frailty:
        parts.append(f"The {d.cluster_index.shape[0]} patients with a first infusion and a "
                     "target-switched re-infusion share a positive-stable frailty: each episode "
                     "is marginally Weibull and the dependence is measured by Kendall's tau.")
    fixed = ", ".join(f"{k} = {v}" for k, v in d.at.items())
    parts.append(f"Groups are the levels of {d.by}" + (f" at {fixed}" if fixed else "")
                 + ", other covariates at their observed mix; a new cohort adds a cohort "
                 "effect drawn from the between-cohort distribution.")
    if len(m.data_.excluded):
        parts.append(f"{len(m.data_.excluded)} episode(s) without a {m.endpoint.upper()} time "
                     "were left out.")
    return " ".join(parts)
