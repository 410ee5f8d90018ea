"""The model sections of the report: results, checks, prior sensitivity, diagnostics, methods.

Every number in the prose is formatted from the same summary tables that are printed, so
text and tables cannot disagree.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Container, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pclbayes import plots
from pclbayes.data import EvidenceBase, survival_table
from pclbayes.priors import Prior
from pclbayes.provenance import versions
from pclbayes.report import labels
from pclbayes.report.findings import annotate, by_of, endpoint_of, survival_episodes, title_of
from pclbayes.report.html import Page, esc, para, row, table
from pclbayes.specs import Spec, Variant, apply_variant

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pclbayes.report.builder import FitRecord


def pct(x: float) -> str:
    """Format a probability as a percentage (see :func:`pclbayes.report.labels.pct`)."""
    return labels.pct(x)


def _wrap(text: str, width: int = 75) -> str:
    """A figure title broken into lines of at most ``width`` characters."""
    return textwrap.fill(text, width)


def ci(row: pd.Series, fmt=pct) -> str:
    """``median (lower to upper)`` of a summary row."""
    return f"{fmt(row['median'])} (95% interval {fmt(row['lower'])} to {fmt(row['upper'])})"


def flags(fits: list[FitRecord], eb: EvidenceBase) -> list[str]:
    """Problems a reader must see first: failed convergence checks, cohorts without data.

    Only the fits the results rest on are flagged here; a sensitivity variant that fails
    its checks is listed in the diagnostics section (:func:`variant_flags`).
    """
    out = []
    for rec in fits:
        if rec.variant != "default":
            continue
        diag = getattr(rec.model, "diagnostics_", None)
        if diag is not None and not diag.ok:
            out.append(f"{title_of(rec)}: " + "; ".join(diag.messages))
    seen = set()
    for rec in fits:
        if rec.spec.family != "survival":
            continue
        endpoint = rec.spec.options.get("endpoint", "pfs")
        if endpoint in seen:
            continue
        seen.add(endpoint)
        tab = survival_table(eb, endpoint)
        short = labels.endpoint_short(endpoint)
        for cohort in tab.attrs.get("cohorts_without_data", []):
            out.append(f"cohort '{cohort}' has no {short} data and is left out of the "
                       f"{short} models")
    return out


def variant_flags(fits: Iterable[FitRecord]) -> list[str]:
    """Failed convergence checks of the sensitivity variants (shown under Diagnostics)."""
    out = []
    for rec in fits:
        diag = getattr(rec.model, "diagnostics_", None)
        if rec.variant != "default" and diag is not None and not diag.ok:
            out.append(f"{title_of(rec)}, variant {labels.variant(rec.variant)}: "
                       + "; ".join(diag.messages))
    return out


def _int(x: Any) -> Any:
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else round(x)


def _constant_columns(df: pd.DataFrame, cols: Iterable[str]
                      ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Drop those of ``cols`` that hold one value in every row; return them as ``{col: v}``."""
    same = {c: str(df[c].iloc[0]) for c in cols if c in df and len(df) and df[c].nunique() == 1}
    return df.drop(columns=list(same)), same


def diagnostics_section(page: Page, fits: list[FitRecord], eb: EvidenceBase, *,
                        quick: bool) -> None:
    """Convergence table per fit, software versions, seed and data hash."""
    parts = page.section("diagnostics", "Diagnostics and reproducibility")
    annotate(fits, eb)
    rows = []
    for rec in ordered(fits):
        d = rec.model.diagnostics_
        rows.append({
            "fit": title_of(rec), "priors": labels.variant(rec.variant),
            "method": getattr(rec.model, "method", rec.spec.options.get("method", "mcmc")),
            "sampler": rec.spec.sampler.sampler,
            "chains x draws": f"{d.chains} x {d.draws}" if d.chains else "exact",
            "max R-hat": labels.number(d.max_rhat, 3),
            "min bulk ESS": labels.count(_int(d.min_ess_bulk)),
            "min tail ESS": labels.count(_int(d.min_ess_tail)),
            "divergences": labels.count(d.divergences),
            "passed": "yes" if d.ok else "NO",
            "seconds": "" if rec.cached else labels.number(rec.seconds, 1),
            "fitted": "reused from the fit cache" if rec.cached else "in this run",
            "seed": str(rec.spec.seed),
        })
    parts.append(para("A fit passes when R-hat is at most 1.01, bulk and tail effective sample "
                      "sizes are at least 400 and there are no divergent transitions. Failed "
                      "fits the results rest on are also listed at the top of the report. A "
                      "reused fit comes from the fit cache of an earlier report with the same "
                      "specification, data, seed and software, so it is the fit this run would "
                      "have made."))
    failed = variant_flags(fits)
    if failed:
        items = "".join(f"<li>{esc(f)}</li>" for f in failed)
        parts.append(f'<div class="alert"><b>Sensitivity variants that failed the convergence '
                     f"checks</b> (their numbers in the sensitivity section are less reliable):"
                     f"<ul>{items}</ul></div>")
    diag, same = _constant_columns(pd.DataFrame(rows), ("method", "sampler", "fitted"))
    parts.append(table(diag, caption="Convergence diagnostics per fit"
                       + "".join(f"; {k}: {v}" for k, v in same.items()), wide=True))
    ver = pd.DataFrame(sorted(versions().items()), columns=["software", "version"])
    parts.append(table(ver, caption="Software versions"))
    parts.append(para(f"Data hash {eb.data_hash}. Each fit's netCDF file in the report's fits "
                      "folder records its specification, seed, data hash and versions; the "
                      "same seed and data give the same numbers."
                      + (" Quick mode was used." if quick else "")))


def _as_fitted(text: str, rec: FitRecord) -> str:
    """A model's description with its endpoint named as the data hold it.

    A specification written for PFS and fitted to generic ``time``/``event`` columns is
    described as a time to event.
    """
    declared = str(getattr(rec.model, "endpoint", "") or "")
    shown = endpoint_of(rec)
    if not declared or shown == declared:
        return text
    return re.sub(rf"\b{re.escape(declared.upper())}\b", labels.endpoint_short(shown), text)


