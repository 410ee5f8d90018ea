"""Parse raw CSV text into typed columns, collecting every problem instead of stopping."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pclbayes.data._schema import (
    CR_CATEGORIES,
    MISSING_TOKENS,
    ORR_CATEGORIES,
    TIME_EVENT_PAIRS,
    Column,
)


@dataclass(frozen=True)
class Problem:
    """One problem in one cell (or row, or file) of an input table.

    ``row`` is the 1-based data row (the header is not counted); ``line`` is the line
    number in the CSV file, header included.
    """

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row} (line {self.row + 1})")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return ", ".join(where) + f": {self.reason}"


def _suggest(value: str, choices: tuple[str, ...]) -> str:
    lowered = {c.lower(): c for c in choices}
    if value.lower() in lowered:
        return f"; did you mean '{lowered[value.lower()]}'? (values are case-sensitive)"
    close = difflib.get_close_matches(value, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def parse_table(
    raw: pd.DataFrame, schema: dict[str, Column], file: str, problems: list[Problem]
) -> pd.DataFrame:
    """Convert a table of strings to typed columns; append a Problem for each bad cell.

    Columns not in ``schema`` are kept as strings. Missing cells (empty or ``NA``)
    become ``pd.NA``/``NaN``; nothing else is coerced.
    """
    out = pd.DataFrame(index=raw.index)
    for name in raw.columns:
        values = raw[name].astype(str).str.strip()
        spec = schema.get(name, Column("str"))
        parsed: list[object] = []
        for i, text in enumerate(values):
            row = i + 1
            if text in MISSING_TOKENS:
                parsed.append(None)
                continue
            value, reason = _parse_cell(text, spec)
            if reason is not None:
                problems.append(Problem(file, row, name, reason))
                parsed.append(None)
            else:
                parsed.append(value)
        out[name] = _as_series(parsed, spec, raw.index)
    return out


def _parse_cell(text: str, spec: Column) -> tuple[object, str | None]:
    if spec.kind in ("str",):
        return text, None
    if spec.kind == "category":
        if text in spec.choices:
            return text, None
        return None, (
            f"unknown value '{text}'; allowed: {', '.join(spec.choices)}"
            + _suggest(text, spec.choices)
        )
    try:
        number = float(text)
    except ValueError:
        return None, f"'{text}' is not a number"
    if not math.isfinite(number):
        return None, f"'{text}' is not a finite number"
    if spec.kind == "binary":
        if number in (0.0, 1.0) and text in ("0", "1", "0.0", "1.0"):
            return int(number), None
        return None, f"'{text}' must be 0 or 1"
    if spec.kind == "int":
        if not number.is_integer():
            return None, f"'{text}' must be a whole number"
        number = int(number)
    if spec.positive and number <= 0:
        return None, f"{text} must be > 0"
    if spec.min_value is not None and number < spec.min_value:
        return None, f"{text} must be >= {spec.min_value:g}"
    if spec.max_value is not None and number > spec.max_value:
        return None, f"{text} must be <= {spec.max_value:g}"
    return number, None


def _as_series(values: list[object], spec: Column, index: pd.Index) -> pd.Series:
    if spec.kind in ("binary", "int"):
        return pd.Series(values, index=index, dtype="Int64")
    if spec.kind == "float":
        return pd.Series(
            [np.nan if v is None else v for v in values], index=index, dtype="float64"
        )
    return pd.Series(values, index=index, dtype="string")


def check_required(
    raw: pd.DataFrame, required: tuple[str, ...], file: str, problems: list[Problem]
) -> bool:
    """Record a problem for each missing required column; return True if all are present."""
    missing = [c for c in required if c not in raw.columns]
    for col in missing:
        problems.append(
            Problem(file, None, col,
                    f"required column is missing (found: {', '.join(raw.columns)})")
        )
    return not missing


def check_not_missing(
    df: pd.DataFrame, columns: tuple[str, ...], file: str, problems: list[Problem]
) -> None:
    """Every listed column must have a value in every row."""
    for col in columns:
        if col not in df.columns:
            continue
        for i in np.flatnonzero(df[col].isna().to_numpy()):
            if not _already_reported(problems, file, i + 1, col):
                problems.append(Problem(file, i + 1, col, "value is required"))


def _already_reported(problems: list[Problem], file: str, row: int, col: str) -> bool:
    return any(p.file == file and p.row == row and p.column == col for p in problems)


def check_unique(
    df: pd.DataFrame, keys: tuple[str, ...], file: str, problems: list[Problem]
) -> None:
    """Rows must be unique on ``keys`` (e.g. patient id within cohort)."""
    if not all(k in df.columns for k in keys):
        return
    dup = df.duplicated(subset=list(keys), keep="first")
    for i in np.flatnonzero(dup.to_numpy()):
        key = ", ".join(f"{k}={df[k].iloc[i]}" for k in keys)
        first = int(np.flatnonzero((df[list(keys)] == df[list(keys)].iloc[i]).all(axis=1))[0]) + 1
        problems.append(
            Problem(file, i + 1, keys[-1], f"duplicate ({key}); first seen in row {first}")
        )


def check_response_flags(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """ORR and CR-or-better flags must agree with the best response category."""
    if "best_response" not in df.columns:
        return
    for flag, categories, label in (
        ("orr", ORR_CATEGORIES, "PR or better"),
        ("cr_or_better", CR_CATEGORIES, "CR or better"),
    ):
        if flag not in df.columns:
            continue
        for i, (best, value) in enumerate(zip(df["best_response"], df[flag], strict=True)):
            if pd.isna(best) or pd.isna(value):
                continue
            expected = int(best in categories)
            if int(value) != expected:
                problems.append(
                    Problem(
                        file, i + 1, flag,
                        f"{flag}={value} contradicts best_response '{best}' "
                        f"({label} gives {flag}={expected})",
                    )
                )


def check_time_event(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """Times and events come in pairs; PFS cannot exceed OS; progression implies a PFS event."""
    for time_col, event_col in TIME_EVENT_PAIRS:
        if time_col not in df.columns and event_col not in df.columns:
            continue
        if (time_col in df.columns) != (event_col in df.columns):
            present, absent = (
                (time_col, event_col) if time_col in df.columns else (event_col, time_col)
            )
            problems.append(Problem(file, None, absent, f"'{present}' is given without '{absent}'"))
            continue
        for i, (t, e) in enumerate(zip(df[time_col], df[event_col], strict=True)):
            if pd.isna(t) != pd.isna(e) and not _already_reported(
                problems, file, i + 1, time_col
            ) and not _already_reported(problems, file, i + 1, event_col):
                missing = time_col if pd.isna(t) else event_col
                other = event_col if pd.isna(t) else time_col
                problems.append(
                    Problem(file, i + 1, missing, f"missing while '{other}' is given")
                )
    if {"pfs_months", "os_months"} <= set(df.columns):
        for i, (p, o) in enumerate(zip(df["pfs_months"], df["os_months"], strict=True)):
            if not (pd.isna(p) or pd.isna(o)) and p > o + 1e-9:
                problems.append(
                    Problem(file, i + 1, "pfs_months", f"PFS time {p:g} exceeds OS time {o:g}")
                )
    if {"progression", "pfs_event"} <= set(df.columns):
        for i, (prog, ev) in enumerate(zip(df["progression"], df["pfs_event"], strict=True)):
            if not (pd.isna(prog) or pd.isna(ev)) and prog == 1 and ev == 0:
                problems.append(
                    Problem(file, i + 1, "pfs_event", "progression=1 requires pfs_event=1")
                )
    if {"pfs_months", "pfs_event", "os_months", "os_event"} <= set(df.columns):
        for i, row in enumerate(
            df[["pfs_months", "pfs_event", "os_months", "os_event"]].itertuples(index=False)
        ):
            p, pe, o, oe = row
            if any(pd.isna(v) for v in row):
                continue
            if oe == 1 and pe == 0 and abs(p - o) < 1e-9:
                problems.append(
                    Problem(
                        file, i + 1, "pfs_event",
                        "death at the PFS time must be a PFS event (PFS counts death from any "
                        "cause); code pfs_event=1",
                    )
                )


def check_counts(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """Responders must lie in 0..n."""
    if not {"n", "responders"} <= set(df.columns):
        return
    for i, (n, r) in enumerate(zip(df["n"], df["responders"], strict=True)):
        if pd.isna(n) or pd.isna(r):
            continue
        if r > n:
            problems.append(Problem(file, i + 1, "responders", f"responders={r} exceeds n={n}"))
