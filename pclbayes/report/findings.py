"""The first screen of the report: the key findings and the limitations of the evidence.

Key findings give, per endpoint, the headline number with its 95% interval, the data
behind it (responders out of patients, events out of patients) and one caveat. The
limitations are read from the data and the fits: how many cohorts and centres, how the
cohorts were reported (data level), which comparisons are not randomised, how few events
there are, and which numbers the data barely inform (``mostly_prior`` in the summary,
where the models report it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pclbayes.data import EvidenceBase
from pclbayes.report import labels
from pclbayes.report.html import esc

if TYPE_CHECKING:
    from pclbayes.report.builder import FitRecord

__all__ = ["Finding", "findings", "key_findings_html", "limitations", "limitations_html",
           "mostly_prior_note", "prior_interval", "prior_text"]

#: Quantities that are reported as headline numbers (checked for ``mostly_prior``).
HEADLINE = ("pooled_rate", "predictive_rate", "contrast", "median_time", "time_ratio",
            "hazard_ratio")


@dataclass(frozen=True)
class Finding:
    """One row of the key findings: an estimate of one group for one endpoint."""

    endpoint: str
    group: str
    estimate: str
    interval: str
    data: str
    caveat: str


# ---------------------------------------------------------------- helpers
def by_of(rec: FitRecord) -> str:
    """The grouping a fit was run with (``"none"`` when the data had no such column)."""
    return str(getattr(rec.model, "by", None) or rec.spec.options.get("by", "none"))


def endpoint_of(rec: FitRecord) -> str:
    """The endpoint of a fit as the data hold it (``orr``, ``cr``, ``pfs``, ``os``, ...).

    After :func:`annotate`, an endpoint read from generic columns is ``time`` (survival:
    ``time``/``event``) or ``response`` (counts without an ``endpoint`` column), whatever
    the specification calls it.
    """
    default = "pfs" if rec.spec.family == "survival" else "orr"
    return str(getattr(rec.model, "report_endpoint_", None)
               or getattr(rec.model, "endpoint", None)
               or rec.spec.options.get("endpoint", default))


def data_endpoint(rec: FitRecord, eb: EvidenceBase) -> str:
    """What the data call the endpoint of ``rec`` (see :func:`endpoint_of`)."""
    from pclbayes.data._schema import ENDPOINT_COLUMNS
    from pclbayes.data.views import episode_columns

    endpoint = str(getattr(rec.model, "endpoint", None)
                   or rec.spec.options.get("endpoint", "pfs" if rec.spec.family == "survival"
                                           else "orr"))
    cols = set(episode_columns(eb)) if not eb.patients.empty else set()
    if rec.spec.family == "survival":
        if f"{endpoint}_months" not in cols and {"time", "event"} <= cols:
            return "time"
        return endpoint
    if ENDPOINT_COLUMNS.get(endpoint, endpoint) in cols:
        return endpoint
    agg = eb.aggregates
    if not agg.empty and "endpoint" not in agg.columns:
        return "response"
    return endpoint


def annotate(fits: Iterable[FitRecord], eb: EvidenceBase) -> None:
    """Record on each fit's model the endpoint as the data hold it (``report_endpoint_``)."""
    later = getattr(eb, "reinfusions", None)
    for rec in fits:
        rec.model.report_endpoint_ = data_endpoint(rec, eb)
        rec.model.report_has_reinfusions_ = later is not None and not later.empty


def title_of(rec: FitRecord) -> str:
    """The heading of a fit (:func:`pclbayes.report.labels.fit_title`)."""
    return labels.fit_title(rec.spec, endpoint_of(rec))


def _mostly_prior(row: pd.Series) -> bool:
    value = row.get("mostly_prior", None)
    return bool(value is not None and not pd.isna(value) and bool(value))


_SURVIVAL_AT = re.compile(r"survival_at_(?P<h>[0-9.]+)(?P<new>_new_cohort)?$")


def time_interval(lower: Any, upper: Any, time_unit: str = "months") -> str:
    """``"2.0 to 16.8 months"``; ``"2.0 months to not reached"`` for an open upper limit."""
    lo = labels.months(lower, unit=False)
    if not np.isfinite(float(upper)):
        return f"{lo} {time_unit} to not reached"
    return f"{lo} to {labels.months(upper, unit=False)} {time_unit}"