def methods_section(page: Page, fits: list[FitRecord], *, quick: bool) -> None:
    """A methods paragraph per fit, generated from its specification and priors."""
    parts = page.section("methods", "Methods")
    shown: dict[str, str] = {}
    for rec in ordered(fits):
        spec = rec.spec
        s = spec.sampler
        desc = getattr(rec.model, "describe", None)
        text = desc() if callable(desc) else ""
        parts.append(f"<h3>{esc(title_of(rec))}</h3>")
        if text:
            parts.append(para(_as_fitted(labels.humanise(text), rec)))
        method = getattr(rec.model, "method", spec.options.get("method", "mcmc"))
        if method == "exact":
            parts.append(para("Posterior computed by deterministic numerical integration."))
        else:
            parts.append(para(
                f"Posterior sampled with the No-U-Turn sampler ({s.sampler}): {s.chains} chains, "
                f"{s.tune} tuning and {s.draws} retained draws each, target acceptance "
                f"{s.target_accept}, seed {spec.seed}." + (" (Quick mode.)" if quick else "")))
        priors = rec.model.prior_summary()
        if priors in shown:
            parts.append(para(f"Priors as for {shown[priors]}."))
        else:
            shown[priors] = title_of(rec)
            parts.append(f"<pre>{esc(priors)}</pre>")


# ---------------------------------------------------------------- prior sensitivity variants
def _prior(table_: Any) -> Prior:
    return Prior.parse(dict(table_) if isinstance(table_, Mapping) else table_)


def _changes(spec: Spec, variant: Variant) -> str:
    """What ``variant`` changes in ``spec``, as text.

    ``name ~ new (was old)`` for each prior and ``option = new (was old)`` for each option
    that differs from the specification's own; entries equal to its own are left out.
    """
    derived = apply_variant(spec, variant)
    out = []
    for name in variant.priors:
        new = _prior(derived.priors[name])
        old = _prior(spec.priors[name]) if name in spec.priors else None
        if new != old:
            out.append(f"{name} ~ {new} (was {'the default' if old is None else old})")
    for name in variant.options:
        new, old = derived.options[name], spec.options.get(name)
        if new != old:
            out.append(f"{name} = {new!r} (was {'the default' if old is None else repr(old)})")
    return "; ".join(out) or "nothing (the specification's own settings)"


def prior_variants_table(specs: Iterable[Spec], run: Container[str] | None = None
                         ) -> pd.DataFrame:
    """The "Prior variants" table: each specification's variants, what each changed, why.

    Parameters
    ----------
    specs : iterable of Spec
        The specifications as fitted (their own priors and options are the baseline).
    run : container of str, optional
        Names (``<spec>@<variant>``) of the variants that were fitted; others are left out.
        Default: every declared variant.
    """
    rows = [{"specification": spec.name, "variant": v.name, "changed": _changes(spec, v),
             "reason": v.reason}
            for spec in specs for v in spec.sensitivity
            if run is None or f"{spec.name}@{v.name}" in run]
    return pd.DataFrame(rows, columns=["specification", "variant", "changed", "reason"])


# ---------------------------------------------------------------- order of the results
#: The questions the results answer, in the order the report asks them.
QUESTIONS = ("response", "reinfusion", "pfs", "os", "survival", "planning")


def question(rec: FitRecord) -> str:
    """Which question a fit answers: response, re-infusion, PFS, OS or other survival."""
    if by_of(rec) == "strategy":
        return "reinfusion"
    if rec.spec.family == "response":
        return "response"
    endpoint = endpoint_of(rec)
    return endpoint if endpoint in ("pfs", "os") else "survival"


def _order_key(rec: FitRecord) -> tuple:
    endpoint_rank = {"orr": 0, "cr": 1, "pfs": 3, "os": 4}
    # the default model of every endpoint first, alternative models (logit-normal) after
    return (QUESTIONS.index(question(rec)), rec.spec.family != "response",
            str(rec.spec.options.get("model", "")) == "logit-normal",
            endpoint_rank.get(endpoint_of(rec), 2))


def ordered(fits: Iterable[FitRecord]) -> list[FitRecord]:
    """Fits in the order of the questions (stable within a question)."""
    return sorted(fits, key=_order_key)


def _question_heading(question_: str, recs: list[FitRecord]) -> str:
    """A section heading from the endpoints and groupings the fits of a question hold."""
    bys = sorted({by_of(r) for r in recs})
    by_text = f" by {labels.grouping(bys[0])}" if len(bys) == 1 and bys[0] != "none" else ""
    if question_ == "response":
        eps = list(dict.fromkeys(labels.endpoint_short(endpoint_of(r)) for r in ordered(recs)))
        return f"Response ({' and '.join(eps)}){by_text}"
    if question_ == "reinfusion":
        return "Re-infusion: first infusion vs target-switched re-infusion"
    endpoint = endpoint_of(recs[0])
    name = labels.endpoint_long(endpoint)
    return f"{name[0].upper()}{name[1:]}{by_text}"


def results_sections(page: Page, fits: list[FitRecord], eb: EvidenceBase) -> None:
    """The results, one section per question (response, re-infusion, PFS, OS)."""
    annotate(fits, eb)
    groups: dict[str, list[FitRecord]] = {}
    for rec in ordered(fits):
        groups.setdefault(question(rec), []).append(rec)
    if getattr(eb, "reinfusions", None) is not None and not eb.reinfusions.empty:
        groups.setdefault("reinfusion", [])
        groups = {q: groups[q] for q in QUESTIONS if q in groups}
    if not groups:
        page.section("results", "Results").append(para("No specification could be fitted."))
    for q, recs in groups.items():
        parts = page.section(q, _question_heading(q, recs))
        if q == "response":
            parts.append(para(_RESPONSE_INTRO))
        if q != "response" and any(r.spec.family == "survival" for r in recs) and \
                q != "reinfusion":
            parts.append(para(_SURVIVAL_INTRO))
        if q == "reinfusion":
            parts.append(para(
                "Target-switched re-infusions were given after relapse, to patients their "
                "physicians chose; they are compared with first infusions, not randomised "
                "against them. The models below put both in one hierarchical model (response: "
                "as for first infusions above; PFS: Weibull with censoring)."))
        if q == "reinfusion":
            _reinfusion_summary(parts, eb)
        for rec in recs:
            if rec.spec.family == "response":
                _response_fit(page, parts, rec)
            else:
                _survival_fit(page, parts, rec, eb)
    planning_section(page, fits)
    __import__("pclbayes.report.codata", fromlist=["codata_section"]).codata_section(page, eb)


