"""Reader-facing labels of the report: every quantity, grouping, column and fit in words.

The models name their results with identifiers (``pooled_rate``,
``survival_at_12_new_cohort``, ``response_cr_by_target@vague``); the report shows none of
them. Every section asks this module for the words, so one quantity has one label
everywhere, and a label can only name what the data and the specification hold (an
endpoint read from generic ``time``/``event`` columns is "time to event", not PFS).

Numbers are formatted here too: counts as integers, probabilities as percentages, times in
months with "not reached" where a median lies beyond follow-up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pclbayes.specs import Spec

__all__ = ["COLUMN", "INTERNAL_NAMES", "column", "count", "endpoint_long", "endpoint_short",
           "fit_title", "grouping", "humanise", "level", "months", "note", "number", "pct",
           "quantity", "relabel", "time_unit", "variant"]

#: Endpoints by their short and long names.
_ENDPOINTS = {
    "orr": ("ORR", "objective response (PR or better)"),
    "cr": ("CR", "complete response or better"),
    "vgpr_or_better": ("VGPR", "very good partial response or better"),
    "pfs": ("PFS", "progression-free survival"),
    "os": ("OS", "overall survival"),
    "time": ("time to event", "time to event"),
    "response": ("response", "response"),
}

#: What "event-free at t" means per survival endpoint.
_FREE = {"pfs": "progression-free", "os": "alive", "time": "event-free"}

#: Grouping columns in words.
_GROUPING = {"target": "antigen target", "strategy": "re-infusion strategy",
             "pcl_type": "PCL type", "cohort": "cohort", "none": "all patients",
             "all": "all patients"}

#: Group levels in words (levels not listed are shown as the data spell them).
_LEVEL = {"first": "first infusion", "switch": "target-switched re-infusion",
          "shared": "all groups", "all": "all"}

#: Table columns in words (columns not listed lose their underscores).
COLUMN = {
    "orr_responders": "ORR responders", "cr_or_better": "CR or better",
    "pfs_events": "PFS events", "pfs_censored": "PFS censored", "os_deaths": "deaths",
    "os_censored": "alive at last contact", "reinfusions": "re-infusions",
    "document_id": "document", "trial_registration": "trial registration",
    "costimulatory_domain": "costimulatory domain", "center": "centre",
    "is_pcl": "PCL patients only", "issue_id": "issue", "affects_analysis": "affects analysis",
    "predicted_mean": "predicted (mean)", "lower": "95% lower", "upper": "95% upper",
    "p_value": "predictive p-value", "expected_mean": "expected events (mean)",
    "expected_lower": "expected, 95% lower", "expected_upper": "expected, 95% upper",
    "elpd_loo": "elpd (LOO)", "p_loo": "effective parameters", "se": "SE",
    "elpd_diff": "elpd difference", "dse": "SE of difference", "p": "effective parameters",
    "n": "n", "prob_gt": "P(> 0)", "median": "median", "statistic": "checked count",
    "data_level": "data level", "data_cutoff": "data cutoff",
    "pfs_event": "PFS event", "os_event": "OS event", "pfs_months": "PFS time",
    "os_months": "OS time", "subsequent_therapy": "subsequent therapy",
    "subsequent_therapy_months": "time of subsequent therapy", "crs_grade": "CRS grade",
    "icans_grade": "ICANS grade", "best_response": "best response",
    "response_day28": "day-28 response", "mrd_negative": "MRD negative",
    "soft_tissue": "soft-tissue involvement", "patient_id": "patient",
    "start_months": "start time", "pcl_type": "PCL type",
    "vgpr_or_better": "VGPR or better", "source_issues": "source issues",
}

#: Every identifier the models and the data use that must not reach a reader (checked by
#: the tests against the rendered page; spec names and ``name@variant`` are added there).
INTERNAL_NAMES = frozenset({
    "pooled_rate", "predictive_rate", "cohort_rate", "between_cohort_sd", "median_time",
    "median_time_new_cohort", "survival_at_6", "survival_at_12", "survival_at_6_new_cohort",
    "survival_at_12_new_cohort", "time_ratio", "hazard_ratio", "cohort_time_ratio",
    "km_median", "prob_gt", "prob_gt_value", "ess_bulk", "r_hat", "mcse_mean", "ci_prob",
    "orr_responders", "cr_or_better", "pfs_events", "pfs_censored", "os_deaths",
    "os_censored", "document_id", "trial_registration", "costimulatory_domain", "is_pcl",
    "issue_id", "affects_analysis", "predicted_mean", "p_value", "expected_mean",
    "expected_lower", "expected_upper", "elpd_loo", "p_loo", "elpd_diff", "pcl_type",
    "pfs_event", "os_event", "pfs_months", "os_months", "mostly_prior", "prior_sd_ratio",
    "group_of_episode", "data_level", "data_cutoff", "subsequent_therapy",
    "subsequent_therapy_months", "crs_grade", "icans_grade", "best_response",
    "vgpr_or_better", "start_months", "prior_median", "prior_lower", "prior_upper",
    "time_unit_source", "loo_predictive", "prior_conflict", "dispersion_prior",
    "chi_square",
})


# ---------------------------------------------------------------- numbers
def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def count(x: Any) -> str:
    """A count as an integer (``2.0`` -> ``"2"``); empty for a missing value."""
    return "" if _missing(x) else f"{round(float(x)):d}"


def pct(x: Any) -> str:
    """A probability as a whole percentage, ``<1%``/``>99%`` at the edges."""
    if _missing(x):
        return ""
    v = 100 * float(x)
    if 0 < v < 0.5:
        return "<1%"
    if 99.5 <= v < 100:
        return ">99%"
    return f"{v:.0f}%"


def months(x: Any, *, unit: bool = True, time_unit: str = "months") -> str:
    """A time (one decimal) in ``time_unit``; ``"not reached"`` for an infinite median."""
    if _missing(x):
        return ""
    if not math.isfinite(float(x)):
        return "not reached"
    return f"{float(x):.1f}" + (f" {time_unit}" if unit else "")


def time_unit(model: Any) -> str:
    """The time unit of a fitted survival model (months for one that has none)."""
    return str(getattr(model, "time_unit_", None) or "months")


def number(x: Any, digits: int = 2) -> str:
    """A real number with ``digits`` decimals; ``"not reached"`` for infinity."""
    if _missing(x):
        return ""
    if not math.isfinite(float(x)):
        return "not reached"
    return f"{float(x):.{digits}f}"


# ---------------------------------------------------------------- words
def endpoint_short(endpoint: str) -> str:
    """``"ORR"``, ``"PFS"``, ...; an unknown endpoint as it is spelt, upper case."""
    return _ENDPOINTS.get(endpoint, (endpoint.upper().replace("_", " "), ""))[0]


def endpoint_long(endpoint: str) -> str:
    """``"objective response (PR or better)"``, ``"overall survival"``, ..."""
    short, long = _ENDPOINTS.get(endpoint, (endpoint.upper().replace("_", " "), ""))
    return long or short


def grouping(by: str) -> str:
    """A grouping column in words (``target`` -> ``"antigen target"``)."""
    return _GROUPING.get(by, by.replace("_", " "))


def level(value: Any) -> str:
    """A group level or contrast in words (``"switch vs first"`` spelt out)."""
    text = str(value)
    for sep in (" vs ", " - "):
        if sep in text:
            a, b = text.split(sep, 1)
            return f"{level(a)}{' vs ' if sep == ' vs ' else ' minus '}{level(b)}"
    if "/" in text:
        return ", ".join(level(p) for p in text.split("/"))
    return _LEVEL.get(text, text)


def variant(name: str) -> str:
    """A prior-sensitivity variant in words (``"default"`` is the specification's own)."""
    return "own priors" if name == "default" else name.replace("-", " ").replace("_", " ")


def column(name: str) -> str:
    """A table column in words."""
    return COLUMN.get(name, name.replace("_", " "))


_SURV_AT = re.compile(r"survival_at_(?P<h>[0-9.]+)(?P<new>_new_cohort)?$")


def quantity(name: str, endpoint: str | None = None, time_unit: str = "months") -> str:
    """A summary quantity in words, for ``endpoint`` where it depends on it.

    ``survival_at_12_new_cohort`` of OS is "alive at 12 months, new cohort", of PFS
    "progression-free at 12 months, new cohort"; ``median_time`` is "median PFS".
    """
    short = endpoint_short(endpoint) if endpoint else ""
    m = _SURV_AT.match(name)
    if m:
        free = _FREE.get(endpoint or "time", "event-free")
        return f"{free} at {m['h']} {time_unit}" + (", new cohort" if m["new"] else "")
    fixed = {
        "pooled_rate": "pooled rate (population mean)",
        "predictive_rate": "rate a new cohort should expect",
        "cohort_rate": "cohort rate (shrunken)",
        "contrast": "difference in pooled rates",
        "kappa": "concentration kappa",
        "sigma": "between-cohort SD of the log-odds",
        "between_cohort_sd": "between-cohort SD of the rate",
        "median_time": f"median {short}".strip(),
        "median_time_new_cohort": f"median {short}, new cohort".replace("  ", " ").strip(),
        "time_ratio": "time ratio",
        "hazard_ratio": "hazard ratio",
        "shape": "Weibull shape",
        "sigma_cohort": "between-cohort SD of the log median time",
        "cohort_time_ratio": "cohort time ratio",
        "kendall_tau": "Kendall's tau (within patient)",
        "km_median": "Kaplan-Meier median",
    }
    return fixed.get(name, name.replace("_", " "))


def fit_title(spec: Spec, endpoint: str | None = None) -> str:
    """The heading of a fit: its specification's title, unless the data changed what it is.

    A specification adapted to data without its grouping column (``by = "none"``) keeps a
    title that names the grouping ("... by re-infusion strategy"), and one fitted to
    generic columns (``endpoint`` ``time`` or ``response``, see
    :func:`pclbayes.report.findings.endpoint_of`) a title that names its endpoint; the
    heading then says what was fitted: the endpoint, by the grouping or pooled over all
    cohorts.
    """
    by = str(spec.options.get("by", "none"))
    title = spec.title or ""
    declared = str(spec.options.get("endpoint", "pfs" if spec.family == "survival"
                                    else "orr"))
    generic = endpoint is not None and endpoint != declared
    if generic or (by == "none" and re.search(r"\bby\b", title)):
        what = endpoint_long(endpoint or declared)
        how = f" by {grouping(by)}" if by != "none" else ", pooled over all cohorts (no grouping)"
        return f"{what[0].upper()}{what[1:]}{how}"
    return title or spec.name.replace("_", " ")


def note(text: str, titles: Mapping[str, str] | None = None) -> str:
    """A message that starts with a specification name, starting with its heading instead.

    ``titles`` maps specification names to the headings the report uses for them; names
    not in it (e.g. skipped specifications) lose their underscores.
    """
    name, sep, rest = text.partition(": ")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        return text
    return f"{(titles or {}).get(name, name.replace('_', ' '))}: {rest}"


_IDENT = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


def humanise(text: str) -> str:
    """Replace data and model identifiers in prose (``pcl_type`` -> ``PCL type``)."""
    def repl(m: re.Match) -> str:
        word = m.group(0)
        if word in _GROUPING:
            return grouping(word)
        if word in COLUMN:
            return column(word)
        return word

    return _IDENT.sub(repl, text)


def relabel(df: pd.DataFrame, *, endpoint: str | None = None) -> pd.DataFrame:
    """``quantity`` and ``level`` columns in words, other columns renamed by :data:`COLUMN`."""
    out = df.copy()
    if "quantity" in out:
        out["quantity"] = [quantity(q, endpoint) for q in out["quantity"]]
    for col in ("level", "group", "cohort"):
        if col in out and not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = [level(v) for v in out[col]]
    return out.rename(columns={c: column(c) for c in out.columns})
