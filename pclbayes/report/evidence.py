"""The evidence section of the report: cohorts, patients, follow-up, provenance, source issues."""

from __future__ import annotations

import pandas as pd

from pclbayes.data import EvidenceBase
from pclbayes.plots import swimmer
from pclbayes.report import labels
from pclbayes.report.html import Page, esc, para, table


def follow_up(eb: EvidenceBase) -> pd.DataFrame:
    """Per cohort: patients, data level, product and the range of follow-up (data's unit)."""
    pat = eb.patients
    rows = []
    for cohort, g in pat.groupby("cohort", sort=True):
        info = eb.cohorts.set_index("cohort").loc[cohort] if cohort in set(eb.cohorts.cohort) \
            else pd.Series(dtype=object)
        fu = g["os_months"] if "os_months" in g else pd.Series(dtype=float)
        fu = fu.fillna(g["pfs_months"]) if "pfs_months" in g else fu
        fu = fu.fillna(g["time"]) if "time" in g else fu
        rows.append({
            "cohort": cohort,
            "data level": info.get("data_level", "user"),
            "product": info.get("product", ""),
            "targets": ", ".join(sorted(g["target"].dropna().unique())) if "target" in g else "",
            "patients": len(g),
            f"follow-up, {eb.time_unit} (min-max)": f"{fu.min():.1f}-{fu.max():.1f}"
            if fu.notna().any()
            else "not reported",
            "data cutoff": info.get("data_cutoff", ""),
        })
    return pd.DataFrame(rows)


def _words(df: pd.DataFrame) -> pd.DataFrame:
    """Column names in words (:func:`pclbayes.report.labels.column`)."""
    return df.rename(columns={c: labels.column(c) for c in df.columns})


#: Columns of the cohort counts and how the caption names each.
_COUNT_WORDS = (("orr_responders", "responders (ORR = PR or better)"),
                ("cr_or_better", "CR or better"),
                ("pfs_events", "PFS events (progression or death)"), ("os_deaths", "deaths"),
                ("events", "events"), ("reinfusions", "re-infusions"))


def _cohort_counts(eb: EvidenceBase) -> pd.DataFrame:
    """:func:`pclbayes.data.views.cohort_counts`: only the counts the data can give."""
    from pclbayes.data.views import cohort_counts

    return cohort_counts(eb)


def evidence_section(page: Page, eb: EvidenceBase) -> None:
    """Add the evidence section to ``page``."""
    parts = page.section("evidence", "The evidence")
    n_pat = len(eb.patients)
    n_coh = len(eb.cohorts)
    n_sw = len(eb.reinfusions)
    parts.append(para(
        f"The analysis pools {n_pat} patients from {n_coh} cohorts"
        + (f", plus {n_sw} target-switched re-infusions" if n_sw else "")
        + f" (data {eb.source}, hash {eb.data_hash[:12]}). These are very small numbers: every "
        "interval below is wide, and the pooled estimates lean on the priors stated in the "
        "Methods section."
    ))
    fu = follow_up(eb)
    if not fu.empty and not fu["targets"].astype(bool).any():
        fu = fu.drop(columns="targets")
    parts.append(table(fu, caption="Cohorts, data level and follow-up"))
    cols = [c for c in ("cohort", "center", "document_id", "trial_registration", "enrolment",
                        "costimulatory_domain") if c in eb.cohorts]
    if len(cols) > 1:
        parts.append(table(_words(eb.cohorts[cols]), caption="Cohort sources", wide=True))
    summary = _cohort_counts(eb)
    if not summary.empty:
        what = [w for col, w in _COUNT_WORDS if col in summary]
        by_target = "target" in summary
        parts.append(table(_words(summary), caption="First infusions by cohort"
                           + (" and target" if by_target else "")
                           + (": " + ", ".join(what) if what else "")))
    if not eb.aggregates.empty:
        cols = [c for c in ("cohort", "population", "is_pcl", "endpoint", "n", "responders",
                            "derived") if c in eb.aggregates]
        agg = eb.aggregates[cols].copy()
        caption = "Aggregate count rows"
        if "is_pcl" in agg:
            agg["is_pcl"] = agg["is_pcl"].map({1: "yes", 0: "no"})
            caption += " ('PCL patients only' no: non-PCL co-data, not used by the models)"
        if "endpoint" in agg:
            agg["endpoint"] = agg["endpoint"].map(labels.endpoint_short)
        if "derived" in agg:
            agg["derived"] = agg["derived"].map({1: "yes", 0: ""})
        parts.append(table(_words(agg), caption=caption))
    if not eb.episodes.empty and {"os_months", "pfs_months", "strategy"} <= set(eb.episodes):
        parts.append(page.figure(
            swimmer(eb.episodes), "swimmer",
            "Each patient's course from the first CAR T infusion. Bar colour is the antigen of "
            "the infusion in effect (hatched after a target-switched re-infusion, marked by a "
            "triangle); x marks progression, a square death, an arrow alive at last contact. "
            "The label is the best response to the first infusion. Drawn from the data only.",
        ))
    issues = eb.source_issues
    if not issues.empty:
        affecting = int((issues.get("affects_analysis", "") == "yes").sum())
        parts.append(f"<h3>Inconsistencies in the sources ({len(issues)}, "
                     f"{affecting} affecting analyses)</h3>")
        parts.append(para("Where the documents disagree the data record both statements and "
                          "the handling chosen; nothing was resolved silently."))
        detail = issues.get("detail", pd.Series("", index=issues.index)).fillna("")
        view = issues.assign(
            disagreement=issues["statement_a"] + " [" + issues["location_a"] + "] vs "
            + issues["statement_b"] + " [" + issues["location_b"] + "]"
            + detail.map(lambda d: f". {d}" if d else "")
        )[["issue_id", "cohort", "kind", "disagreement", "affects_analysis", "handling"]]
        for col in ("disagreement", "handling"):
            view[col] = view[col].fillna("").map(labels.humanise)
        affects = view["affects_analysis"].astype(str).str.lower().eq("yes")
        if affects.any():
            parts.append(table(_words(view[affects]), caption="Registry of source "
                               "inconsistencies that affect analyses (data/source_issues.csv)",
                               wide=True))
        if (~affects).any():
            rest = table(_words(view[~affects]), caption="Inconsistencies that do not affect "
                         "the analyses", wide=True)
            parts.append(f"<details><summary>{int((~affects).sum())} further inconsistencies "
                         f"that do not affect the analyses (click to show; printed only when "
                         f"shown)</summary>{rest}</details>")
    prov = eb.provenance
    if not prov.empty:
        parts.append(para(
            f"Provenance: {len(prov)} extracted values carry their document, table or paragraph, "
            "row and a verbatim quote (data/provenance.csv)."
        ))
    docs = eb.records.get("documents.csv")
    if docs is not None and not docs.empty:
        items = "".join(f"<li>{esc(r.citation)} {esc(r.doi_or_url)}</li>"
                        for r in docs.itertuples())
        parts.append(f"<p>Sources:</p><ul>{items}</ul>")