def planning_section(page: Page, fits: list[FitRecord]) -> None:
    """What a new cohort should expect (the predictive numbers a trial is planned from).

    For the fit that answers each endpoint (not grouped by re-infusion strategy, default
    model): the new-cohort rate of each response endpoint and the new-cohort median of
    each survival endpoint, with the planning commands that turn them into priors.
    """
    from pclbayes.report.findings import endpoints_in_order, primary

    rows = []
    for endpoint in endpoints_in_order(fits):
        rec = primary(fits, endpoint)
        if rec is None:
            continue
        s = rec.model.summary()
        post = s[s.get("source", "posterior") == "posterior"]
        q = "predictive_rate" if rec.spec.family == "response" else "median_time_new_cohort"
        unit = labels.time_unit(rec.model)
        fmt = pct if rec.spec.family == "response" else (
            lambda v, unit=unit: labels.months(v, time_unit=unit))
        for _, r in post[post["quantity"] == q].iterrows():
            rows.append({"endpoint": labels.endpoint_long(endpoint),
                         "quantity": labels.quantity(q, endpoint),
                         "group": labels.level(r["level"]), "median": fmt(r["median"]),
                         "95% interval": f"{fmt(r['lower'])} to {fmt(r['upper'])}"})
    if not rows:
        return
    parts = page.section("planning", "Planning a new trial")
    parts.append(para(
        "A new cohort's rate or median adds the between-cohort spread to the pooled estimate: "
        "it is what a new single-arm trial should expect, and the starting point of a "
        "meta-analytic-predictive prior. The planning commands compute the prior, its "
        "effective sample size and the operating characteristics of decision rules: pclbayes "
        "plan map-prior, survival-prior, ess, oc, sample-size and monitor."))
    parts.append(table(pd.DataFrame(rows), caption="What a new cohort should expect: "
                       "posterior-predictive median and 95% interval"))


def _reinfusion_summary(parts: list[str], eb: EvidenceBase) -> None:
    """Re-infusion described on its own time scale (:mod:`pclbayes.survival.reinfusion`)."""
    if getattr(eb, "reinfusions", None) is None or eb.reinfusions.empty:
        return
    from pclbayes.survival.reinfusion import reinfusion_summary

    summary = reinfusion_summary(eb, time_unit=eb.time_unit)
    parts.append("<h3>Re-infusion on its own time scale (descriptive)</h3>")
    parts.append(para(summary.text))
    paired = summary.paired
    if not paired.empty:
        def ratio(v: Any, bound: str) -> str:
            return (">= " if bound == "at least" else "") + labels.number(v)

        parts.append(table(pd.DataFrame({
            "patient": [f"{c} {p}" for c, p in zip(paired["cohort"], paired["patient_id"],
                                                   strict=True)],
            "first target": paired["first_target"].astype(str),
            "re-infusion target": paired["reinfusion_target"].astype(str),
            f"PFS after first infusion ({eb.time_unit})": [
                labels.months(t, unit=False) + ("" if e == 1 else "+")
                for t, e in zip(paired["pfs1_months"], paired["pfs1_event"], strict=True)],
            f"PFS after re-infusion ({eb.time_unit})": [
                labels.months(t, unit=False) + ("" if e == 1 else "+")
                for t, e in zip(paired["pfs2_months"], paired["pfs2_event"], strict=True)],
            "ratio (re-infusion / first)": [ratio(v, b) for v, b in zip(
                paired["pfs2_pfs1_ratio"], paired["ratio_bound"], strict=True)],
        }), caption="Each re-infused patient's two lines: PFS from each infusion (+ censored)"))


# ---------------------------------------------------------------- response
_RESPONSE_INTRO = (
    "Each cohort (or cohort x group) is one unit of a hierarchical model: its response rate "
    "is drawn from a population distribution per group, so small cohorts borrow strength "
    "from the others. 'Pooled' is the population mean rate of a group; 'new cohort' is the "
    "rate a new cohort of that group should expect (it adds the between-cohort spread).")


def _endpoint_name(endpoint: str) -> str:
    return labels.endpoint_long(endpoint)


def _rows(summary: pd.DataFrame, quantity: str) -> pd.DataFrame:
    return summary[summary["quantity"] == quantity]


def _pp(x: float) -> str:
    """A difference of rates in percentage points."""
    return f"{100 * x:+.0f}"


def _response_text(model, summary: pd.DataFrame, endpoint: str | None = None) -> str:
    name = _endpoint_name(endpoint or model.endpoint)
    bits = []
    for _, r in _rows(summary, "pooled_rate").iterrows():
        pred = _rows(summary, "predictive_rate").set_index("level").loc[r["level"]]
        who = labels.level(r["level"])
        bits.append(f"{'Over all cohorts' if who == 'all' else 'For ' + who}, the pooled rate "
                    f"of {name} is {ci(r)}; a new cohort should expect {ci(pred)}.")
    for _, r in _rows(summary, "contrast").iterrows():
        bits.append(f"The difference {labels.level(r['level'])} is {_pp(r['median'])} "
                    f"percentage points (95% interval {_pp(r['lower'])} to {_pp(r['upper'])}); "
                    f"the probability that it is above zero is {pct(r['prob_gt'])}.")
    for _, r in _rows(summary, "between_cohort_sd").iterrows():
        bits.append(f"Between-cohort SD of the rate ({labels.level(r['level'])}): "
                    f"{r['median']:.2f} ({r['lower']:.2f} to {r['upper']:.2f}).")
    counts = getattr(model, "counts_", None)
    if counts is not None:
        n, k = int(np.sum(counts.n)), len(set(counts.cohorts))
        bits.append(f"These estimates rest on {n} patients in {k} cohort"
                    f"{'s' if k != 1 else ''} ({int(np.sum(counts.r))} responders).")
    return " ".join(bits)


def _fmt_table(df: pd.DataFrame, cols: list[str], rename: dict | None = None) -> pd.DataFrame:
    out = df[[c for c in cols if c in df.columns]].copy()
    return out.rename(columns=rename or {})


def _prior_mark(df: pd.DataFrame, model: Any = None, fmts: Any = None) -> list[str]:
    """``yes`` for rows marked mostly prior, with the prior of the same number.

    With ``model``, a marked row reads ``yes: prior 50% (2% to 98%)``: the median and 95%
    interval of the quantity under the prior (:func:`pclbayes.report.findings.prior_text`),
    formatted by ``fmts`` (one formatter, or one per row).
    """
    from pclbayes.report.findings import prior_text

    if "mostly_prior" not in df:
        return [""] * len(df)
    fmts = fmts if isinstance(fmts, list) else [fmts or labels.number] * len(df)
    out = []
    for (_, r), fmt in zip(df.iterrows(), fmts, strict=True):
        v = r["mostly_prior"]
        if not (pd.notna(v) and bool(v)):
            out.append("")
            continue
        shown = prior_text(model, str(r["quantity"]), r["level"], fmt) if model else ""
        out.append(f"yes: {shown}" if shown else "yes")
    return out


