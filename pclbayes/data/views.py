"""Analysis views of an evidence base: episodes, response counts, survival tables, summaries."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from pclbayes.data._schema import ENDPOINT_COLUMNS
from pclbayes.data._validate import Problem
from pclbayes.errors import DataValidationError

if TYPE_CHECKING:
    from pclbayes.data._load import EvidenceBase

logger = logging.getLogger(__name__)

#: Columns of a re-infusion that replace the patient's first-infusion values in its episode.
_EPISODE_OWN = ("target", "best_response", "orr", "cr_or_better", "pfs_months", "pfs_event",
                "progression")
#: Per-infusion columns that are unknown for a re-infusion unless its own table gives them.
_CLEARED = ("response_day28", "mrd_negative", "crs_grade", "icans_grade", "dose_1e6_per_kg",
            "subsequent_therapy", "subsequent_therapy_months")


def episodes(eb: EvidenceBase) -> pd.DataFrame:
    """Return one row per infusion episode.

    First infusions (``strategy = "first"``, ``episode = 1``, ``start_months = 0``) carry the
    patient's own outcomes. Each target-switched re-infusion (``strategy = "switch"``)
    carries its own target, response and PFS from that infusion, the patient's
    baseline columns (sex, age, PCL type, ...), and OS from the re-infusion derived as
    ``os_months - start_months`` with the patient's ``os_event``.
    """
    pat = eb.patients.copy()
    first = pat.assign(
        episode=pd.array([1] * len(pat), dtype="Int64"),
        strategy=pd.array(["first"] * len(pat), dtype="string"),
        start_months=0.0,
    )
    rein = eb.reinfusions
    if rein.empty:
        return first.reset_index(drop=True)
    keys = pd.MultiIndex.from_frame(first[["cohort", "patient_id"]].astype(str))
    where = keys.get_indexer(pd.MultiIndex.from_frame(rein[["cohort", "patient_id"]].astype(str)))
    switch = first.iloc[where].reset_index(drop=True)
    for col in switch.columns:
        if col in _EPISODE_OWN or col in _CLEARED:
            own = rein[col] if col in rein.columns else pd.Series([None] * len(rein))
            switch[col] = own.astype(first[col].dtype).to_numpy()
    start = rein["start_months"].to_numpy(dtype=float)
    if "os_months" in switch.columns:
        switch["os_months"] = switch["os_months"].to_numpy(dtype=float) - start
    switch["episode"] = pd.array(rein["episode"].fillna(2), dtype="Int64")
    switch["strategy"] = pd.array(["switch"] * len(rein), dtype="string")
    switch["start_months"] = start
    out = pd.DataFrame({
        col: pd.array(list(first[col]) + list(switch[col]), dtype=first[col].dtype)
        for col in first.columns
    })
    order = out["patient_id"].astype(str).str.zfill(12)
    out = out.assign(_order=order).sort_values(["cohort", "_order", "episode"], kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)


def episode_columns(eb: EvidenceBase) -> list[str]:
    """The columns of :func:`episodes` (without building the table)."""
    return [*eb.patients.columns,
            *(c for c in ("episode", "strategy", "start_months") if c not in eb.patients)]


def _patient_file(eb: EvidenceBase) -> str:
    return str(eb.source / "patients.csv") if eb.source.is_dir() else str(eb.source)


def _agg_file(eb: EvidenceBase) -> str:
    return str(eb.source / "aggregates.csv") if eb.source.is_dir() else str(eb.source)


def response_counts(
    eb: EvidenceBase, endpoint: str = "orr", by: str = "none", *, include_codata: bool = False
) -> pd.DataFrame:
    """Count responders per cohort and group.

    Parameters
    ----------
    eb : EvidenceBase
    endpoint : str
        ``"orr"`` (PR or better), ``"cr"`` (CR or better), or the name of a 0/1
        outcome column of the patient table (aggregate rows: the ``endpoint`` column).
    by : str
        ``"none"`` (one group ``"all"``), ``"target"``, ``"strategy"`` or any column.
        Only first infusions are counted unless ``by="strategy"``, which adds the
        target-switched re-infusions as group ``"switch"``.
    include_codata : bool
        Add aggregate rows flagged ``is_pcl = 0`` (non-PCL co-data). Off by default.

    Returns
    -------
    DataFrame
        Columns ``cohort, group, n, responders, source`` (source ``patients`` or
        ``aggregate``), one row per cohort x group; ``attrs["by"]`` and
        ``attrs["endpoint"]`` record the request.
    """
    problems: list[Problem] = []
    parts = []
    if not eb.patients.empty:
        parts.append(_patient_counts(eb, endpoint, by, problems))
    if not eb.aggregates.empty:
        parts.append(_aggregate_counts(eb, endpoint, by, include_codata, problems))
    if problems:
        raise DataValidationError(problems)
    parts = [p for p in parts if not p.empty]
    if not parts:
        raise DataValidationError([Problem(str(eb.source), None, None,
                                           f"no rows for endpoint '{endpoint}'")])
    out = pd.concat(parts, ignore_index=True)
    clashes = _clashes(out, eb, by)
    if clashes:
        raise DataValidationError(clashes)
    out.attrs.update(by=by, endpoint=endpoint)
    return out


def _clashes(out: pd.DataFrame, eb: EvidenceBase, by: str) -> list[Problem]:
    """One problem per cohort x group counted more than once, saying where the rows come from."""
    problems = []
    dup = out.duplicated(["cohort", "group"], keep=False)
    for (cohort, group), rows in out[dup].groupby(["cohort", "group"], sort=False):
        if set(rows["source"]) == {"aggregate"}:
            problems.append(Problem(
                _agg_file(eb), None, "cohort",
                f"cohort '{cohort}' has {len(rows)} aggregate rows in group '{group}' "
                f"(grouping by '{by}'); count them apart by the column that tells them apart "
                "(--by COLUMN, or by=COLUMN), or merge them into one row"))
        else:
            problems.append(Problem(
                str(eb.source), None, "cohort",
                f"cohort '{cohort}', group '{group}' has both patient rows and aggregate rows; "
                "keep one of them"))
    return problems


def _patient_counts(eb, endpoint: str, by: str, problems: list[Problem]) -> pd.DataFrame:
    file = _patient_file(eb)
    column = ENDPOINT_COLUMNS.get(endpoint, endpoint)
    eps = episodes(eb)
    if by != "strategy":
        eps = eps[eps["strategy"] == "first"]
    if column not in eps.columns:
        problems.append(Problem(file, None, column,
                                f"endpoint '{endpoint}' needs a 0/1 column '{column}'"))
        return pd.DataFrame()
    group = _group_column(eps, by, file, problems)
    if group is None:
        return pd.DataFrame()
    values = eps[column]
    bad = values.isna() | ~values.isin([0, 1])
    for _, r in eps[bad].iterrows():
        problems.append(Problem(file, None, column,
                                f"patient '{r['patient_id']}' of cohort '{r['cohort']}' "
                                f"({r['strategy']} infusion) has no 0/1 value for '{column}'"))
    if bad.any():
        return pd.DataFrame()
    frame = pd.DataFrame({"cohort": eps["cohort"].astype(str), "group": group.astype(str),
                          "y": values.astype(int)})
    out = frame.groupby(["cohort", "group"], sort=False).agg(n=("y", "size"),
                                                            responders=("y", "sum"))
    return out.reset_index().assign(source="patients")


def _group_column(df: pd.DataFrame, by: str, file: str, problems: list[Problem]):
    if by == "none":
        return pd.Series(["all"] * len(df), index=df.index)
    if by not in df.columns:
        problems.append(Problem(file, None, by,
                                f"cannot group by '{by}': no such column "
                                f"(columns: {', '.join(map(str, df.columns))})"))
        return None
    missing = df[by].isna()
    for _, r in df[missing].iterrows():
        who = f"patient '{r['patient_id']}' of cohort '{r['cohort']}'" if "patient_id" in r \
            else f"cohort '{r['cohort']}'"
        problems.append(Problem(file, None, by, f"{who} has no value for grouping column '{by}'"))
    return None if missing.any() else df[by]


def _aggregate_counts(eb, endpoint: str, by: str, include_codata: bool,
                      problems: list[Problem]) -> pd.DataFrame:
    file = _agg_file(eb)
    agg = eb.aggregates
    if "is_pcl" in agg.columns and not include_codata:
        agg = agg[agg["is_pcl"].fillna(1) == 1]
    if "endpoint" in agg.columns:
        agg = agg[agg["endpoint"] == endpoint]
    if agg.empty:
        return pd.DataFrame()
    if by == "strategy" and "strategy" not in agg.columns:
        group = pd.Series(["first"] * len(agg), index=agg.index)
        logger.info("%s: no 'strategy' column; aggregate rows counted as first infusions", file)
    else:
        group = _group_column(agg, by, file, problems)
        if group is None:
            return pd.DataFrame()
    cohort = agg["cohort"].astype(str)
    if "population" in agg.columns and "is_pcl" in agg.columns:
        codata = agg["is_pcl"] == 0
        cohort = cohort.where(~codata, cohort + " [" + agg["population"].astype(str) + "]")
    return pd.DataFrame({
        "cohort": cohort.to_numpy(), "group": group.astype(str).to_numpy(),
        "n": agg["n"].astype(int).to_numpy(),
        "responders": agg["responders"].astype(int).to_numpy(),
        "source": "aggregate",
    })


def survival_table(eb: EvidenceBase, endpoint: str = "pfs") -> pd.DataFrame:
    """Return the episodes with ``time`` (in ``eb.time_unit``) and ``event`` (1 or 0).

    Uses the columns ``{endpoint}_months`` and ``{endpoint}_event``, or the generic
    ``time`` and ``event`` columns of a user's file. Episodes without a time for the
    endpoint (e.g. OS not reported) are left out *and listed* in
    ``attrs["excluded"]``; cohorts left with no rows are in ``attrs["cohorts_without_data"]``.
    """
    file = _patient_file(eb)
    eps = episodes(eb)
    time_col, event_col = f"{endpoint}_months", f"{endpoint}_event"
    if time_col not in eps.columns and {"time", "event"} <= set(eps.columns):
        time_col, event_col = "time", "event"
    if time_col not in eps.columns or event_col not in eps.columns:
        raise DataValidationError([Problem(
            file, None, time_col,
            f"endpoint '{endpoint}' needs columns '{time_col}' and '{event_col}' "
            "(or generic 'time' and 'event')",
        )])
    have = eps[time_col].notna() & eps[event_col].notna()
    excluded = eps.loc[~have, ["cohort", "patient_id", "episode", "strategy"]].assign(
        reason=f"no {endpoint.upper()} time reported")
    if not excluded.empty:
        logger.warning("%s: %d episode(s) have no %s time and are left out: %s", file,
                       len(excluded), endpoint.upper(),
                       ", ".join(f"{c}/{p}" for c, p in zip(excluded.cohort, excluded.patient_id,
                                                             strict=True)))
    out = eps.loc[have].copy()
    out["time"] = out[time_col].astype(float)
    out["event"] = out[event_col].astype(int)
    out = out.reset_index(drop=True)
    all_cohorts = set(eb.cohorts["cohort"].dropna()) | set(eps["cohort"].dropna())
    out.attrs.update(
        endpoint=endpoint,
        excluded=excluded.reset_index(drop=True),
        cohorts_without_data=sorted(all_cohorts - set(out["cohort"])),
    )
    return out


def cohort_summary(eb: EvidenceBase) -> pd.DataFrame:
    """Per cohort and first-infusion target: patients, responders, CR, PFS events and more.

    Counts of a column the data lack are 0 (:func:`cohort_counts` keeps only the counts
    the data can give). Generic ``time``/``event`` files add ``events`` and ``censored``.
    """
    eps = episodes(eb)
    if eps.empty:
        return pd.DataFrame()
    first = eps[eps["strategy"] == "first"]
    if "target" not in first.columns:
        first = first.assign(target=pd.NA)

    def count(df: pd.DataFrame, col: str, value: int = 1) -> int:
        return int((df[col] == value).sum()) if col in df.columns else 0

    rows = []
    for (cohort, target), g in first.groupby(["cohort", "target"], sort=True, dropna=False):
        switch = eps[(eps["strategy"] == "switch") & (eps["cohort"] == cohort)
                     & eps["patient_id"].isin(g["patient_id"])]
        rows.append({
            "cohort": cohort, "target": "unknown" if pd.isna(target) else target,
            "patients": len(g),
            "orr_responders": count(g, "orr"), "cr_or_better": count(g, "cr_or_better"),
            "pfs_events": count(g, "pfs_event"), "pfs_censored": count(g, "pfs_event", 0),
            "os_deaths": count(g, "os_event"), "os_censored": count(g, "os_event", 0),
            "reinfusions": len(switch),
            **({"events": count(g, "event"), "censored": count(g, "event", 0)}
               if "event" in g.columns else {}),
        })
    return pd.DataFrame(rows)


#: Columns of :func:`cohort_summary` and the data column each count needs.
COUNT_SOURCES = {"orr_responders": "orr", "cr_or_better": "cr_or_better",
                 "pfs_events": "pfs_event", "pfs_censored": "pfs_event",
                 "os_deaths": "os_event", "os_censored": "os_event",
                 "events": "event", "censored": "event"}


def cohort_counts(eb: EvidenceBase) -> pd.DataFrame:
    """:func:`cohort_summary` with only the counts the data can give.

    A count is kept when its data column exists (``orr`` for responders, ``pfs_event``
    for PFS events, ``event`` for the events of a generic ``time``/``event`` file);
    ``target`` when the data name targets; re-infusions when the data record any.
    """
    summary = cohort_summary(eb)
    if summary.empty:
        return summary
    cols = set(eb.patients.columns)
    drop = [c for c, need in COUNT_SOURCES.items() if c in summary and need not in cols]
    if "target" in summary and not summary["target"].ne("unknown").any():
        drop.append("target")
    if "reinfusions" in summary and eb.reinfusions.empty:
        drop.append("reinfusions")
    return summary.drop(columns=drop)
