"""Responder counts per cohort unit, in the form the response models use."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pclbayes.data import Problem, response_counts
from pclbayes.errors import DataValidationError, SpecError
from pclbayes.response.defaults import REFERENCE_LEVELS

logger = logging.getLogger(__name__)

#: Endpoint name of counts that do not say which response they count.
GENERIC_ENDPOINT = "response"


@dataclass(frozen=True)
class CountData:
    """Responders ``r`` out of ``n`` per cohort unit (a cohort, or a cohort x stratum cell).

    Attributes
    ----------
    units : tuple of str
        Unit labels: the cohort name, or ``"cohort/level"`` when grouped.
    cohorts, groups : tuple of str
        Cohort and stratum level of each unit.
    n, r : ndarray of int
        Patients and responders per unit.
    strata : tuple of str
        Stratum levels, the reference level first.
    stratum_index : ndarray of int
        Position in ``strata`` of each unit's level.
    by : str
        The grouping (``"none"``, ``"target"``, ``"strategy"`` or a column).
    dim : str
        Name of the stratum dimension in results (``by``, or ``"group"`` for none).
    endpoint : str
    source : str
        Where the counts came from (for the model card).
    """

    units: tuple[str, ...]
    cohorts: tuple[str, ...]
    groups: tuple[str, ...]
    n: np.ndarray
    r: np.ndarray
    strata: tuple[str, ...]
    stratum_index: np.ndarray
    by: str
    dim: str
    endpoint: str
    source: str

    @property
    def n_units(self) -> int:
        """Number of cohort units."""
        return len(self.units)

    @property
    def n_strata(self) -> int:
        """Number of strata."""
        return len(self.strata)

    @property
    def contrasts(self) -> tuple[tuple[str, int, int], ...]:
        """``(label, level index, reference index)`` for each non-reference level."""
        return tuple((f"{s} - {self.strata[0]}", i, 0) for i, s in enumerate(self.strata)
                     if i > 0)

    def to_json(self) -> dict[str, Any]:
        """Every field, JSON-able (recorded in a saved fit; see :meth:`from_json`)."""
        return {"units": list(self.units), "cohorts": list(self.cohorts),
                "groups": list(self.groups), "n": [int(v) for v in self.n],
                "r": [int(v) for v in self.r], "strata": list(self.strata),
                "stratum_index": [int(v) for v in self.stratum_index], "by": self.by,
                "dim": self.dim, "endpoint": self.endpoint, "source": self.source}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CountData:
        """Inverse of :meth:`to_json`."""
        return cls(units=tuple(obj["units"]), cohorts=tuple(obj["cohorts"]),
                   groups=tuple(obj["groups"]), n=np.asarray(obj["n"], dtype=np.int64),
                   r=np.asarray(obj["r"], dtype=np.int64), strata=tuple(obj["strata"]),
                   stratum_index=np.asarray(obj["stratum_index"], dtype=np.int64),
                   by=obj["by"], dim=obj["dim"], endpoint=obj["endpoint"],
                   source=obj["source"])

    def frame(self) -> pd.DataFrame:
        """The counts as a DataFrame (one row per unit)."""
        return pd.DataFrame({"unit": self.units, "cohort": self.cohorts, "group": self.groups,
                             "n": self.n, "responders": self.r,
                             "observed": self.r / self.n})


def _problem(source: str, column: str | None, reason: str, row: int | None = None) -> Problem:
    return Problem(source, row, column, reason)


def from_frame(counts: pd.DataFrame, *, endpoint: str, by: str, source: str,
               reference: str | None = None) -> CountData:
    """Build :class:`CountData` from a frame with ``cohort, n, responders`` (and ``group``).

    A frame without ``group`` needs a column named ``by`` unless ``by == "none"``.
    Every problem found is reported at once (:class:`DataValidationError`).
    """
    df = counts.copy()
    missing = [c for c in ("cohort", "n", "responders") if c not in df.columns]
    if "group" not in df.columns:
        if by == "none":
            df["group"] = "all"
        elif by in df.columns:
            df["group"] = df[by]
        else:
            missing.append(by)
    if missing:
        raise DataValidationError([_problem(source, c, f"required column '{c}' is missing "
                                            f"(columns: {', '.join(map(str, df.columns))})")
                                   for c in missing])
    if df.empty:
        raise DataValidationError([_problem(source, None, "no cohort rows to analyse")])
    problems = []
    n = pd.to_numeric(df["n"], errors="coerce")
    r = pd.to_numeric(df["responders"], errors="coerce")
    for i in range(len(df)):
        who = f"cohort '{df['cohort'].iloc[i]}'"
        ni, ri = n.iloc[i], r.iloc[i]
        n_ok = bool(np.isfinite(ni) and ni == int(ni) and ni >= 1)
        if not n_ok:
            problems.append(_problem(source, "n", f"{who}: n={df['n'].iloc[i]} must be an "
                                     "integer >= 1", i + 1))
        if not (np.isfinite(ri) and ri == int(ri) and ri >= 0):
            problems.append(_problem(source, "responders", f"{who}: responders="
                                     f"{df['responders'].iloc[i]} must be an integer >= 0",
                                     i + 1))
        elif n_ok and ri > ni:
            problems.append(_problem(source, "responders", f"{who}: {int(ri)} responders "
                                     f"exceed n={int(ni)}", i + 1))
        if pd.isna(df["group"].iloc[i]):
            problems.append(_problem(source, by, f"{who} has no value for '{by}'", i + 1))
    if problems:
        raise DataValidationError(problems)
    cohorts = tuple(str(c) for c in df["cohort"])
    groups = tuple(str(g) for g in df["group"])
    units = cohorts if by == "none" else tuple(f"{c}/{g}" for c, g in zip(cohorts, groups,
                                                                         strict=True))
    dup = sorted({u for u in units if units.count(u) > 1})
    if dup:
        raise DataValidationError([_problem(source, "cohort", f"cohort unit '{u}' appears more "
                                            "than once; give each cohort one row per level")
                                   for u in dup])
    n_arr = n.to_numpy(dtype=np.int64)
    r_arr = r.to_numpy(dtype=np.int64)
    strata = _order_strata(groups, n_arr, by, reference)
    index = np.array([strata.index(g) for g in groups], dtype=np.int64)
    order = np.lexsort((np.array(units), index))
    return CountData(
        units=tuple(units[i] for i in order), cohorts=tuple(cohorts[i] for i in order),
        groups=tuple(groups[i] for i in order), n=n_arr[order], r=r_arr[order],
        strata=strata, stratum_index=index[order], by=by,
        dim="group" if by == "none" else by, endpoint=endpoint, source=source,
    )


def _order_strata(groups: tuple[str, ...], n: np.ndarray, by: str,
                  reference: str | None) -> tuple[str, ...]:
    levels = sorted(set(groups))
    if reference is None:
        builtin = REFERENCE_LEVELS.get(by)
        if builtin in levels:
            reference = builtin
        else:  # the level with most patients (ties: alphabetical)
            totals = {lv: int(sum(ni for ni, g in zip(n, groups, strict=True) if g == lv))
                      for lv in levels}
            reference = min(levels, key=lambda lv: (-totals[lv], lv))
    elif reference not in levels:
        raise SpecError(f"reference level '{reference}' is not a level of '{by}'; "
                        f"levels: {', '.join(levels)}")
    return (reference, *[lv for lv in levels if lv != reference])


def prepare(data: Any, *, endpoint: str, by: str, include_codata: bool = False,
            reference: str | None = None) -> CountData:
    """Counts from an :class:`~pclbayes.data.EvidenceBase` or a DataFrame of counts.

    ``by="target"`` counts first infusions only; ``by="strategy"`` adds the target-switched
    re-infusions as level ``"switch"`` (see :func:`pclbayes.data.response_counts`).
    """
    if isinstance(data, pd.DataFrame):
        return from_frame(data, endpoint=endpoint, by=by, source="DataFrame",
                          reference=reference)
    if not hasattr(data, "patients") or not hasattr(data, "aggregates"):
        raise SpecError("data must be an EvidenceBase (pclbayes.data.load) or a DataFrame with "
                        f"columns cohort, n, responders; got {type(data).__name__}")
    counts = response_counts(data, endpoint, by, include_codata=include_codata)
    label = endpoint
    if data.patients.empty and "endpoint" not in data.aggregates.columns:
        # counts without endpoint information are what the file says: responders, never
        # labelled ORR or CR on the strength of the --endpoint option alone
        label = GENERIC_ENDPOINT
        if endpoint != GENERIC_ENDPOINT:
            logger.warning("%s has no 'endpoint' column: its counts are fitted as '%s', not "
                           "labelled '%s' (add an 'endpoint' column to name them)",
                           data.source, GENERIC_ENDPOINT, endpoint)
    return from_frame(counts[["cohort", "group", "n", "responders"]], endpoint=label, by=by,
                      source=str(data.source), reference=reference)