def _estimates(df: pd.DataFrame, fmt, endpoint: str | None = None,
               level_name: str = "group", model: Any = None) -> pd.DataFrame:
    """quantity, group, estimate, 95% interval (and 'mostly prior' when reported)."""
    out = pd.DataFrame({
        "quantity": [labels.quantity(q, endpoint) for q in df["quantity"]],
        level_name: [labels.level(v) for v in df["level"]],
        "estimate": [fmt(v) for v in df["median"]],
        "95% interval": [f"{fmt(lo)} to {fmt(hi)}" for lo, hi in zip(df["lower"], df["upper"],
                                                                     strict=True)],
    })
    if "mostly_prior" in df and any(_prior_mark(df)):
        out["mostly prior"] = _prior_mark(df, model, fmt)
    return out


def _response_fit(page: Page, parts: list[str], rec: FitRecord) -> None:
    """Headline table, prose, cohorts, contrasts, forest plot and heterogeneity of one fit."""
    m, s = rec.model, rec.model.summary()
    title = title_of(rec)
    parts.append(f"<h3>{esc(title)}</h3>")
    parts.append(para(_response_text(m, s, endpoint_of(rec))))
    head = s[s["quantity"].isin(["pooled_rate", "predictive_rate"])]
    head_html = table(_estimates(head, pct, model=m),
                      caption="Population-mean (pooled) and new-cohort (predictive) rates: "
                      "posterior median and 95% interval")
    coh = _rows(s, "cohort_rate")
    parts.append(row(head_html, table(pd.DataFrame({
        "cohort": [labels.level(v) for v in coh["level"]],
        "patients": [labels.count(v) for v in coh["n"]],
        "responders": [labels.count(v) for v in coh["responders"]],
        "raw rate": [pct(v) for v in coh["observed"]],
        "shrunken": [pct(v) for v in coh["median"]],
        "95% interval": [f"{pct(lo)} to {pct(hi)}" for lo, hi in zip(coh["lower"], coh["upper"],
                                                                     strict=True)],
    }), caption="Cohorts: raw rate next to the shrunken estimate")))
    con = _rows(s, "contrast")
    if not con.empty:
        con_view = pd.DataFrame({
            "contrast": [labels.level(v) for v in con["level"]],
            "difference (percentage points)": [_pp(v) for v in con["median"]],
            "95% interval": [f"{_pp(lo)} to {_pp(hi)}" for lo, hi in zip(con["lower"],
                                                                        con["upper"],
                                                                        strict=True)],
            "P(> 0)": [pct(v) for v in con["prob_gt"]],
        })
        if any(_prior_mark(con)):
            con_view["mostly prior"] = _prior_mark(con, m, _pp)
        parts.append(table(con_view, caption="Contrasts of pooled rates"))
    name = labels.endpoint_long(endpoint_of(rec))
    figs = [page.figure(
        lambda: plots.forest(s, title=_wrap(title),
                             xlabel=f"rate of {name} (proportion of patients)",
                             level_label=labels.level),
        f"forest_{rec.spec.name}",
        f"{title}. Open circles: raw cohort rates with exact 95% intervals; filled "
        "circles: shrunken cohort estimates; diamonds: pooled (population-mean) rate; "
        "squares: the rate a new cohort should expect. Bars are 95% intervals. Estimates "
        "pulled towards the pooled value show how much each small cohort borrows.")]
    het = "kappa" if "kappa" in m.idata_["posterior"] else "sigma"
    if het in m.idata_["posterior"] and het in getattr(m, "priors_", {}):
        label = ("concentration kappa (no unit; higher = more alike cohorts)" if het == "kappa"
                 else "between-cohort SD tau of the log-odds (log-odds units)")
        k = len(set(getattr(getattr(m, "counts_", None), "cohorts", ()) or ())) or "the"
        figs.append(page.figure(
            lambda: plots.prior_posterior(m.idata_["posterior"][het].values, m.priors_[het],
                                          label=label,
                                          title=_wrap(f"Heterogeneity: {title}", 60)),
            f"heterogeneity_{rec.spec.name}",
            f"Posterior of the heterogeneity parameter ({het}) against its prior. Where the "
            f"histogram follows the prior curve, {k} small cohorts say little about "
            "between-cohort spread and the prior carries the result.", svg=False, small=True))
    parts.append(row(*figs))


def response_sections(page: Page, fits: list[FitRecord]) -> None:
    """Every response fit in one section (:func:`results_sections` orders by question)."""
    parts = page.section("response", "Response")
    if not fits:
        parts.append(para("No response specifications were run."))
        return
    parts.append(para(_RESPONSE_INTRO))
    for rec in ordered(fits):
        _response_fit(page, parts, rec)


# ---------------------------------------------------------------- survival
_SURVIVAL_INTRO = (
    "Weibull models with exact right censoring. Medians and landmark probabilities are for "
    "a typical cohort; 'new cohort' adds the between-cohort spread. A median beyond the "
    "follow-up is shown as 'not reached'. Kaplan-Meier curves of the data are shown for "
    "comparison; they are not the model.")


def _free(endpoint: str) -> str:
    return {"os": "alive", "pfs": "progression-free"}.get(endpoint, "event-free")


def _survival_text(model, summary: pd.DataFrame, endpoint: str | None = None) -> str:
    post = summary[summary.get("source", "posterior") == "posterior"]
    endpoint = endpoint or model.endpoint
    name = labels.endpoint_short(endpoint)
    free = _free(endpoint)
    unit = labels.time_unit(model)
    horizons = [f"{h:g}" for h in getattr(model, "horizons_", (6.0, 12.0))]
    bits = []
    for _, r in post[post["quantity"] == "median_time"].iterrows():
        text = (f"{labels.level(r['level'])}: median {name} "
                f"{ci(r, lambda v: labels.months(v, time_unit=unit))}")
        at = [(h, post[(post.quantity == f"survival_at_{h}") & (post.level == r["level"])])
              for h in horizons]
        at = [(h, rows) for h, rows in at if not rows.empty]
        if at:
            text += f"; {free} " + ", ".join(f"at {h} {unit} {ci(rows.iloc[0])}"
                                              for h, rows in at)
        bits.append(text + ".")
    hrs = post[post["quantity"] == "hazard_ratio"]
    for _, r in hrs.iterrows():
        bits.append(f"Hazard ratio {labels.level(r['level'])}: {r['median']:.2f} "
                    f"({r['lower']:.2f} to {r['upper']:.2f}), P(HR > 1) = {pct(r['prob_gt'])}.")
    pooled = [labels.level(v) for v in hrs["level"] if _pools_reinfusions(model, str(v))]
    if pooled:
        bits.append(f"The contrasts {', '.join(pooled)} of this fit pool first infusions with "
                    "target-switched re-infusions under additive effects, which treats a "
                    "re-infusion as a crossover without carry-over although the switch "
                    "follows antigen escape: read the first-infusion fit for them.")
    return " ".join(bits)