def prior_draws(model: Any, quantity: str, level: Any) -> np.ndarray | None:
    """Draws of a summary row's quantity under the prior (the fit's ``prior`` group).

    The same draws ``prior_sd_ratio`` compares with: response quantities by
    :data:`pclbayes.response.results.PRIOR_VARIABLES`; survival quantities by their
    variable (``survival_at_<h>`` from ``survival`` at horizon ``h``, a cohort's time
    ratio from ``exp(cohort_effect)``). None where the fit holds no prior draws of it.
    """
    idata = getattr(model, "idata_", None)
    if idata is None or "prior" not in idata.children:
        return None
    prior = idata["prior"]
    sel: dict[str, Any] = {}
    transform = None
    if getattr(model, "family", "") == "response":
        from pclbayes.response.results import PRIOR_VARIABLES

        var = PRIOR_VARIABLES.get(quantity)
    else:
        m = _SURVIVAL_AT.match(quantity)
        var = quantity
        if m:
            var = "survival_new_cohort" if m["new"] else "survival"
            sel["horizon"] = float(m["h"])
        elif quantity == "cohort_time_ratio":
            var, transform = "cohort_effect", np.exp
    if var is None or var not in prior.data_vars:
        return None
    da = prior[var]
    try:
        da = da.sel(sel) if sel else da
    except (KeyError, ValueError):
        return None
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if len(extra) > 1:
        return None
    if extra:
        names = [str(v) for v in da[extra[0]].values]
        if str(level) not in names:
            return None
        da = da.isel({extra[0]: names.index(str(level))})
    values = np.asarray(da.values, dtype=float).ravel()
    values = transform(values) if transform is not None else values
    values = values[np.isfinite(values)]
    return values if values.size >= 10 else None


def prior_interval(model: Any, quantity: str, level: Any
                   ) -> tuple[float, float, float] | None:
    """Median and equal-tailed 95% interval of a quantity under the prior (or None)."""
    values = prior_draws(model, quantity, level)
    if values is None:
        return None
    lo, med, hi = np.quantile(values, [0.025, 0.5, 0.975])
    return float(med), float(lo), float(hi)


def prior_text(model: Any, quantity: str, level: Any, fmt) -> str:
    """``"prior 50% (2% to 98%)"``: the prior of a number, to print next to it."""
    got = prior_interval(model, quantity, level)
    if got is None:
        return ""
    med, lo, hi = got
    return f"prior {fmt(med)} ({fmt(lo)} to {fmt(hi)})"


def mostly_prior_note(model: Any, row: pd.Series, fmt) -> str:
    """``" (mostly prior; prior 50%, 2% to 98%)"`` for a row marked mostly prior, else ``""``."""
    if not _mostly_prior(row):
        return ""
    got = prior_interval(model, str(row["quantity"]), row["level"])
    if got is None:
        return " (mostly prior)"
    med, lo, hi = got
    return f" (mostly prior; prior {fmt(med)}, {fmt(lo)} to {fmt(hi)})"


def survival_episodes(model: Any) -> pd.DataFrame:
    """The episodes a survival fit used: ``episode, time, event, group`` (one per row)."""
    idata = model.idata_
    ep = idata["observed_data"]["time"]
    return pd.DataFrame({
        "episode": [str(v) for v in ep["episode"].values],
        "time": ep.values.astype(float),
        "event": idata["constant_data"]["time"].values.astype(int),
        "group": idata["constant_data"]["group_of_episode"].values.astype(str),
    })


def _response_data(summary: pd.DataFrame, level: str | None) -> tuple[int, int, int]:
    """Responders, patients and cohorts behind a pooled rate (``level`` None: all)."""
    coh = summary[summary["quantity"] == "cohort_rate"]
    if level is not None and "group" in coh:
        coh = coh[coh["group"].astype(str) == str(level)]
    return (int(coh["responders"].sum()), int(coh["n"].sum()),
            int(coh["cohort"].nunique() if "cohort" in coh else len(coh)))


