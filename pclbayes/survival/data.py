"""Turn an evidence base, a CSV path or a data frame into a checked table of episodes."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.data import EvidenceBase, Problem, load, survival_table
from pclbayes.errors import DataValidationError

logger = logging.getLogger(__name__)

_KEYS = ("cohort", "patient_id", "episode")


@dataclass(frozen=True)
class SurvivalData:
    """Episodes of one endpoint with ``time`` (months) and ``event`` (1 event, 0 censored).

    Attributes
    ----------
    table : DataFrame
        One row per episode: ``cohort, patient_id, episode, time, event`` and any other
        columns of the source (covariates, grouping columns).
    endpoint : str
    source : str
        Where the data came from (directory, file or ``"data frame"``).
    data_hash : str
        SHA-256 identifying the data (the evidence base's hash for files).
    excluded : DataFrame
        Episodes without a time for this endpoint, left out and listed.
    cohorts_without_data : list of str
        Cohorts with no episode left for this endpoint.
    """

    table: pd.DataFrame
    endpoint: str
    source: str
    data_hash: str
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)
    cohorts_without_data: list[str] = field(default_factory=list)


def prepare_data(data: Any, endpoint: str = "pfs") -> SurvivalData:
    """Read ``data`` and return checked episodes.

    Parameters
    ----------
    data : EvidenceBase, str, Path, DataFrame or None
        ``None`` loads the bundled evidence base; a path is read with
        :func:`pclbayes.data.load`; a data frame needs ``time`` and ``event`` columns (or
        ``<endpoint>_months`` and ``<endpoint>_event``) and may have ``cohort``
        (absent: one cohort), ``patient_id``, ``episode`` and grouping columns.
    endpoint : str
        ``"pfs"``, ``"os"`` or the prefix of a user's ``<endpoint>_months`` column.

    Raises
    ------
    DataValidationError
        Listing every problem (non-positive or missing times, events not 0/1, ...).
    """
    if data is None or isinstance(data, str | Path):
        data = load(data)
    if isinstance(data, EvidenceBase):
        table = survival_table(data, endpoint)
        excluded = table.attrs.get("excluded", pd.DataFrame())
        empty = list(table.attrs.get("cohorts_without_data", []))
        source, digest = str(data.source), data.data_hash
    elif isinstance(data, pd.DataFrame):
        table, excluded = _from_frame(data, endpoint)
        empty = []
        source = "data frame"
        digest = hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()
    else:
        raise DataValidationError([Problem(
            "data", None, None,
            f"cannot read data of type {type(data).__name__}; give an EvidenceBase, a path "
            "or a data frame with 'time' and 'event' columns")])
    table = _check(table.reset_index(drop=True), source)
    if excluded is None or not isinstance(excluded, pd.DataFrame):
        excluded = pd.DataFrame()
    return SurvivalData(table, endpoint, source, digest, excluded.reset_index(drop=True), empty)


def _from_frame(df: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = df.copy()
    time_col, event_col = "time", "event"
    if not {"time", "event"} & set(df.columns):
        time_col, event_col = f"{endpoint}_months", f"{endpoint}_event"
    missing = [c for c in (time_col, event_col) if c not in df.columns]
    if missing:
        raise DataValidationError([Problem(
            "data frame", None, c,
            f"missing column '{c}'; a survival table needs 'time' and 'event' (or "
            f"'{endpoint}_months' and '{endpoint}_event')") for c in missing])
    df["time"] = pd.to_numeric(df[time_col], errors="coerce")
    df["event"] = pd.to_numeric(df[event_col], errors="coerce")
    if "cohort" not in df.columns:
        df.insert(0, "cohort", "data")
    if "patient_id" not in df.columns:
        df.insert(1, "patient_id", [str(i + 1) for i in range(len(df))])
    if "episode" not in df.columns:
        df["episode"] = df.groupby(["cohort", "patient_id"], sort=False).cumcount() + 1
    no_time = df["time"].isna()
    excluded = df.loc[no_time, ["cohort", "patient_id", "episode"]].assign(
        reason=f"no {endpoint.upper()} time reported")
    return df.loc[~no_time], excluded


def _check(table: pd.DataFrame, source: str) -> pd.DataFrame:
    problems: list[Problem] = []
    for col in ("time", "event", *_KEYS):
        if col not in table.columns:
            problems.append(Problem(source, None, col, f"missing column '{col}'"))
    if problems:
        raise DataValidationError(problems)
    if table.empty:
        raise DataValidationError([Problem(source, None, "time",
                                           "no episode has a time for this endpoint")])
    time = pd.to_numeric(table["time"], errors="coerce").to_numpy(dtype=float)
    event = pd.to_numeric(table["event"], errors="coerce").to_numpy(dtype=float)
    for i in np.flatnonzero(~np.isfinite(time) | (time <= 0)):
        problems.append(Problem(source, i + 1, "time", f"{_who(table, i)}: time must be a "
                                f"positive number of months, got {table['time'].iloc[i]!r}"))
    for i in np.flatnonzero(~np.isin(event, (0.0, 1.0))):
        problems.append(Problem(source, i + 1, "event", f"{_who(table, i)}: event must be 1 "
                                f"(event) or 0 (censored), got {table['event'].iloc[i]!r}"))
    for col in ("cohort", "patient_id"):
        for i in np.flatnonzero(table[col].isna().to_numpy()):
            problems.append(Problem(source, i + 1, col, f"missing {col}"))
    if problems:
        raise DataValidationError(problems)
    out = table.copy()
    out["cohort"] = out["cohort"].astype(str)
    out["patient_id"] = out["patient_id"].astype(str)
    out["episode"] = pd.to_numeric(out["episode"], errors="coerce").fillna(1).astype(int)
    dup = out.duplicated(list(_KEYS), keep=False)
    if dup.any():
        raise DataValidationError([
            Problem(source, int(i) + 1, "episode", f"{_who(out, int(i))}: episode "
                    f"{out['episode'].iloc[int(i)]} appears more than once")
            for i in np.flatnonzero(dup.to_numpy())])
    out["time"] = time
    out["event"] = event.astype(int)
    return out


def _who(table: pd.DataFrame, i: int) -> str:
    row = table.iloc[i]
    return f"patient '{row.get('patient_id', i + 1)}' of cohort '{row.get('cohort', '?')}'"