def _pools_reinfusions(model: Any, contrast: str) -> bool:
    """A contrast other than the strategy's, in a fit whose episodes include re-infusions."""
    design = getattr(model, "design_", None)
    eps = getattr(design, "episodes", None)
    if eps is None or "strategy" not in eps or not (eps["strategy"] == "switch").any():
        return False
    levels = set(eps["strategy"].astype(str))
    return not any(level in contrast for level in levels)


def _survival_data(model) -> pd.DataFrame:
    df = survival_episodes(model)
    if getattr(model, "by", None) != "strategy" and df["episode"].str.count("/").min() >= 2:
        df = df[df["episode"].str.endswith("/1")]
    return df


def _survival_estimates(df: pd.DataFrame, endpoint: str, time_unit: str = "months",
                        model: Any = None) -> pd.DataFrame:
    fmt = [(lambda v: labels.months(v, unit=False)) if q.startswith("median") else pct
           for q in df["quantity"]]
    out = pd.DataFrame({
        "quantity": [labels.quantity(q, endpoint, time_unit) for q in df["quantity"]],
        "group": [labels.level(v) for v in df["level"]],
        "estimate": [f(v) for f, v in zip(fmt, df["median"], strict=True)],
        "95% interval": [f"{f(lo)} to {f(hi)}" for f, lo, hi in zip(fmt, df["lower"],
                                                                    df["upper"], strict=True)],
    })
    if "mostly_prior" in df and any(_prior_mark(df)):
        out["mostly prior"] = _prior_mark(df, model, fmt)
    return out


def _km_table(km: pd.DataFrame, time_unit: str = "months") -> pd.DataFrame:
    def m(v):
        return labels.months(v, unit=False)

    out = pd.DataFrame({
        "grouping": [labels.grouping(str(c)) for c in km["column"]],
        "group": [labels.level(v) for v in km["value"]],
        "n": [labels.count(v) for v in km["n"]],
        "events": [labels.count(v) for v in km["events"]],
        f"median ({time_unit})": [m(v) for v in km["median"]],
        f"95% CI ({time_unit})": ["not estimable" if not np.isfinite(lo) else f"{m(lo)} to {m(hi)}"
                            for lo, hi in zip(km["lower"], km["upper"], strict=True)],
    })
    if "episodes" in km:
        out["episodes"] = [labels.humanise(str(v)) for v in km["episodes"]]
    return out


def _survival_fit(page: Page, parts: list[str], rec: FitRecord, eb: EvidenceBase) -> None:
    """Prose, estimates, effects, Kaplan-Meier cross-check and figure of one survival fit."""
    m, s = rec.model, rec.model.summary()
    ep = endpoint_of(rec)
    endpoint = labels.endpoint_short(ep)
    unit = labels.time_unit(m)
    horizons = " and ".join(f"{h:g}" for h in getattr(m, "horizons_", (6.0, 12.0)))
    title = title_of(rec)
    parts.append(f"<h3>{esc(title)}</h3>")
    tab = survival_table(eb, m.endpoint)
    excluded = tab.attrs.get("excluded")
    if excluded is not None and not excluded.empty:
        who = ", ".join(f"{c}/{p}" for c, p in zip(excluded.cohort, excluded.patient_id,
                                                   strict=True))
        parts.append(f'<div class="note">{len(excluded)} episode(s) have no {endpoint} data '
                     f"and are not in this model: {esc(who)}.</div>")
    parts.append(para(_survival_text(m, s, endpoint_of(rec))))
    post = s[s.get("source", "posterior") == "posterior"]
    groups = post[post["quantity"].str.startswith(("median_time", "survival_at"))]
    est_html = table(_survival_estimates(groups, ep, unit, m),
                     caption=f"Median {endpoint} ({unit}) and probability "
                     f"{_free(ep)} at {horizons} {unit}: posterior median and 95% "
                     "interval")
    eff = post[post["quantity"].isin(["time_ratio", "hazard_ratio"])]
    eff_html = ""
    if not eff.empty:
        eff_view = pd.DataFrame({
            "quantity": [labels.quantity(q) for q in eff["quantity"]],
            "contrast": [labels.level(v) for v in eff["level"]],
            "estimate": [labels.number(v) for v in eff["median"]],
            "95% interval": [f"{labels.number(lo)} to {labels.number(hi)}"
                             for lo, hi in zip(eff["lower"], eff["upper"], strict=True)],
            "P(> 1)": [pct(v) for v in eff["prob_gt"]],
        })
        if any(_prior_mark(eff)):
            eff_view["mostly prior"] = _prior_mark(eff, m, labels.number)
        eff_html = table(eff_view, caption="Effects: time ratio (> 1 = longer) and hazard "
                         "ratio (> 1 = higher hazard)")
    parts.append(row(est_html, eff_html) if eff_html else est_html)
    km_html = table(_km_table(m.km_table(), unit), caption="Kaplan-Meier cross-check "
                    f"(lifelines): median and 95% confidence interval, {unit}")

    def km_figure() -> Figure:  # its tables only feed the figure
        curves = m.survival_curves()
        curves = curves[curves["source"] == "posterior"] if "source" in curves else curves
        return plots.km_bands(_survival_data(m), curves, group_col="group", title=_wrap(title),
                              time_label=f"{unit} since infusion",
                              survival_label=f"probability {_free(ep)}",
                              level_label=labels.level)

    parts.append(row(km_html, page.figure(
        km_figure,
        f"km_{rec.spec.name}",
        f"{endpoint} by {labels.grouping(m.by)}: step lines are Kaplan-Meier estimates of the "
        "data (ticks mark censored episodes); dashed lines and shaded bands are the model's "
        "posterior median and 95% band of S(t) for a typical cohort; the numbers at risk are "
        "printed under the plot. A band that covers the steps means the model reproduces the "
        "data.")))