# ---------------------------------------------------------------- key findings
def _response_findings(rec: FitRecord) -> list[Finding]:
    s = rec.model.summary()
    endpoint = endpoint_of(rec)
    by = by_of(rec)
    name = labels.endpoint_long(endpoint)
    title = name[0].upper() + name[1:]
    pooled = s[s["quantity"] == "pooled_rate"]
    r_all, n_all, k_all = _response_data(s, None)
    if n_all and r_all == n_all:
        caveat = (f"Every patient responded ({r_all}/{n_all}): the upper limit comes from the "
                  "prior, not the data.")
    elif n_all and r_all == 0:
        caveat = (f"No patient responded (0/{n_all}): the lower limit comes from the prior, "
                  "not the data.")
    else:
        caveat = (f"Pooled over {k_all} cohort{'s' if k_all != 1 else ''}; a new cohort's "
                  "rate is less certain, since the spread between cohorts rests on its prior.")
    out = []
    for _, row in pooled.iterrows():
        r, n, _ = _response_data(s, row["level"] if by != "none" else None)
        est = labels.pct(row["median"]) + mostly_prior_note(rec.model, row, labels.pct)
        out.append(Finding(
            endpoint=title, group=labels.level(row["level"]) if by != "none" else "all",
            estimate=est, interval=f"{labels.pct(row['lower'])} to {labels.pct(row['upper'])}",
            data=f"{r}/{n} responders", caveat=caveat))
    return out


def _survival_findings(rec: FitRecord, *, reinfusion: bool = False) -> list[Finding]:
    m = rec.model
    endpoint = endpoint_of(rec)
    by = by_of(rec)
    s = m.summary()
    post = s[(s["quantity"] == "median_time") & (s.get("source", "posterior") == "posterior")]
    eps = survival_episodes(m)
    short = labels.endpoint_short(endpoint)
    what = "deaths" if endpoint == "os" else "events"
    events, n = int(eps["event"].sum()), len(eps)
    if reinfusion:
        post = post[post["level"].astype(str) != "first"]
        title = f"Median {short} after a target-switched re-infusion"
        caveat = ("Not randomised: re-infusion was given after relapse to selected patients; "
                  "each is compared with first infusions of the same cohorts.")
    else:
        first_only = _first_only(eps) and _has_reinfusions(rec)
        title = f"Median {short}" + (" (first infusions)" if first_only else "")
        caveat = (f"{events} {what} in {n} patients: the medians are uncertain and lean on the "
                  "Weibull shape and the priors.")
        if events and (eps.groupby("group")["event"].sum() == 0).any():
            caveat = f"A group without {what}: its median comes from the prior. " + caveat
    out = []
    for _, row in post.iterrows():
        sub = eps[eps["group"] == str(row["level"])] if by != "none" else eps
        ev = int(sub["event"].sum())
        unit = "episodes" if reinfusion else "patients"
        tu = labels.time_unit(m)
        est = labels.months(row["median"], time_unit=tu) + mostly_prior_note(
            m, row, lambda v: labels.months(v, unit=False))
        out.append(Finding(
            endpoint=title, group=labels.level(row["level"]) if by != "none" else "all",
            estimate=est,
            interval=time_interval(row["lower"], row["upper"], tu),
            data=f"{ev} {what} / {len(sub)} {unit}", caveat=caveat))
    return out


def _has_reinfusions(rec: FitRecord) -> bool:
    """The data of the fit hold later infusions (so "first infusions" says something)."""
    return bool(getattr(rec.model, "report_has_reinfusions_", False))


def _first_only(eps: pd.DataFrame) -> bool:
    """All episodes are first infusions (episode ids ``cohort/patient/1``)."""
    ends = eps["episode"].str.rsplit("/", n=1).str[-1]
    return bool(len(eps)) and bool((ends == "1").all()) and eps["episode"].str.count("/").min() >= 2


