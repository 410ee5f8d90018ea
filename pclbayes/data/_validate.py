"""Parse raw CSV text into typed columns, collecting every problem instead of stopping."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pclbayes.data._parse import (
    char_name,
    hidden_character,
    normalise_name,
    parse_number,
)
from pclbayes.data._schema import (
    AGGREGATE_VALUE_COLUMNS,
    CR_CATEGORIES,
    DEFAULT_TIME_UNIT,
    EXTRA_PREFIX,
    KNOWN_ENDPOINTS,
    MISSING_TOKENS,
    ORR_CATEGORIES,
    TIME_EVENT_PAIRS,
    TIME_UNITS,
    Column,
)


@dataclass(frozen=True)
class Problem:
    """One problem in one cell (or row, or file) of an input table.

    ``row`` is the 1-based data row (the header is not counted; ``0`` is the header
    itself); the message also gives the line number in the CSV file, header included.
    """

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row == 0:
            where.append("header (line 1)")
        elif self.row is not None:
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
    raw: pd.DataFrame,
    schema: dict[str, Column],
    file: str,
    problems: list[Problem],
    warnings: list[Problem] | None = None,
    time_unit: str = DEFAULT_TIME_UNIT,
) -> pd.DataFrame:
    """Convert a table of strings to typed columns; append a Problem for each bad cell.

    Every number goes through :func:`~pclbayes.data._parse.parse_number` and every name
    through :func:`~pclbayes.data._parse.normalise_name`. Columns not in ``schema`` are kept
    as stripped text. Missing cells (empty or ``NA``) become ``pd.NA``/``NaN``; nothing else
    is coerced. Implausible but valid values (``Column.plausible_max``, in months, compared
    after conversion from ``time_unit``) are appended to ``warnings``.
    """
    out = pd.DataFrame(index=raw.index)
    for name in raw.columns:
        spec = schema.get(name, _EXTRA)
        parsed: list[object] = []
        for i, text in enumerate(raw[name].astype(str)):
            row = i + 1
            if text.strip() in MISSING_TOKENS:
                parsed.append(None)
                continue
            value, reason, caution = _parse_cell(text, spec, time_unit)
            if reason is not None:
                problems.append(Problem(file, row, name, reason))
            elif caution is not None and warnings is not None:
                warnings.append(Problem(file, row, name, caution))
            parsed.append(value if reason is None else None)
        out[name] = _as_series(parsed, spec, raw.index)
    return out


_EXTRA = Column("str")
#: Beyond 2**53 a double no longer holds every whole number (nor does an int64 column hold
#: every parsed value), so larger counts are refused rather than rounded.
_MAX_WHOLE = 2.0**53


def _parse_cell(text: str, spec: Column, time_unit: str = DEFAULT_TIME_UNIT
                ) -> tuple[object, str | None, str | None]:
    """Return ``(value, error, warning)`` for one non-missing cell."""
    if spec.kind == "str":
        return text.strip(), None, None
    if spec.kind in ("name", "category"):
        hidden = hidden_character(text.strip())
        if hidden is not None:
            return None, (f"{text.strip()!r} contains the invisible character "
                          f"{char_name(hidden)}; delete it (retype the value)"), None
        value = normalise_name(text)
        if spec.kind == "name" or value in spec.choices:
            return value, None, None
        return None, (
            f"unknown value '{value}'; allowed: {', '.join(spec.choices)}"
            + _suggest(value, spec.choices)
        ), None
    number, reason = parse_number(text)
    if reason is not None:
        return None, reason, None
    return _check_number(number, text.strip(), spec, time_unit)


def _check_number(number: float, text: str, spec: Column, time_unit: str = DEFAULT_TIME_UNIT
                  ) -> tuple[object, str | None, str | None]:
    if spec.kind == "binary":
        if number in (0.0, 1.0):
            return int(number), None, None
        return None, f"'{text}' must be 0 or 1", None
    if spec.kind == "int":
        if not number.is_integer():
            return None, f"'{text}' must be a whole number", None
        if abs(number) > _MAX_WHOLE:
            return None, f"{text} is too large for a whole number (at most 2**53)", None
        number = int(number)
    if spec.positive and number <= 0:
        return None, f"{text} must be > 0", None
    if spec.min_value is not None and number < spec.min_value:
        return None, f"{text} must be >= {spec.min_value:g}", None
    if spec.max_value is not None and number > spec.max_value:
        return None, f"{text} must be <= {spec.max_value:g}", None
    caution = None
    if spec.plausible_max is not None and number > spec.plausible_max * TIME_UNITS[time_unit]:
        other = "months? days?" if time_unit in ("years", "weeks") else "days? weeks?"
        caution = (f"{number:g} {time_unit} is implausible (more than "
                   f"{spec.plausible_max / 12:g} years; times are in {time_unit}): check the "
                   f"value and its unit ({other} a typo?)")
    return number, None, caution


def _as_series(values: list[object], spec: Column, index: pd.Index) -> pd.Series:
    if spec.kind in ("binary", "int"):
        return pd.Series(values, index=index, dtype="Int64")
    if spec.kind == "float":
        return pd.Series(
            [np.nan if v is None else v for v in values], index=index, dtype="float64"
        )
    return pd.Series(values, index=index, dtype="string")


def check_columns(
    columns: list[str],
    known: tuple[str, ...],
    file: str,
    table: str,
    problems: list[Problem],
    warnings: list[Problem],
) -> set[str]:
    """Every column must be one of ``known``, or declared the user's own (``x_`` prefix).

    A column close to a known name (same name in another case, or a
    :func:`difflib.get_close_matches` ratio >= 0.8) is an error with the suggestion: it is
    most likely a misspelling whose values would otherwise be silently ignored. Any other
    unknown column is kept as text with a warning. Returns the known names suggested.
    """
    suggested = set()
    for col in columns:
        if col in known or col.startswith(EXTRA_PREFIX):
            continue
        match, case_only = closest_name(col, known)
        if match is not None:
            suggested.add(match)
            note = " Column names are case-sensitive." if case_only else ""
            problems.append(Problem(
                file, 0, col,
                f"unknown column; did you mean '{match}'?{note} Rename it; if it is a column "
                f"of your own, prefix it with '{EXTRA_PREFIX}' (e.g. '{EXTRA_PREFIX}{col}')"))
        else:
            warnings.append(Problem(
                file, 0, col,
                f"not a pclbayes column of {table}: kept as text (usable for grouping, "
                f"--by {col}); prefix it with '{EXTRA_PREFIX}' to mark it as your own and "
                "silence this warning"))
    return suggested


def closest_name(name: str, known: tuple[str, ...] | list[str]) -> tuple[str | None, bool]:
    """The known name ``name`` most likely stands for, and whether only the case differs."""
    folded = {k.casefold(): k for k in known}
    if name.casefold() in folded:
        return folded[name.casefold()], True
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.8)
    return (folded[close[0]], False) if close else (None, False)


def check_required(
    raw: pd.DataFrame,
    required: tuple[str, ...],
    file: str,
    problems: list[Problem],
    suggested: set[str] = frozenset(),
) -> bool:
    """Record a problem for each missing required column; return True if all are present.

    Columns in ``suggested`` (a header name was reported as a likely misspelling of them)
    are not reported again.
    """
    missing = [c for c in required if c not in raw.columns]
    for col in (c for c in missing if c not in suggested):
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
    df: pd.DataFrame,
    keys: tuple[str, ...],
    file: str,
    problems: list[Problem],
    *,
    raw: pd.DataFrame | None = None,
    column: str | None = None,
) -> None:
    """Rows must be unique on ``keys`` (e.g. patient id within cohort).

    Keys are compared after normalisation, so ``" a "`` repeats ``"a"``; when ``raw`` (the
    table as written) is given, the message shows how a written value was read.
    """
    keys = tuple(k for k in keys if k in df.columns)
    if not keys or df.empty:
        return
    values = [[None if pd.isna(x) else x for x in df[k]] for k in keys]
    first_seen: dict[tuple, int] = {}
    for i, key in enumerate(zip(*values, strict=True)):
        if key not in first_seen:
            first_seen[key] = i
            continue
        first = first_seen[key]
        shown = ", ".join(f"{k}='{v}'" for k, v in zip(keys, key, strict=True) if v is not None)
        reason = (f"duplicate row: {shown} was already given in row {first + 1}"
                  + _how_read(raw, keys, (first, i), df)
                  + "; remove one of them or tell them apart")
        problems.append(Problem(file, i + 1, column or keys[-1], reason))


def _how_read(raw: pd.DataFrame | None, keys: tuple[str, ...], rows: tuple[int, ...],
              df: pd.DataFrame) -> str:
    if raw is None:
        return ""
    notes = []
    for k in keys:
        if k not in raw.columns:
            continue
        for i in rows:
            written, read = str(raw[k].iloc[i]), df[k].iloc[i]
            if not pd.isna(read) and written != str(read):
                notes.append(f"'{written}' (row {i + 1}) is read as '{read}'")
    if not notes:
        return ""
    return "; " + ", ".join(notes) + " (surrounding and repeated spaces are ignored)"


def check_response_flags(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """ORR and CR-or-better flags must agree with the best response category."""
    if "best_response" not in df.columns:
        check_cr_implies_orr(df, file, problems)
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
    check_cr_implies_orr(df, file, problems)


def check_cr_implies_orr(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """A complete response (or better) is a response: ``cr_or_better = 1`` needs ``orr = 1``."""
    if not {"orr", "cr_or_better"} <= set(df.columns):
        return
    for i, (orr, cr) in enumerate(zip(df["orr"], df["cr_or_better"], strict=True)):
        if not (pd.isna(orr) or pd.isna(cr)) and cr == 1 and orr == 0 \
                and not _already_reported(problems, file, i + 1, "orr"):
            problems.append(Problem(
                file, i + 1, "orr",
                "orr=0 contradicts cr_or_better=1 (a complete response or better is a "
                "response); code orr=1, or cr_or_better=0"))


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
        # progression = 0 states a death without progression: censoring it is the
        # progression-only coding of PFS, not a forgotten death
        no_progression = (df["progression"] == 0).fillna(False).to_numpy(dtype=bool) \
            if "progression" in df.columns else np.zeros(len(df), dtype=bool)
        for i, row in enumerate(
            df[["pfs_months", "pfs_event", "os_months", "os_event"]].itertuples(index=False)
        ):
            p, pe, o, oe = row
            if any(pd.isna(v) for v in row) or no_progression[i]:
                continue
            if oe == 1 and pe == 0 and abs(p - o) < 1e-9:
                problems.append(
                    Problem(
                        file, i + 1, "pfs_event",
                        "death at the PFS time must be a PFS event (PFS counts death from any "
                        "cause); code pfs_event=1, or progression=0 for a progression-only "
                        "coding (a death without progression censored)",
                    )
                )


def check_counts(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """Responders must lie in 0..n; CR responders cannot exceed ORR responders."""
    if not {"n", "responders"} <= set(df.columns):
        return
    for i, (n, r) in enumerate(zip(df["n"], df["responders"], strict=True)):
        if pd.isna(n) or pd.isna(r):
            continue
        if r > n:
            problems.append(Problem(file, i + 1, "responders", f"responders={r} exceeds n={n}"))
    _check_cr_within_orr(df, file, problems)
    _check_endpoint_names(df, file, problems)


def _check_endpoint_names(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """An endpoint written like a known one (``ORR``, ``vgpr_or_beter``) would match no model."""
    if "endpoint" not in df.columns:
        return
    for i, name in enumerate(df["endpoint"]):
        if pd.isna(name):
            problems.append(Problem(
                file, i + 1, "endpoint",
                "value is required: the row counts for no endpoint; write one (orr, cr, ...) "
                "or drop the 'endpoint' column to count every row for the endpoint asked"))
            continue
        if name in KNOWN_ENDPOINTS:
            continue
        match, case_only = closest_name(name, KNOWN_ENDPOINTS)
        if match is not None:
            note = " (endpoint names are case-sensitive)" if case_only else ""
            problems.append(Problem(
                file, i + 1, "endpoint",
                f"endpoint '{name}' is not '{match}'{note}; did you mean '{match}'? As written, "
                f"the row would not be counted for '{match}'"))


def _check_cr_within_orr(df: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    """Rows ``endpoint = cr`` and ``orr`` of the same cohort and group: CR <= ORR responders."""
    if "endpoint" not in df.columns:
        return
    group_cols = [c for c in df.columns if c not in (*AGGREGATE_VALUE_COLUMNS, "endpoint")]
    orr_rows: dict[tuple, int] = {}
    endpoints = ["" if pd.isna(e) else e for e in df["endpoint"]]
    for i, endpoint in enumerate(endpoints):
        if endpoint == "orr":
            orr_rows.setdefault(_group_key(df, i, group_cols), i)
    for i, row in enumerate(df.itertuples(index=False)):
        j = orr_rows.get(_group_key(df, i, group_cols)) if endpoints[i] == "cr" else None
        if j is None or pd.isna(row.responders) or pd.isna(df["responders"].iloc[j]):
            continue
        orr = int(df["responders"].iloc[j])
        if row.responders > orr:
            problems.append(Problem(
                file, i + 1, "responders",
                f"CR responders ({row.responders}) exceed the ORR responders ({orr}) of the "
                f"same cohort in row {j + 1}; a complete response is a response"))


def _group_key(df: pd.DataFrame, i: int, columns: list[str]) -> tuple:
    return tuple(None if pd.isna(v) else v for v in df[columns].iloc[i])