def survival_sections(page: Page, fits: list[FitRecord], eb: EvidenceBase) -> None:
    """Every survival fit in one section (:func:`results_sections` orders by question)."""
    parts = page.section("survival", "Survival")
    if not fits:
        parts.append(para("No survival specifications were run."))
        return
    parts.append(para(_SURVIVAL_INTRO))
    for rec in ordered(fits):
        _survival_fit(page, parts, rec, eb)


# ---------------------------------------------------------------- first screen
def page_title(eb: EvidenceBase) -> str:
    """The page title: the bundled evidence base by its subject, other data by their file."""
    from pclbayes._paths import BUNDLED_DATA

    if Path(eb.source).resolve() == Path(BUNDLED_DATA).resolve():
        return "pclbayes report: CAR T-cell therapy in plasma cell leukemia"
    return f"pclbayes report: {Path(eb.source).name}"


def summary_box(page: Page, fits: list[FitRecord], eb: EvidenceBase) -> None:
    """Key findings and limitations, placed right below the page title."""
    from pclbayes.report import findings

    page.lead.append(findings.key_findings_html(findings.findings(ordered(fits), eb)))
    page.lead.append(findings.limitations_html(findings.limitations(fits, eb)))


# ---------------------------------------------------------------- checks
def _loo_row(name: str, model) -> dict:
    res = model.loo()
    k = np.asarray(getattr(res, "pareto_k", np.array([np.nan])), dtype=float).ravel()
    return {"fit": name, "elpd_loo": float(res.elpd), "se": float(res.se),
            "p_loo": float(res.p), "observations": int(k.size),
            "max Pareto k": float(np.nanmax(k)), "k > 0.7": int(np.sum(k > 0.7)),
            "warning": "yes" if getattr(res, "warning", False) else ""}


def precompute(model) -> None:
    """Compute the tables the sections read from a fit (kept with the fit, see ``per_fit``).

    Run where the fit was made (a worker process), so the report only draws.
    """
    model.summary()
    model.to_dict()
    model.ppc_table()
    model.loo()
    if hasattr(model, "km_table"):
        model.km_table()
        model.survival_curves()


def _ppc_view(ppc: pd.DataFrame) -> pd.DataFrame:
    """The posterior-predictive table in words.

    The cohort label names its group already, and a statistic that is the same for every
    row is named in the caption instead of a column.
    """
    out = ppc.copy()
    if "group" in out and all(str(g) in str(c) for c, g in zip(out["cohort"], out["group"],
                                                                strict=True)):
        out = out.drop(columns="group")
    if "statistic" in out and out["statistic"].nunique() == 1:
        out = out.drop(columns="statistic")
    out["cohort"] = [labels.level(v) for v in out["cohort"]]
    if "group" in out:
        out["group"] = [labels.level(v) for v in out["group"]]
    for col in ("n", "observed", "lower", "upper"):
        # counts and the quantiles of replicated counts are whole numbers
        if col in out and _whole(out[col]):
            out[col] = [labels.count(v) for v in out[col]]
    out = out.rename(columns={c: labels.column(c) for c in out.columns})
    return out


def _whole(values: pd.Series) -> bool:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool(np.all(v == np.round(v)))


#: The checks of ``check_table()`` in words, and what each compares.
CHECK_WORDS = {
    "loo_predictive": "leave-one-cohort-out: predicted from the other cohorts",
    "prior_conflict": "prior-data conflict: predicted from the prior alone",
    "dispersion": "between-cohort spread (posterior predictive)",
    "dispersion_prior": "between-cohort spread (prior predictive)",
}
_STATISTIC_WORDS = {"chi_square": "Pearson X² of the cohort rates",
                    "responders": "responders", "events": "events"}


def _check_overview(title: str, checks: pd.DataFrame) -> list[dict]:
    """One row per fit: per check, rows flagged and the smallest p-value (which cohort)."""
    row_: dict[str, str] = {"fit": title}
    for check, g in checks.groupby("check", sort=False):
        p = pd.to_numeric(g["p_value"], errors="coerce")
        at = g.loc[p.idxmin()] if p.notna().any() else None
        smallest = "no p-value" if at is None else (
            f"smallest p {labels.number(at['p_value'])}"
            + (f" ({labels.level(at['cohort'])})" if len(g) > 1 else ""))
        row_[_CHECK_SHORT.get(str(check), labels.humanise(str(check)))] = \
            f"{int(g['flag'].sum())} of {len(g)} flagged; {smallest}"
    return [row_]


#: Column headings of the checks overview.
_CHECK_SHORT = {"loo_predictive": "leave-one-cohort-out", "prior_conflict": "prior-data conflict",
                "dispersion": "between-cohort spread", "dispersion_prior": "spread vs prior"}


def _check_view(checks: pd.DataFrame, n_label: str = "patients") -> pd.DataFrame:
    """The checks that can fail (``check_table()``) in words, integers as integers."""
    def fmt(v: Any, stat: str) -> str:
        whole = pd.notna(v) and np.isfinite(float(v)) and float(v).is_integer()
        return labels.count(v) if stat != "chi_square" and whole else labels.number(v)

    return pd.DataFrame({
        "cohort": [labels.level(v) for v in checks["cohort"]],
        n_label: [labels.count(v) for v in checks["n"]],
        "check": [CHECK_WORDS.get(str(c), labels.humanise(str(c))) for c in checks["check"]],
        "statistic": [_STATISTIC_WORDS.get(str(v), labels.humanise(str(v)))
                      for v in checks["statistic"]],
        "observed": [fmt(v, st) for v, st in zip(checks["observed"], checks["statistic"],
                                                 strict=True)],
        "expected (95% interval)": [
            f"{labels.number(e)} ({fmt(lo, st)} to {fmt(hi, st)})"
            for e, lo, hi, st in zip(checks["expected"], checks["lower"], checks["upper"],
                                     checks["statistic"], strict=True)],
        "p-value": ["not computed" if pd.isna(p) else labels.number(p)
                    for p in checks["p_value"]],
        "flagged": ["yes" if bool(f) else "" for f in checks["flag"]],
    })


def _label_censored_axes(fig, endpoint: str, time_unit: str = "months") -> None:
    """Units on every axis of ArviZ's censored-data check (it leaves them bare)."""
    for ax in fig.axes:
        if not ax.get_visible() or not ax.has_data():
            continue
        ax.set_xlabel(f"{time_unit} since infusion")
        ax.set_ylabel(f"probability {_free(endpoint)}")


#: Replicated survival curves drawn in the censored-data check.
PPC_CURVES = 100


