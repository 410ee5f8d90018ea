"""The model sections of the report: results, checks, prior sensitivity, diagnostics, methods.

Every number in the prose is formatted from the same summary tables that are printed, so
text and tables cannot disagree.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pclbayes import plots
from pclbayes.data import EvidenceBase, survival_table
from pclbayes.priors import Prior
from pclbayes.provenance import versions
from pclbayes.report.html import Page, esc, para, table
from pclbayes.specs import Spec, Variant, apply_variant

if TYPE_CHECKING:
    from pclbayes.report.builder import FitRecord


def pct(x: float) -> str:
    """Format a probability as a percentage."""
    return f"{100 * x:.0f}%"


def ci(row: pd.Series, fmt=pct) -> str:
    """``median (lower to upper)`` of a summary row."""
    return f"{fmt(row['median'])} (95% interval {fmt(row['lower'])} to {fmt(row['upper'])})"


def flags(fits: list[FitRecord], eb: EvidenceBase) -> list[str]:
    """Problems a reader must see first: failed convergence checks, cohorts without data."""
    out = []
    for rec in fits:
        diag = getattr(rec.model, "diagnostics_", None)
        if diag is not None and not diag.ok:
            out.append(f"{rec.spec.name} ({rec.variant} priors): " + "; ".join(diag.messages))
    seen = set()
    for rec in fits:
        if rec.spec.family != "survival":
            continue
        endpoint = rec.spec.options.get("endpoint", "pfs")
        if endpoint in seen:
            continue
        seen.add(endpoint)
        tab = survival_table(eb, endpoint)
        for cohort in tab.attrs.get("cohorts_without_data", []):
            out.append(f"cohort '{cohort}' has no {endpoint.upper()} data and is left out of the "
                       f"{endpoint.upper()} models")
    return out


def diagnostics_section(page: Page, fits: list[FitRecord], eb: EvidenceBase, *,
                        quick: bool) -> None:
    """Convergence table per fit, software versions, seed and data hash."""
    parts = page.section("diagnostics", "Diagnostics and reproducibility")
    rows = []
    for rec in fits:
        d = rec.model.diagnostics_
        rows.append({
            "fit": rec.spec.name.split("@", 1)[0], "priors": rec.variant,
            "method": getattr(rec.model, "method", rec.spec.options.get("method", "mcmc")),
            "sampler": rec.spec.sampler.sampler,
            "chains x draws": f"{d.chains} x {d.draws}" if d.chains else "exact",
            "max R-hat": d.max_rhat, "min bulk ESS": d.min_ess_bulk,
            "min tail ESS": d.min_ess_tail, "divergences": d.divergences,
            "passed": "yes" if d.ok else "NO",
            "seconds": None if rec.cached else rec.seconds,
            "fitted": ("reused, fitted " + str(rec.model.idata_.attrs.get("pclbayes_created", ""))
                       if rec.cached else "in this run"),
            "seed": rec.spec.seed,
        })
    parts.append(para("A fit passes when R-hat is at most 1.01, bulk and tail effective sample "
                      "sizes are at least 400 and there are no divergent transitions. Failed "
                      "fits are also listed at the top of the report. A reused fit comes from "
                      "the fit cache of an earlier report with the same specification, data, "
                      "seed and software, so it is the fit this run would have made."))
    parts.append(table(pd.DataFrame(rows), caption="Convergence diagnostics per fit", digits=3))
    ver = pd.DataFrame(sorted(versions().items()), columns=["software", "version"])
    parts.append(table(ver, caption="Software versions"))
    parts.append(para(f"Data hash {eb.data_hash}. Each fit's netCDF file in fits/ records its "
                      "specification, seed, data hash and versions; the same seed and data give "
                      "the same numbers." + (" Quick mode was used." if quick else "")))


def methods_section(page: Page, fits: list[FitRecord], *, quick: bool) -> None:
    """A methods paragraph per fit, generated from its specification and priors."""
    parts = page.section("methods", "Methods")
    for rec in fits:
        spec = rec.spec
        s = spec.sampler
        desc = getattr(rec.model, "describe", None)
        text = desc() if callable(desc) else ""
        parts.append(f"<h3>{esc(spec.title)} <small>({esc(spec.name)})</small></h3>")
        if text:
            parts.append(para(text))
        method = getattr(rec.model, "method", spec.options.get("method", "mcmc"))
        if method == "exact":
            parts.append(para("Posterior computed by deterministic numerical integration."))
        else:
            parts.append(para(
                f"Posterior sampled with the No-U-Turn sampler ({s.sampler}): {s.chains} chains, "
                f"{s.tune} tuning and {s.draws} retained draws each, target acceptance "
                f"{s.target_accept}, seed {spec.seed}." + (" (Quick mode.)" if quick else "")))
        parts.append(f"<pre>{esc(rec.model.prior_summary())}</pre>")


# ---------------------------------------------------------------- prior sensitivity variants
def sensitivity_specs(spec: Spec) -> list[Spec]:
    """The prior-sensitivity variants ``spec`` declares, as specifications to fit.

    Each is named ``<spec>@<variant>`` (:func:`pclbayes.specs.apply_variant`). None if the
    spec declares no ``[sensitivity.*]`` variants or its ``[report]`` table says
    ``sensitivity = false``.
    """
    if not spec.report.get("sensitivity", True):
        return []
    return [apply_variant(spec, v) for v in spec.sensitivity]


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


# ---------------------------------------------------------------- response
def _endpoint_name(endpoint: str) -> str:
    return {"orr": "objective response (PR or better)", "cr": "CR or better"}.get(
        endpoint, endpoint)


def _rows(summary: pd.DataFrame, quantity: str) -> pd.DataFrame:
    return summary[summary["quantity"] == quantity]


def _response_text(model, summary: pd.DataFrame) -> str:
    name = _endpoint_name(model.endpoint)
    bits = []
    for _, r in _rows(summary, "pooled_rate").iterrows():
        pred = _rows(summary, "predictive_rate").set_index("level").loc[r["level"]]
        bits.append(f"For {r['level']}, the pooled rate of {name} is {ci(r)}; a new cohort "
                    f"should expect {ci(pred)}.")
    for _, r in _rows(summary, "contrast").iterrows():
        bits.append(f"The difference {r['level']} is {r['median']:+.2f} (95% interval "
                    f"{r['lower']:+.2f} to {r['upper']:+.2f}); the probability that it is above "
                    f"zero is {r['prob_gt']:.2f}.")
    for _, r in _rows(summary, "between_cohort_sd").iterrows():
        bits.append(f"Between-cohort SD of the rate ({r['level']}): {r['median']:.2f} "
                    f"({r['lower']:.2f} to {r['upper']:.2f}).")
    counts = getattr(model, "counts_", None)
    n = int(counts.n.sum()) if counts is not None else None
    if n is not None:
        bits.append(f"These estimates rest on {n} infusions.")
    return " ".join(bits)


def _fmt_table(df: pd.DataFrame, cols: list[str], rename: dict | None = None) -> pd.DataFrame:
    out = df[[c for c in cols if c in df.columns]].copy()
    return out.rename(columns=rename or {})


def response_sections(page: Page, fits: list[FitRecord]) -> None:
    """Per response fit: headline table, prose, forest plot, contrasts, heterogeneity."""
    parts = page.section("response", "Response: pooled ORR and CR")
    if not fits:
        parts.append(para("No response specifications were run."))
        return
    parts.append(para(
        "Each cohort (or cohort x group) is one unit of a hierarchical model: its response rate "
        "is drawn from a population distribution per group, so small cohorts borrow strength "
        "from the others. 'Pooled' is the population mean rate of a group; 'new cohort' is the "
        "rate a new cohort of that group should expect (it adds the between-cohort spread)."))
    for rec in fits:
        m, s = rec.model, rec.model.summary()
        parts.append(f"<h3>{esc(rec.spec.title)}</h3>")
        parts.append(para(_response_text(m, s)))
        head = s[s["quantity"].isin(["pooled_rate", "predictive_rate"])]
        parts.append(table(_fmt_table(head, ["quantity", "level", "median", "lower", "upper"]),
                           caption="Population-mean (pooled) and new-cohort (predictive) rates: "
                           "posterior median and 95% interval"))
        coh = _rows(s, "cohort_rate")
        parts.append(table(_fmt_table(coh, ["level", "n", "responders", "observed", "median",
                                            "lower", "upper"],
                                      {"level": "cohort", "observed": "raw rate",
                                       "median": "shrunken"}),
                           caption="Cohorts: raw rate next to the shrunken estimate"))
        con = _rows(s, "contrast")
        if not con.empty:
            parts.append(table(_fmt_table(con, ["level", "median", "lower", "upper",
                                                "prob_gt"],
                                          {"level": "contrast", "prob_gt": "P(> 0)"}),
                               caption="Contrasts of pooled rates"))
        parts.append(page.figure(
            plots.forest(s, title=rec.spec.title), f"forest_{rec.spec.name}",
            f"{rec.spec.title}. Open circles: raw cohort rates with exact 95% intervals; filled "
            "circles: shrunken cohort estimates; diamonds: pooled (population-mean) rate; "
            "squares: the rate a new cohort should expect. Bars are 95% intervals. Estimates "
            "pulled towards the pooled value show how much each small cohort borrows."))
        het = "kappa" if "kappa" in m.idata_["posterior"] else "sigma"
        if het in m.idata_["posterior"] and het in getattr(m, "priors_", {}):
            label = ("concentration kappa (higher = more alike cohorts)" if het == "kappa"
                     else "between-cohort SD tau of the log-odds")
            parts.append(page.figure(
                plots.prior_posterior(m.idata_["posterior"][het].values, m.priors_[het],
                                      label=label, title=f"Heterogeneity: {rec.spec.name}"),
                f"heterogeneity_{rec.spec.name}",
                f"Posterior of the heterogeneity parameter ({het}) against its prior. Where the "
                "histogram follows the prior curve, three small cohorts say little about "
                "between-cohort spread and the prior carries the result.", svg=False))


# ---------------------------------------------------------------- survival
def _months(x: float) -> str:
    return "not reached" if not np.isfinite(x) else f"{x:.1f} months"


def _survival_text(model, summary: pd.DataFrame) -> str:
    post = summary[summary.get("source", "posterior") == "posterior"]
    name = model.endpoint.upper()
    bits = []
    for _, r in post[post["quantity"] == "median_time"].iterrows():
        s6 = post[(post.quantity == "survival_at_6") & (post.level == r["level"])]
        s12 = post[(post.quantity == "survival_at_12") & (post.level == r["level"])]
        text = f"{r['level']}: median {name} {ci(r, _months)}"
        if not s6.empty and not s12.empty:
            text += (f"; {name}-free at 6 months {ci(s6.iloc[0])}, at 12 months "
                     f"{ci(s12.iloc[0])}")
        bits.append(text + ".")
    for _, r in post[post["quantity"] == "hazard_ratio"].iterrows():
        bits.append(f"Hazard ratio {r['level']}: {r['median']:.2f} ({r['lower']:.2f} to "
                    f"{r['upper']:.2f}), P(HR > 1) = {r['prob_gt']:.2f}.")
    return " ".join(bits)


def _survival_data(model) -> pd.DataFrame:
    idata = model.idata_
    ep = idata["observed_data"]["time"]
    names = [str(v) for v in ep["episode"].values]
    df = pd.DataFrame({
        "episode": names,
        "time": ep.values.astype(float),
        "event": idata["constant_data"]["time"].values.astype(int),
        "group": idata["constant_data"]["group_of_episode"].values.astype(str),
    })
    if getattr(model, "by", None) != "strategy":
        df = df[df["episode"].str.endswith("/1")]
    return df


def survival_sections(page: Page, fits: list[FitRecord], eb: EvidenceBase) -> None:
    """Per survival fit: KM with predictive bands, medians and landmark tables, effects."""
    parts = page.section("survival", "Survival: PFS and OS")
    if not fits:
        parts.append(para("No survival specifications were run."))
        return
    parts.append(para(
        "Weibull models with exact right censoring. Medians and landmark probabilities are for "
        "a typical cohort; 'new cohort' adds the between-cohort spread. Kaplan-Meier curves of "
        "the data are shown for comparison; they are not the model."))
    for rec in fits:
        m, s = rec.model, rec.model.summary()
        endpoint = m.endpoint.upper()
        parts.append(f"<h3>{esc(rec.spec.title)}</h3>")
        tab = survival_table(eb, m.endpoint)
        excluded = tab.attrs.get("excluded")
        if excluded is not None and not excluded.empty:
            who = ", ".join(f"{c}/{p}" for c, p in zip(excluded.cohort, excluded.patient_id,
                                                       strict=True))
            parts.append(f'<div class="note">{len(excluded)} episode(s) have no {endpoint} data '
                         f"and are not in this model: {esc(who)}.</div>")
        parts.append(para(_survival_text(m, s)))
        post = s[s.get("source", "posterior") == "posterior"]
        groups = post[post["quantity"].str.startswith(("median_time", "survival_at"))]
        parts.append(table(_fmt_table(groups, ["quantity", "level", "median", "lower", "upper"]),
                           caption=f"Median {endpoint} (months) and probability {endpoint}-free at "
                           "6 and 12 months: posterior median and 95% interval"))
        eff = post[post["quantity"].isin(["time_ratio", "hazard_ratio"])]
        parts.append(table(_fmt_table(eff, ["quantity", "level", "median", "lower", "upper",
                                            "prob_gt"], {"prob_gt": "P(> 1)"}),
                           caption="Effects: time ratio (> 1 = longer) and hazard ratio "
                           "(> 1 = higher hazard)"))
        parts.append(table(m.km_table(), caption="Kaplan-Meier cross-check (lifelines): median "
                           "and 95% confidence interval"))
        curves = m.survival_curves()
        curves = curves[curves["source"] == "posterior"] if "source" in curves else curves
        parts.append(page.figure(
            plots.km_bands(_survival_data(m), curves, group_col="group",
                     title=f"{rec.spec.title}"),
            f"km_{rec.spec.name}",
            f"{endpoint} by {m.by}: step lines are Kaplan-Meier estimates of the data (ticks mark "
            "censored episodes); dashed lines and shaded bands are the model's posterior median "
            f"and 95% band of S(t) for a typical cohort. A band that covers the steps means the "
            "model reproduces the data."))


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


def checks_section(page: Page, fits: list[FitRecord]) -> None:
    """Posterior-predictive checks and PSIS-LOO for every fit; model comparison."""
    import arviz_plots as azp

    parts = page.section("checks", "How well the models reproduce the data")
    parts.append(para(
        "Posterior-predictive checks replicate each cohort's data from the fitted model. A "
        "predictive p-value near 0 or 1 (two-sided values near 0) flags a cohort the model "
        "does not reproduce. PSIS-LOO estimates out-of-sample predictive accuracy; Pareto k "
        "above 0.7 marks observations whose removal changes the fit a lot, common when each "
        "observation is a whole cohort."))
    loo_rows = []
    for rec in fits:
        m = rec.model
        parts.append(f"<h3>{esc(rec.spec.title)}</h3>")
        ppc = m.ppc_table()
        parts.append(table(ppc, caption="Observed vs posterior-predictive counts per cohort"))
        if rec.spec.family == "response":
            fig = plots.ppc_counts(ppc, observed="observed", mean="predicted_mean", lower="lower",
                             upper="upper", label="responders",
                             title=f"Posterior-predictive check: {rec.spec.name}")
            what = "responders"
        else:
            pc = azp.plot_ppc_censored(m.idata_, backend="matplotlib")
            fig = pc.viz["figure"].item()
            fig.suptitle(f"Censored-data PPC: {rec.spec.name}", fontsize=10)
            what = "survival curves"
        cap = ("Red crosses: observed responders per cohort; blue bars: 95% interval of "
               "responders replicated from the posterior predictive; dots: predictive mean."
               if what == "responders" else
               "Kaplan-Meier curve of the observed (censored) times against Kaplan-Meier curves "
               "of uncensored times drawn from the posterior predictive: the observed curve "
               "should lie within the cloud of replicated curves.")
        parts.append(page.figure(fig, f"ppc_{rec.spec.name}", cap, svg=False))
        try:
            loo_rows.append(_loo_row(rec.spec.name, m))
        except (AttributeError, ValueError, TypeError) as exc:
            loo_rows.append({"fit": rec.spec.name, "warning": f"LOO not available: {exc}"})
    parts.append("<h3>Leave-one-out cross-validation (PSIS-LOO)</h3>")
    parts.append(table(pd.DataFrame(loo_rows), caption="PSIS-LOO per fit (ArviZ)", digits=2))
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
        out.append(table(comparison_table(loos),
                         caption=f"Model comparison for {_endpoint_name(endpoint)} by {by} "
                         "(PSIS-LOO; higher elpd predicts better; dse is the standard error of "
                         "the difference)", digits=2))
        out.append(para("With three or four cohort-level observations the difference is "
                        "rarely larger than its standard error: the comparison cannot pick a "
                        "model, so both are shown and the beta-binomial is the default."))
    return "".join(out) or para("No pair of alternative response models to compare.")


# ---------------------------------------------------------------- sensitivity
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


def sensitivity_section(page: Page, fits: list[FitRecord],
                        sensitivity: list[FitRecord], *, quick: bool = False) -> None:
    """Headline numbers under alternative priors, as tables and plots."""
    parts = page.section("sensitivity", "Prior sensitivity")
    if quick:
        parts.append('<div class="note">Quick mode: the survival models were not refitted under '
                     "alternative priors; run the full report for that part.</div>")
    parts.append(para(
        "The same models refitted under the alternative priors each specification declares "
        "(its [sensitivity] variants, listed below with what each changed and why). Where the "
        "headline numbers move, the data alone cannot settle them."))
    variants = prior_variants_table([r.spec for r in fits], run={r.spec.name for r in sensitivity})
    if not variants.empty:
        parts.append(table(variants, caption="Prior variants"))
    by_fit: dict[str, list[FitRecord]] = {}
    for rec in fits + sensitivity:
        by_fit.setdefault(rec.spec.name.split("@", 1)[0], []).append(rec)
    for name, recs in by_fit.items():
        if len(recs) < 2:
            continue
        tab = pd.concat([_headline(r) for r in recs], ignore_index=True)
        tab = tab.sort_values(["quantity", "level", "variant"], kind="stable")
        family = recs[0].spec.family
        parts.append(f"<h3>{esc(recs[0].spec.title)}</h3>")
        parts.append(table(tab.drop(columns="fit"), caption="Headline numbers by prior variant"))
        key = "pooled_rate" if family == "response" else "median_time"
        plot_tab = tab[tab["quantity"] == key].assign(label=lambda d: d["level"])
        parts.append(page.figure(
            plots.sensitivity(plot_tab, title=f"Prior sensitivity: {name}",
                        xlabel="pooled response rate" if family == "response"
                        else "median time (months)"),
            f"sensitivity_{name}",
            "Posterior median (dot) and 95% interval (bar) of the headline quantity under each "
            "prior variant; black is the specification's own prior.", svg=False))