def _reinfusion_findings(eb: EvidenceBase) -> list[Finding]:
    """PFS from a target-switched re-infusion, described on its own time scale.

    The descriptive estimand of :func:`pclbayes.survival.reinfusion.reinfusion_summary`:
    the Kaplan-Meier median PFS counted from the second infusion, with its 95% confidence
    interval. None when the data record no re-infusion.
    """
    if getattr(eb, "reinfusions", None) is None or eb.reinfusions.empty:
        return []
    from pclbayes.survival.reinfusion import reinfusion_summary

    tu = str(getattr(eb, "time_unit", None) or "months")
    summary = reinfusion_summary(eb, time_unit=tu)
    km = summary.pfs_after_reinfusion
    if km.empty:
        return []
    r = km.iloc[0]
    rel = summary.relapses
    who = (f"{int(rel['reinfused'].sum())} of {len(rel)} patients who progressed were "
           "re-infused" if len(rel) else "Re-infused patients")
    return [Finding(
        endpoint="PFS after a target-switched re-infusion (descriptive)",
        group="from the second infusion",
        estimate=labels.months(r["median"], time_unit=tu),
        interval=time_interval(r["lower"], r["upper"], tu),
        data=f"{int(r['events'])} events / {int(r['n'])} re-infusions",
        caveat=f"{who}, selected by having relapsed, survived and been fit for it: a "
               "description at a later line, not an effect of switching the target.")]


def primary(fits: Sequence[FitRecord], endpoint: str) -> FitRecord | None:
    """The fit that answers an endpoint: not grouped by re-infusion strategy, default model."""
    cands = [r for r in fits if endpoint_of(r) == endpoint and by_of(r) != "strategy"]
    cands.sort(key=lambda r: str(r.spec.options.get("model", "")) == "logit-normal")
    return cands[0] if cands else None


def endpoints_in_order(fits: Iterable[FitRecord]) -> list[str]:
    """Endpoints of the fits: ORR, CR, other responses, PFS, OS, other survival."""
    rank = {"orr": 0, "cr": 1, "pfs": 3, "os": 4}
    seen = list(dict.fromkeys((r.spec.family, endpoint_of(r)) for r in fits))
    return [e for _, e in sorted(seen, key=lambda fe: (rank.get(fe[1], 2 if fe[0] == "response"
                                                                 else 5), fe[1]))]


def findings(fits: Sequence[FitRecord], eb: EvidenceBase) -> list[Finding]:
    """Every key finding of the fits, endpoint by endpoint (see the module docstring)."""
    out: list[Finding] = []
    annotate(fits, eb)
    for endpoint in endpoints_in_order(fits):
        rec = primary(fits, endpoint)
        if rec is None:
            continue
        out += (_response_findings(rec) if rec.spec.family == "response"
                else _survival_findings(rec))
    reinf = _reinfusion_findings(eb)
    if not reinf:
        for rec in fits:
            if rec.spec.family == "survival" and by_of(rec) == "strategy":
                reinf = _survival_findings(rec, reinfusion=True)
                break
    return out + reinf


def key_findings_html(rows: Sequence[Finding]) -> str:
    """The key findings box: one block of rows per endpoint, the caveat beside it."""
    if not rows:
        return ('<div id="key-findings"><h2>Key findings</h2><p>No fit gave a headline '
                "number.</p></div>")
    body, i = [], 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j].endpoint == rows[i].endpoint:
            j += 1
        span = j - i
        for k, f in enumerate(rows[i:j]):
            head = (f'<td class="l" rowspan="{span}"><b>{esc(f.endpoint)}</b></td>'
                    if k == 0 else "")
            cav = (f'<td class="l caveat" rowspan="{span}">{esc(f.caveat)}</td>'
                   if k == 0 else "")
            body.append(f'<tr>{head}<td class="l">{esc(f.group)}</td>'
                        f'<td class="n">{esc(f.estimate)}</td><td class="n">{esc(f.interval)}'
                        f'</td><td class="n">{esc(f.data)}</td>{cav}</tr>')
        i = j
    return ('<div id="key-findings"><h2>Key findings</h2>'
            '<table><thead><tr><th class="l">finding</th><th class="l">group</th>'
            "<th>estimate</th><th>95% interval</th><th>data</th>"
            '<th class="l">caveat</th></tr></thead><tbody>' + "".join(body)
            + "</tbody></table>"
            '<p style="margin:.2em 0;font-size:.85em">Posterior medians of the hierarchical '
            "models (typical cohort), with 95% credible intervals"
            + ("; rows marked descriptive are Kaplan-Meier medians with 95% confidence "
               "intervals" if any("descriptive" in f.endpoint for f in rows) else "")
            + ".</p></div>")