def _every_kth_draw(tree: Any, curves: int = PPC_CURVES) -> Any:
    """The fit's draws thinned to about ``curves``: every k-th draw of each chain.

    ArviZ's censored-data check otherwise draws its subset of replicated curves at random
    (fresh entropy on every call), so the same fit would give another figure each time.
    """
    import math

    post = tree["posterior_predictive"]
    total = post.sizes["chain"] * post.sizes["draw"]
    return tree.isel(draw=slice(0, None, max(1, math.ceil(total / curves))),
                     missing_dims="ignore")


def _censored_check(rec: FitRecord, title: str) -> Figure:
    """ArviZ's censored-data predictive check of one survival fit, labelled."""
    import arviz_plots as azp

    pc = azp.plot_ppc_censored(_every_kth_draw(rec.model.idata_), num_samples=None,
                               backend="matplotlib")
    fig = pc.viz["figure"].item()
    _label_censored_axes(fig, endpoint_of(rec), labels.time_unit(rec.model))
    fig.suptitle(_wrap(f"Censored-data check: {title}", 60), fontsize=10)
    return fig


def checks_section(page: Page, fits: list[FitRecord]) -> None:
    """Posterior-predictive checks and PSIS-LOO for every fit; model comparison."""
    parts = page.section("checks", "How well the models reproduce the data")
    parts.append(para(
        "Posterior-predictive checks replicate each cohort's data from the fitted model. "
        "Because every cohort helped to fit the model, its own replicates are centred on it: "
        "two-sided p-values near 1 (as here) are expected and say little, and this check "
        "can hardly fail. The checks that can fail follow the fits (Checks that can fail): "
        "each cohort predicted from the other cohorts (leave-one-cohort-out, exact refits where "
        "the engine allows, otherwise importance-weighted), each cohort predicted from the "
        "prior alone (prior-data conflict), and the spread between cohorts against its "
        "predictive distribution; a p-value below 0.05 flags the row (about one row in "
        "twenty is flagged by chance under a correct model). PSIS-LOO estimates "
        "out-of-sample predictive accuracy; Pareto k above 0.7 marks observations whose "
        "removal changes the fit a lot, common when each observation is a whole cohort."))
    loo_rows: list[dict] = []
    overview: list[dict] = []
    detail: list[str] = []
    for rec in ordered(fits):
        m = rec.model
        title = title_of(rec)
        parts.append(f"<h3>{esc(title)}</h3>")
        ppc = m.ppc_table()
        stat = (f" of {ppc['statistic'].iloc[0]}" if "statistic" in ppc
                and ppc["statistic"].nunique() == 1 else "")
        ppc_html = table(_ppc_view(ppc), caption="Observed vs posterior-predictive counts"
                         f"{stat} per cohort")
        if rec.spec.family == "response":
            fig = partial(plots.ppc_counts, ppc, observed="observed", mean="predicted_mean",
                          lower="lower", upper="upper", label="responders (patients)",
                          title=_wrap(f"Posterior-predictive check: {title}", 60),
                          level_label=labels.level)
            what = "responders"
        else:
            fig = partial(_censored_check, rec, title)
            what = "survival curves"
        cap = ("Red crosses: observed responders per cohort; blue bars: 95% interval of "
               "responders replicated from the posterior predictive; dots: predictive mean "
               "(on screen only: the table holds the same numbers)."
               if what == "responders" else
               "Kaplan-Meier curve of the observed (censored) times against Kaplan-Meier curves "
               "of uncensored times drawn from the posterior predictive: the observed curve "
               "should lie within the cloud of replicated curves.")
        parts.append(row(ppc_html, page.figure(
            fig, f"ppc_{rec.spec.name}", cap, svg=False, small=True,
            screen_only=rec.spec.family == "response")))
        checks = m.check_table() if hasattr(m, "check_table") else pd.DataFrame()
        if not checks.empty:
            overview.extend(_check_overview(title, checks))
            flagged = int(checks["flag"].sum())
            n_label = "patients" if rec.spec.family == "response" else "episodes"
            detail.append(table(_check_view(checks, n_label), caption=(
                f"{title}: "
                + (f"{flagged} of {len(checks)} rows flagged (p < 0.05)" if flagged
                   else f"none of {len(checks)} rows flagged (p < 0.05)")
                + "; mid-p values, two-sided for counts, upper tail for the spread")))
        try:
            loo_rows.append(_loo_row(title, m))
        except (AttributeError, ValueError, TypeError) as exc:
            loo_rows.append({"fit": title, "warning": f"LOO not available: {exc}"})
    if overview:
        parts.append("<h3>Checks that can fail</h3>")
        parts.append(table(pd.DataFrame(overview).fillna(""), caption="Per fit and check: "
                           "rows flagged (p < 0.05) and the smallest p-value, with its cohort",
                           wide=True))
        parts.append(f"<details><summary>Every cohort's checks, fit by fit (click to show; "
                     f"printed only when shown)</summary>{''.join(detail)}</details>")
    parts.append("<h3>Leave-one-out cross-validation (PSIS-LOO)</h3>")
    loo = pd.DataFrame(loo_rows).rename(columns={"elpd_loo": "elpd (LOO)", "se": "SE",
                                                 "p_loo": "effective parameters"})
    parts.append(table(loo, caption="PSIS-LOO per fit (ArviZ)", digits=2))
    parts.append(_comparison(fits))


#: Columns of the model-comparison table (ArviZ ``compare`` names), in this order.
COMPARISON_COLUMNS = ("model", "rank", "elpd", "p", "elpd_diff", "weight", "se", "dse")


def comparison_table(loos: Mapping[str, Any]) -> pd.DataFrame:
    r"""ArviZ ``compare`` of PSIS-LOO results, with unrounded numbers.

    Parameters
    ----------
    loos : mapping of str to ELPDData
        Pointwise PSIS-LOO results by model name: the results the PSIS-LOO table prints
        (``model.loo()``), so both tables show the same elpd. ``elpd_diff`` is
        :math:`\widehat{\mathrm{elpd}}_m - \widehat{\mathrm{elpd}}_{\mathrm{best}}` and
        ``dse`` its standard error from the pointwise differences.

    Returns
    -------
    DataFrame
        One row per model, best first, columns :data:`COMPARISON_COLUMNS`. Rounding is
        left to the page (ArviZ's own display rounding would print, e.g., -3 for -2.70).
    """
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = az.compare(dict(loos), round_to="none")
    cmp = cmp.rename_axis("model").reset_index()
    return cmp[[c for c in COMPARISON_COLUMNS if c in cmp]]


