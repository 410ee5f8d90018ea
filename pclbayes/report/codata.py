"""Report section: borrowing from non-PCL co-data, PCL-only and borrowed answers side by side.

Shown only when the evidence base holds co-data rows (``is_pcl = 0``, e.g. the bundled
Tongji myeloma counts). For each response endpoint with co-data, the pooled PCL response
rate without borrowing, with the power prior at several weights :math:`a_0` and with the
robust MAP prior of the co-data, and the prior-data conflict p-value of the PCL counts under
the co-data MAP prior. The statistics are :mod:`pclbayes.planning.borrowing`; this module
only lays them out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pclbayes.errors import PclBayesError
from pclbayes.report.html import Page, para, table

__all__ = ["codata_section"]

#: Power-prior weights shown in the report.
REPORT_A0 = (0.25, 0.5, 1.0)
#: Robust weight of the co-data MAP prior shown in the report.
REPORT_ROBUST_WEIGHT = 0.2


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _rows(eb: Any, endpoint: str, population: str | None) -> tuple[pd.DataFrame, str] | None:
    """The comparison table and the conflict line of one endpoint (None: nothing to show)."""
    from pclbayes.data.views import response_counts
    from pclbayes.planning.borrowing import borrow_response, codata_rows

    try:
        codata = codata_rows(eb, endpoint=endpoint, population=population)
        pcl = response_counts(eb, endpoint, "none")
    except PclBayesError:
        return None
    power = borrow_response(pcl, codata, "power", a0=REPORT_A0[0], a0_grid=REPORT_A0)
    robust = borrow_response(pcl, codata, "robust-map", robust_weight=REPORT_ROBUST_WEIGHT,
                             robust_grid=(REPORT_ROBUST_WEIGHT,), n_draws=4000)
    first = power.comparison.iloc[0]
    rows = [{"analysis": "PCL only (uniform prior)", "mean": _pct(first["pcl_mean"]),
             "95% interval": f"{_pct(first['pcl_lower'])} to {_pct(first['pcl_upper'])}"}]
    for rec in power.sensitivity.itertuples():
        if rec.a0 > 0:
            rows.append({"analysis": f"power prior, a0 = {rec.a0:g} (co-data worth "
                                     f"{rec.prior_ess - 2:.0f} patients)",
                         "mean": _pct(rec.mean),
                         "95% interval": f"{_pct(rec.lower)} to {_pct(rec.upper)}"})
    r = robust.comparison.iloc[0]
    rows.append({"analysis": f"robust MAP prior of the co-data, robust weight "
                             f"{REPORT_ROBUST_WEIGHT:g}", "mean": _pct(r["borrowed_mean"]),
                 "95% interval": f"{_pct(r['borrowed_lower'])} to {_pct(r['borrowed_upper'])}"})
    pooled = power.conflict.iloc[-1]
    co = ", ".join(f"{c} {k}/{n}" for c, n, k in
                   codata[["cohort", "n", "responders"]].itertuples(index=False))
    line = (f"{endpoint.upper()}: PCL {int(pooled['responders'])}/{int(pooled['n'])} against "
            f"co-data {co}. Prior-data conflict: the PCL counts have predictive p-value "
            f"{pooled['p_value']:.2f} under the co-data MAP prior (small values: the co-data "
            "predicted the PCL data badly, so borrow little).")
    return pd.DataFrame(rows), line


def codata_section(page: Page, eb: Any) -> None:
    """Add the co-data section to ``page`` when ``eb`` has co-data rows; else nothing."""
    from pclbayes.planning.borrowing import BUNDLED_CODATA_POPULATION

    agg = getattr(eb, "aggregates", None)
    if agg is None or agg.empty or "is_pcl" not in agg.columns or not (agg["is_pcl"] == 0).any():
        return
    endpoints = list(dict.fromkeys(agg.loc[agg["is_pcl"] == 0, "endpoint"].astype(str))) \
        if "endpoint" in agg.columns else ["orr"]
    population = BUNDLED_CODATA_POPULATION if "population" in agg.columns and agg[
        "population"].astype(str).str.contains(BUNDLED_CODATA_POPULATION, regex=False).any() \
        else None
    shown = [(e, res) for e in endpoints if (res := _rows(eb, e, population)) is not None]
    if not shown:
        return
    parts = page.section("codata", "Borrowing from non-PCL co-data")
    parts.append(para(
        "The myeloma patients of a CAR T trial respond like PCL patients only in part. The "
        "analyses above use PCL patients alone; here the pooled PCL response rate is shown "
        "without borrowing and with the co-data discounted: a power prior with weight a0 and "
        "the robust MAP prior of the co-data (docs/planning.md, section 14; pclbayes fit "
        "response --codata bundled --borrow power|robust-map|exnex)."))
    for endpoint, (frame, line) in shown:
        parts.append(para(line))
        parts.append(table(frame, caption=f"{endpoint.upper()}: pooled PCL response rate, "
                           "PCL only and borrowed"))