# ---------------------------------------------------------------- limitations
def _cohort_sizes(eb: EvidenceBase, fits: Sequence[FitRecord]) -> pd.Series:
    if not eb.patients.empty and "cohort" in eb.patients:
        return eb.patients.groupby("cohort").size()
    for rec in fits:
        if rec.spec.family == "response":
            s = rec.model.summary()
            coh = s[s["quantity"] == "cohort_rate"]
            if "cohort" in coh and "n" in coh:
                return coh.groupby("cohort")["n"].sum().astype(int)
    return pd.Series(dtype=int)


def limitations(fits: Sequence[FitRecord], eb: EvidenceBase) -> list[str]:
    """What limits the evidence, read from the data and the fits (plain sentences)."""
    annotate(fits, eb)
    out = []
    sizes = _cohort_sizes(eb, fits)
    if len(sizes):
        total = int(sizes.sum())
        text = f"{total} patients in {len(sizes)} cohort{'s' if len(sizes) != 1 else ''}"
        coh = eb.cohorts
        if "center" in coh and len(coh):
            centres = coh["center"].fillna("not stated").nunique()
            text += f" from {centres} centre{'s' if centres != 1 else ''}"
        if len(sizes) > 1:
            big = sizes.idxmax()
            text += (f"; {int(sizes.max())} of them ({100 * sizes.max() / total:.0f}%) from one "
                     f"cohort ({big})")
        out.append(text + ". Results describe these patients, not a population.")
    coh = eb.cohorts
    if "data_level" in coh and len(coh):
        weak = coh[~coh["data_level"].astype(str).isin(["patient-level", "user"])]
        if len(weak):
            parts = [f"{r.cohort} ({r.data_level}" + (f", {int(sizes[r.cohort])} patients)"
                                                      if r.cohort in sizes else ")")
                     for r in weak.itertuples()]
            out.append("Not every cohort is reported patient by patient: " + "; ".join(parts)
                       + ". Their values carry the uncertainty of the source.")
    groupings = sorted({by_of(r) for r in fits} - {"none"})
    if groupings:
        words = " and by ".join(labels.grouping(g) for g in groupings)
        out.append(f"Comparisons by {words} are not randomised: patients differ in more than "
                   "the compared factor, and differences may reflect who was treated.")
    ev = []
    for endpoint in endpoints_in_order(fits):
        rec = primary(fits, endpoint)
        if rec is None or rec.spec.family != "survival":
            continue
        eps = survival_episodes(rec.model)
        what = "deaths" if endpoint == "os" else f"{labels.endpoint_short(endpoint)} events"
        ev.append(f"{int(eps['event'].sum())} {what} in {len(eps)} patients")
    if ev:
        out.append("Few events: " + "; ".join(ev) + ". Survival medians and ratios are "
                   "correspondingly uncertain.")
    marked, total, names = _mostly_prior_counts(fits)
    if total and marked:
        some = "; ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        out.append(f"{marked} of {total} headline numbers are marked mostly prior (their "
                   "posterior is nearly as wide as their prior), so the data say little about "
                   f"them, e.g. {some}.")
    elif total:
        out.append(f"No headline number is marked mostly prior ({total} checked).")
    return out


def _mostly_prior_counts(fits: Sequence[FitRecord]) -> tuple[int, int, list[str]]:
    """Headline rows marked ``mostly_prior``, rows with a verdict, the marked rows in words.

    In words: ``"CR: rate a new cohort should expect, GPRC5D"``.
    """
    marked = total = 0
    names: list[str] = []
    for rec in fits:
        s = rec.model.summary()
        if "mostly_prior" not in s:
            continue
        rows = s[s["quantity"].isin(HEADLINE) & (s.get("source", "posterior") != "prior")]
        known = rows[rows["mostly_prior"].notna()]
        total += len(known)
        hit = known[known["mostly_prior"].astype(bool)]
        marked += len(hit)
        endpoint = endpoint_of(rec)
        names += [f"{labels.endpoint_short(endpoint)}: {labels.quantity(q, endpoint)}, "
                  f"{labels.level(lv)}" for q, lv in zip(hit["quantity"], hit["level"],
                                                          strict=True)]
    return marked, total, list(dict.fromkeys(names))


def limitations_html(items: Sequence[str]) -> str:
    """The limitations box."""
    lis = "".join(f"<li>{esc(t)}</li>" for t in items)
    return f'<div id="limitations"><h2>Limitations</h2><ul>{lis}</ul></div>'