def _comparison(fits: list[FitRecord]) -> str:
    """Compare response fits that differ only in the model (beta-binomial vs logit-normal)."""
    out = []
    keys: dict[tuple[str, str], list[FitRecord]] = {}
    for r in fits:
        if r.spec.family == "response":
            keys.setdefault((r.model.endpoint, r.model.by), []).append(r)
    for (endpoint, by), recs in keys.items():
        try:
            loos = {r.spec.options.get("model", "beta-binomial"): r.model.loo() for r in recs}
        except (AttributeError, ValueError, TypeError):
            continue  # the PSIS-LOO table above says "LOO not available"
        if len(loos) < 2:
            continue
        cmp = comparison_table(loos).rename(columns={
            "elpd_diff": "elpd difference", "dse": "SE of difference",
            "p": "effective parameters"})
        by_text = f" by {labels.grouping(by)}" if by != "none" else ""
        out.append(table(cmp,
                         caption=f"Model comparison for {_endpoint_name(endpoint)}{by_text} "
                         "(PSIS-LOO; higher elpd predicts better; dse is the standard error of "
                         "the difference)", digits=2))
        k = len(next(iter(loos.values())).pareto_k) if hasattr(
            next(iter(loos.values())), "pareto_k") else "a few"
        out.append(para(f"With {k} cohort-level observations the difference is "
                        "rarely larger than its standard error: the comparison cannot pick a "
                        "model, so both are shown and the beta-binomial is the default."))
    return "".join(out) or para("No pair of alternative response models to compare.")


# ---------------------------------------------------------------- sensitivity
def _one_row_per_variant(view: pd.DataFrame) -> pd.DataFrame:
    """Variants that change the same prior the same way for the same reason, listed once.

    Their specifications are joined in the first column, in the order they came.
    """
    keys = [c for c in view.columns if c != "specification"]
    out = (view.groupby(keys, sort=False, dropna=False)["specification"]
           .agg(lambda names: "; ".join(dict.fromkeys(names))).reset_index())
    return out[["specification", *keys]]


def _headline(rec: FitRecord) -> pd.DataFrame:
    s = rec.model.summary()
    if rec.spec.family == "response":
        sel = s[s["quantity"].isin(["pooled_rate", "predictive_rate"])]
    else:
        post = s[s.get("source", "posterior") == "posterior"]
        sel = post[post["quantity"].isin(["median_time", "hazard_ratio"])]
    out = sel[["quantity", "level", "median", "lower", "upper"]].copy()
    out.insert(0, "variant", rec.variant)
    out.insert(0, "fit", rec.spec.name.split("@", 1)[0])
    return out


def _headline_view(tab: pd.DataFrame, family: str, endpoint: str,
                   time_unit: str = "months") -> pd.DataFrame:
    """The headline numbers in words and units.

    One row per quantity and group, one column per variant (``estimate (95% interval)``).
    """
    def fmt(q: str):
        if family == "response":
            return pct
        return (lambda v: labels.months(v, unit=False)) if q == "median_time" \
            else labels.number

    rows: dict[tuple[str, str], dict[str, str]] = {}
    for r in tab.itertuples(index=False):
        f = fmt(r.quantity)
        key = (labels.quantity(r.quantity, endpoint)
               + (f" ({time_unit})" if r.quantity == "median_time" else ""),
               labels.level(r.level))
        rows.setdefault(key, {})[labels.variant(r.variant)] = \
            f"{f(r.median)} ({f(r.lower)} to {f(r.upper)})"
    variants = list(dict.fromkeys(labels.variant(v) for v in tab["variant"]))
    own = labels.variant("default")
    variants = [own, *[v for v in variants if v != own]] if own in variants else variants
    return pd.DataFrame([{"quantity": q, "group": g, **{v: cells.get(v, "") for v in variants}}
                         for (q, g), cells in rows.items()])


def sensitivity_section(page: Page, fits: list[FitRecord],
                        sensitivity: list[FitRecord], *, quick: bool = False) -> None:
    """Headline numbers under the declared sensitivity variants, as tables and plots."""
    parts = page.section("sensitivity", "Sensitivity to priors and analysis choices")
    if quick:
        parts.append('<div class="note">Quick mode: the survival models were not refitted under '
                     "their variants; run the full report for that part.</div>")
    parts.append(para(
        "The same models refitted under the variants each specification declares (its "
        "[sensitivity] tables: alternative priors, and where declared other data or estimand "
        "choices), listed below with what each changed and why. Where the headline numbers "
        "move, the data alone cannot settle them."))
    main = ordered(fits)
    titles = {r.spec.name: title_of(r) for r in main}
    variants = prior_variants_table([r.spec for r in main],
                                    run={r.spec.name for r in sensitivity})
    if not variants.empty:
        view = variants.assign(specification=variants["specification"].map(titles),
                               variant=variants["variant"].map(labels.variant))
        parts.append(table(_one_row_per_variant(view),
                           caption="Prior variants and other sensitivity variants (a variant "
                           "declared alike by several specifications is listed once)",
                           wide=True))
    by_fit: dict[str, list[FitRecord]] = {r.spec.name: [r] for r in main}
    for rec in sensitivity:
        by_fit.setdefault(rec.spec.name.split("@", 1)[0], []).append(rec)
    for name, recs in by_fit.items():
        if len(recs) < 2:
            continue
        tab = pd.concat([_headline(r) for r in recs], ignore_index=True)
        tab = tab.sort_values(["quantity", "level", "variant"], kind="stable")
        family = recs[0].spec.family
        endpoint = endpoint_of(recs[0])
        title = titles.get(name, title_of(recs[0]))
        parts.append(f"<h3>{esc(title)}</h3>")
        unit = labels.time_unit(recs[0].model)
        head_html = table(_headline_view(tab.drop(columns="fit"), family, endpoint, unit),
                          caption="Headline numbers by variant: posterior median (95% "
                          "interval)")
        key = "pooled_rate" if family == "response" else "median_time"
        plot_tab = tab[tab["quantity"] == key].assign(
            label=lambda d: d["level"].map(labels.level),
            variant=lambda d: d["variant"].map(labels.variant))
        parts.append(row(head_html, page.figure(
            plots.sensitivity(plot_tab, title=_wrap(f"Sensitivity: {title}", 60),
                              xlabel="pooled response rate (proportion of patients)"
                              if family == "response" else f"median time ({unit})",
                              baseline=labels.variant("default")),
            f"sensitivity_{name}",
            "Posterior median (dot) and 95% interval (bar) of the headline quantity under each "
            "variant; black is the specification's own setting (on screen only: the table "
            "holds the same numbers).", svg=False, screen_only=True)))
