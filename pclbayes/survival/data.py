"""Turn an evidence base, a CSV path or a data frame into a checked table of episodes."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.data import EvidenceBase, Problem, load, survival_table
from pclbayes.errors import DataValidationError, SpecError

logger = logging.getLogger(__name__)

_KEYS = ("cohort", "patient_id", "episode")


@dataclass(frozen=True)
class SurvivalData:
    """Episodes of one endpoint with ``time`` and ``event`` (1 event, 0 censored).

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
    notes : tuple of str
        What :func:`apply_estimand` changed (episodes recoded, censored or left out).
    time_unit : str or None
        The unit the data declare for ``time`` (None: not declared; months are assumed).
    time_unit_source : str
        Where the unit came from (see :attr:`pclbayes.data.EvidenceBase.time_unit_source`).
    """

    table: pd.DataFrame
    endpoint: str
    source: str
    data_hash: str
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)
    cohorts_without_data: list[str] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    time_unit: str | None = None
    time_unit_source: str = "default"


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
        unit_source = data.time_unit_source
        unit = None if unit_source == "default" else data.time_unit
    elif isinstance(data, pd.DataFrame):
        table, excluded = _from_frame(data, endpoint)
        empty = []
        source = "data frame"
        unit, unit_source = _frame_unit(data)
        digest = hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()
    else:
        raise DataValidationError([Problem(
            "data", None, None,
            f"cannot read data of type {type(data).__name__}; give an EvidenceBase, a path "
            "or a data frame with 'time' and 'event' columns")])
    table = _check(table.reset_index(drop=True), source)
    if excluded is None or not isinstance(excluded, pd.DataFrame):
        excluded = pd.DataFrame()
    return SurvivalData(table, endpoint, source, digest, excluded.reset_index(drop=True), empty,
                        time_unit=unit, time_unit_source=unit_source)


def _frame_unit(df: pd.DataFrame) -> tuple[str | None, str]:
    """The unit a data frame declares in a ``time_unit`` column (one value), if any."""
    from pclbayes.data._schema import TIME_UNITS

    if "time_unit" not in df.columns:
        return None, "default"
    values = set(df["time_unit"].dropna().astype(str).str.strip())
    if len(values) != 1 or next(iter(values)) not in TIME_UNITS:
        raise DataValidationError([Problem(
            "data frame", None, "time_unit",
            f"time_unit must hold one of {', '.join(TIME_UNITS)} for every row, got "
            f"{', '.join(sorted(values)) or 'no value'}")])
    return values.pop(), "data"


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


# ---------------------------------------------------------------- estimand options
#: Codings of a PFS event: the source's (progression or death from any cause), or
#: progression only (a death without progression censored at the death).
PFS_CODINGS = ("progression_or_death", "progression")
#: Later events at which follow-up can be censored (``censor_at``).
CENSOR_EVENTS = ("subsequent_therapy", "reinfusion")
#: ``subsequent_therapy`` entries that record that no further therapy was given.
_NO_THERAPY = re.compile(r"^\s*(nd|none|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Estimand:
    """How episodes are coded before a survival fit: the options that define the estimand.

    Attributes
    ----------
    pfs_coding : str
        ``"progression_or_death"`` (default: the source's PFS event, death from any cause
        included) or ``"progression"`` (progression only: an episode with ``progression = 0``
        is censored at its time; an episode without a ``progression`` value keeps its event).
    censor_at : tuple of str
        Censor follow-up at later events (an event after them becomes censored there):
        ``"subsequent_therapy"`` (the start of a therapy recorded in ``subsequent_therapy``,
        at ``subsequent_therapy_months`` after the first infusion, e.g. an allo-HSCT) and/or
        ``"reinfusion"`` (a first infusion's follow-up ends at the patient's target-switched
        re-infusion: the hypothetical estimand "had no re-infusion been given"). Empty: the
        treatment-policy estimand, follow-up regardless of later therapy.
    censor_cohort_events : tuple of str
        Cohorts whose events are all censored at their times (events that are an
        assumption of the extraction, such as Tongji's, T03).
    exclude_cohorts : tuple of str
        Cohorts left out (e.g. press-release data; leave-one-cohort-out).
    """

    pfs_coding: str = "progression_or_death"
    censor_at: tuple[str, ...] = ()
    censor_cohort_events: tuple[str, ...] = ()
    exclude_cohorts: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, endpoint: str, *, pfs_coding: Any = "progression_or_death",
                     censor_at: Any = (), censor_cohort_events: Any = (),
                     exclude_cohorts: Any = ()) -> Estimand:
        """Check the option values of :class:`SurvivalModel` and return them canonical.

        Lists become sorted tuples without repeats, so equal estimands compare equal.

        Raises
        ------
        SpecError
            For a value that is not one of the choices, or a PFS coding for another endpoint.
        """
        if pfs_coding not in PFS_CODINGS:
            raise SpecError(f"pfs_coding must be one of {', '.join(map(repr, PFS_CODINGS))}, "
                            f"got {pfs_coding!r}")
        if pfs_coding != "progression_or_death" and endpoint != "pfs":
            raise SpecError(f"pfs_coding = {pfs_coding!r} applies to the PFS endpoint only "
                            f"(endpoint is {endpoint!r})")
        at = names_option("censor_at", censor_at)
        unknown = [a for a in at if a not in CENSOR_EVENTS]
        if unknown:
            raise SpecError(f"censor_at: unknown event(s) {unknown}; choose from "
                            f"{', '.join(map(repr, CENSOR_EVENTS))}")
        return cls(pfs_coding, at, names_option("censor_cohort_events", censor_cohort_events),
                   names_option("exclude_cohorts", exclude_cohorts))

    @property
    def is_default(self) -> bool:
        """True when nothing is recoded."""
        return self == Estimand()


def names_option(key: str, value: Any) -> tuple[str, ...]:
    """A string or a list of strings as a sorted tuple of distinct names (``None``: empty).

    Raises
    ------
    SpecError
        If ``value`` is neither, or a name is empty.
    """
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str) for v in items):
        raise SpecError(f"{key} must be a name or a list of names, got {value!r}")
    names = tuple(sorted({v.strip() for v in items}))
    if any(not n for n in names):
        raise SpecError(f"{key}: empty name in {value!r}")
    return names


def apply_estimand(sdata: SurvivalData, estimand: Estimand) -> SurvivalData:
    r"""Recode the episodes of ``sdata`` as ``estimand`` says, before any model sees them.

    Steps, in this order: leave out ``exclude_cohorts``; recode PFS events
    (``pfs_coding``); censor at later events (``censor_at``): an episode with time
    :math:`t` and event :math:`d` whose follow-up is censored at :math:`c < t` becomes
    :math:`(c, 0)`, one with :math:`c \ge t` is unchanged; censor every event of
    ``censor_cohort_events``. Each step that changes something adds a note naming the
    episodes it changed.

    Returns
    -------
    SurvivalData
        A copy with the recoded table and the notes (``sdata`` itself when nothing is
        asked).

    Raises
    ------
    SpecError
        A cohort named that the data do not have, or no cohort left.
    DataValidationError
        Data that the recoding needs are missing or invalid (for example a subsequent
        therapy without a time).
    """
    if estimand.is_default:
        return sdata
    table, notes = sdata.table.copy(), list(sdata.notes)
    steps = (
        lambda t: _exclude_cohorts(t, estimand.exclude_cohorts, sdata.source),
        lambda t: _recode_pfs(t, estimand.pfs_coding, sdata.endpoint, sdata.source),
        *(lambda t, what=what: _censor_at(t, what, sdata.endpoint, sdata.source)
          for what in estimand.censor_at),
        lambda t: _censor_cohort_events(t, estimand.censor_cohort_events, sdata.source),
    )
    for step in steps:
        table, note = step(table)
        if note:
            notes.append(note)
    table = _check(table.reset_index(drop=True), sdata.source)
    return replace(sdata, table=table, notes=tuple(notes))


def _episode_names(table: pd.DataFrame, mask: np.ndarray) -> str:
    rows = table.loc[mask]
    names = [f"{c}/{p}" + (f" (episode {e})" if int(e) != 1 else "")
             for c, p, e in zip(rows["cohort"], rows["patient_id"], rows["episode"],
                                strict=True)]
    return ", ".join(names)


def _known_cohorts(table: pd.DataFrame, cohorts: tuple[str, ...], key: str) -> None:
    have = sorted(set(table["cohort"].astype(str)))
    unknown = [c for c in cohorts if c not in have]
    if unknown:
        raise SpecError(f"{key}: no cohort {', '.join(map(repr, unknown))} in the data "
                        f"(cohorts: {', '.join(have)})")


def _exclude_cohorts(table: pd.DataFrame, cohorts: tuple[str, ...], source: str
                     ) -> tuple[pd.DataFrame, str]:
    if not cohorts:
        return table, ""
    _known_cohorts(table, cohorts, "exclude_cohorts")
    drop = table["cohort"].isin(cohorts).to_numpy(dtype=bool)
    if drop.all():
        raise SpecError(f"exclude_cohorts = {list(cohorts)} leaves no cohort in {source}")
    note = (f"cohort(s) {', '.join(cohorts)} left out (exclude_cohorts): "
            f"{int(drop.sum())} episode(s), {int(table.loc[drop, 'event'].sum())} event(s)")
    return table.loc[~drop].reset_index(drop=True), note


def _recode_pfs(table: pd.DataFrame, coding: str, endpoint: str, source: str
                ) -> tuple[pd.DataFrame, str]:
    """Progression-only PFS: ``event = 1`` with ``progression = 0`` becomes censored."""
    if coding == "progression_or_death":
        return table, ""
    if "progression" not in table.columns:
        raise DataValidationError([Problem(
            source, None, "progression",
            "pfs_coding = 'progression' needs a 'progression' column (1 = progression "
            "observed, 0 = none)")])
    progression = pd.to_numeric(table["progression"], errors="coerce").astype(float)
    event = table["event"].to_numpy(dtype=int) == 1
    death_only = event & (progression == 0).to_numpy(dtype=bool)
    unknown = event & progression.isna().to_numpy(dtype=bool)
    out = table.copy()
    out.loc[death_only, "event"] = 0
    note = (f"progression-only PFS (pfs_coding): {int(death_only.sum())} death(s) without "
            f"progression censored at the death"
            + (f" ({_episode_names(table, death_only)})" if death_only.any() else ""))
    if unknown.any():
        note += (f"; {int(unknown.sum())} event(s) without a progression value kept as "
                 f"events ({_episode_names(table, unknown)})")
    return out, note


def _censor_at(table: pd.DataFrame, what: str, endpoint: str, source: str
               ) -> tuple[pd.DataFrame, str]:
    when = (_reinfusion_times(table, source) if what == "reinfusion"
            else _therapy_times(table, source))
    cut = np.isfinite(when) & (when < table["time"].to_numpy(dtype=float))
    out = table.copy()
    out.loc[cut, "time"] = when[cut]
    events = int(table.loc[cut, "event"].sum())
    out.loc[cut, "event"] = 0
    label = {"reinfusion": "the target-switched re-infusion",
             "subsequent_therapy": "the start of a subsequent therapy"}[what]
    if not cut.any():
        return out, f"{endpoint.upper()} censored at {label} (censor_at): no episode changed"
    return out, (f"{endpoint.upper()} censored at {label} (censor_at): "
                 f"{_episode_names(table, cut)}; {events} event(s) became censored")


def _reinfusion_times(table: pd.DataFrame, source: str) -> np.ndarray:
    """Per episode, months from its start to the patient's next re-infusion (else inf)."""
    missing = [c for c in ("strategy", "start_months") if c not in table.columns]
    if missing:
        raise DataValidationError([Problem(
            source, None, c, f"censor_at = 'reinfusion' needs a '{c}' column (the episodes "
            "view of an evidence base has it)") for c in missing])
    start = pd.to_numeric(table["start_months"], errors="coerce").to_numpy(dtype=float)
    key = table["cohort"].astype(str) + "\x1f" + table["patient_id"].astype(str)
    switch = (table["strategy"].astype(str) == "switch").to_numpy()
    when = np.full(len(table), np.inf)
    for i in np.flatnonzero(~switch):
        own = start[i] if np.isfinite(start[i]) else 0.0
        later = start[switch & (key == key.iloc[i]).to_numpy() & (start > own)]
        if later.size:
            when[i] = later.min() - own
    return when


def _therapy_times(table: pd.DataFrame, source: str) -> np.ndarray:
    """Per episode, months from the first infusion to the recorded subsequent therapy."""
    if "subsequent_therapy_months" not in table.columns:
        raise DataValidationError([Problem(
            source, None, "subsequent_therapy_months",
            "censor_at = 'subsequent_therapy' needs a 'subsequent_therapy_months' column "
            "(months from the first infusion to the next therapy)")])
    months = pd.to_numeric(table["subsequent_therapy_months"], errors="coerce")
    therapy = table["subsequent_therapy"] if "subsequent_therapy" in table.columns \
        else pd.Series([pd.NA] * len(table), index=table.index)
    problems = []
    for i in np.flatnonzero(months.isna().to_numpy()):
        text = therapy.iloc[i]
        if not pd.isna(text) and str(text).strip() and not _NO_THERAPY.match(str(text)):
            problems.append(Problem(source, i + 1, "subsequent_therapy_months",
                                    f"{_who(table, i)}: subsequent therapy '{text}' has no "
                                    "time, so its follow-up cannot be censored there"))
    for i in np.flatnonzero((months <= 0).to_numpy()):
        problems.append(Problem(source, i + 1, "subsequent_therapy_months",
                                f"{_who(table, i)}: subsequent therapy must start after the "
                                f"infusion, got {months.iloc[i]!r} months"))
    if problems:
        raise DataValidationError(problems)
    return months.fillna(np.inf).to_numpy(dtype=float)


def _censor_cohort_events(table: pd.DataFrame, cohorts: tuple[str, ...], source: str
                          ) -> tuple[pd.DataFrame, str]:
    if not cohorts:
        return table, ""
    _known_cohorts(table, cohorts, "censor_cohort_events")
    hit = table["cohort"].isin(cohorts).to_numpy(dtype=bool) \
        & (table["event"].to_numpy(dtype=int) == 1)
    out = table.copy()
    out.loc[hit, "event"] = 0
    return out, (f"events of cohort(s) {', '.join(cohorts)} censored at their times "
                 f"(censor_cohort_events): {int(hit.sum())} event(s)"
                 + (f" ({_episode_names(table, hit)})" if hit.any() else ""))


def later_reinfusion_note(table: pd.DataFrame, endpoint: str) -> str:
    """Say which episodes' follow-up runs past the patient's later re-infusion.

    Such an episode measures the treatment-policy estimand (follow-up regardless of later
    therapy); ``censor_at = "reinfusion"`` gives the hypothetical one. Empty when no
    episode does (or the table cannot say: no ``strategy``/``start_months`` columns).
    """
    if not {"strategy", "start_months"} <= set(table.columns):
        return ""
    when = _reinfusion_times(table, "data")
    past = np.isfinite(when) & (when < table["time"].to_numpy(dtype=float))
    if not past.any():
        return ""
    return (f"treatment-policy {endpoint.upper()}: {int(past.sum())} episode(s) include "
            f"follow-up after the patient's later target-switched re-infusion "
            f"({_episode_names(table, past)}), counted regardless of that therapy; "
            "censor_at = 'reinfusion' gives the hypothetical estimand")
