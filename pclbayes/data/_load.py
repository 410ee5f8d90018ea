"""Read the evidence base (bundled or a user's directory or CSV file) and validate it."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pclbayes._paths import BUNDLED_DATA
from pclbayes.data import _validate as v
from pclbayes.data._parse import char_name, control_character, hidden_character, normalise_name
from pclbayes.data._schema import (
    AGGREGATE_COLUMNS,
    AGGREGATE_VALUE_COLUMNS,
    COHORT_COLUMNS,
    DEFAULT_TIME_UNIT,
    MISSING_TOKENS,
    PATIENT_COLUMNS,
    RECORD_COLUMNS,
    REINFUSION_COLUMNS,
    REQUIRED,
    TIME_UNITS,
)
from pclbayes.errors import DataValidationError

logger = logging.getLogger(__name__)

TABLE_FILES = ("cohorts.csv", "patients.csv", "reinfusions.csv", "aggregates.csv")
RECORD_FILES = ("documents.csv", "provenance.csv", "source_issues.csv")


@dataclass
class EvidenceBase:
    """Validated tables of one evidence base.

    Attributes
    ----------
    cohorts : DataFrame
        One row per cohort (``cohort``, ``data_level``, publication details).
    patients : DataFrame
        One row per PCL patient: first-infusion outcomes (see ``data/README.md``).
    reinfusions : DataFrame
        One row per target-switched re-infusion (strategy ``switch``).
    aggregates : DataFrame
        Count rows (``cohort, n, responders``); ``is_pcl = 0`` marks non-PCL co-data.
    records : dict of DataFrame
        Documents, provenance and the source-issue registry, where present.
    source : Path
        The directory or file the tables came from.
    data_hash : str
        SHA-256 over the bytes of every file read (name-sorted): identifies the data.
    warnings : list of Problem
        Values accepted but worth a look (an implausible time, a column pclbayes does not
        know); each is also logged as a warning when the data are loaded.
    time_unit : {"days", "weeks", "months", "years"}
        Unit of every time column (see :data:`pclbayes.data._schema.TIME_UNITS`).
    time_unit_source : str
        Where the unit came from: ``"option"`` (``load(time_unit=...)``, ``--time-unit``),
        ``"data"`` (the ``time_unit`` column of ``patients.csv``), ``"columns"`` (months:
        time columns named ``*_months``, as in the bundled data) or ``"default"`` (months:
        nothing says).
    """

    cohorts: pd.DataFrame
    patients: pd.DataFrame
    reinfusions: pd.DataFrame
    aggregates: pd.DataFrame
    source: Path
    data_hash: str
    records: dict[str, pd.DataFrame] = field(default_factory=dict)
    warnings: list[v.Problem] = field(default_factory=list)
    time_unit: str = DEFAULT_TIME_UNIT
    time_unit_source: str = "default"

    @property
    def time_unit_note(self) -> str:
        """The time unit and where it came from, in words."""
        return time_unit_note(self.time_unit, self.time_unit_source)

    @property
    def episodes(self) -> pd.DataFrame:
        """Infusion episodes: every first infusion plus every target-switched re-infusion."""
        from pclbayes.data.views import episodes

        return episodes(self)

    @property
    def source_issues(self) -> pd.DataFrame:
        """Registry of inconsistencies found in the source documents (may be empty)."""
        return self.records.get("source_issues.csv", pd.DataFrame())

    @property
    def provenance(self) -> pd.DataFrame:
        """Where each extracted value comes from (may be empty)."""
        return self.records.get("provenance.csv", pd.DataFrame())


def time_unit_note(unit: str, source: str) -> str:
    """``"months (the data's time_unit column)"`` and the like."""
    where = {"option": "as given by --time-unit", "data": "the data's time_unit column",
             "columns": "the data's time columns are named in months",
             "default": "the default: the data do not declare a unit"}.get(source, source)
    return f"{unit} ({where})"


def load(path: str | Path | None = None, *, time_unit: str | None = None) -> EvidenceBase:
    """Load and validate an evidence base.

    Parameters
    ----------
    path : str or Path, optional
        ``None`` for the bundled PCL evidence base; a directory holding any of
        ``cohorts.csv``, ``patients.csv``, ``reinfusions.csv``, ``aggregates.csv`` (and the
        record files ``documents.csv``, ``provenance.csv``, ``source_issues.csv``); or a
        single CSV file, read as aggregate counts if it has ``n`` and ``responders``
        columns and as patient rows otherwise.
    time_unit : {"days", "weeks", "months", "years"}, optional
        Unit of the time columns. Default: the unit the data declare (a ``time_unit``
        column of ``patients.csv``, one value for every row; time columns named
        ``*_months`` declare months, as in the bundled data), else months. A unit given
        here that contradicts the data's ``time_unit`` column is an error.
        Times beyond 50 years (in this unit) are accepted with a warning.

    Returns
    -------
    EvidenceBase
        With ``warnings``: values accepted but worth a look (also logged as warnings).

    Raises
    ------
    DataValidationError
        Listing every problem found (file, row, column, reason). Nothing is dropped.

    Notes
    -----
    A single patient-level CSV without a ``cohort`` column is one cohort, named after
    the file. Patient rows need ``patient_id`` only in a directory; in a single file a
    missing ``patient_id`` column is replaced by the row number.

    Checked before any value is used: the path is a directory or a regular file (a named
    pipe or device is refused before it is opened); every CSV file of a directory is one
    pclbayes reads (an unknown or misspelt file name is an error); the file is UTF-8,
    comma-delimited and free of control characters; every column is one of the table's
    (a misspelt name is an error with a suggestion; a column of the user's own is kept
    with a warning, or silently if its name starts with ``x_``); and there are rows.
    """
    source = BUNDLED_DATA if path is None else Path(path)
    problems: list[v.Problem] = []
    warnings: list[v.Problem] = []
    kind = _path_kind(source)
    if kind is not None:
        raise DataValidationError([v.Problem(str(source), None, None, kind)])
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise DataValidationError([v.Problem(
            "time_unit", None, None,
            f"unknown time unit {time_unit!r}; one of {', '.join(TIME_UNITS)}")])
    if source.is_dir():
        raws, hasher = _read_dir(source, problems)
    else:
        raws, hasher = _read_single(source, problems)
    unit, unit_source = _time_unit(raws, time_unit, problems)
    tables = _validate(raws, problems, warnings, unit)
    _check_has_rows(source, raws, tables, problems)
    if problems:
        raise DataValidationError(problems)
    for w in warnings:
        logger.warning("%s", w)
    records = {name: raws[name] for name in RECORD_FILES if raws.get(name) is not None}
    eb = EvidenceBase(
        cohorts=tables["cohorts.csv"],
        patients=tables["patients.csv"],
        reinfusions=tables["reinfusions.csv"],
        aggregates=tables["aggregates.csv"],
        source=source,
        data_hash=hasher.hexdigest(),
        records=records,
        warnings=warnings,
        time_unit=unit,
        time_unit_source=unit_source,
    )
    logger.info(
        "loaded %s: %d cohorts, %d patients, %d re-infusions, %d aggregate rows",
        source, len(eb.cohorts), len(eb.patients), len(eb.reinfusions), len(eb.aggregates),
    )
    return eb


def _path_kind(path: Path, *, dir_ok: bool = True) -> str | None:
    """``None`` for a regular file (or a directory); otherwise why the path cannot be read.

    ``os.stat`` does not open the path, so a named pipe cannot block the program here.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file or directory"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISREG(mode) or (dir_ok and stat.S_ISDIR(mode)):
        return None
    what = ("a directory" if stat.S_ISDIR(mode) else
            "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a file")
    give = "a CSV file or a directory of CSV files" if dir_ok else "a regular CSV file"
    return f"is {what}, not a regular file; give {give}"


#: Larger files are refused: an evidence base of cohorts and patients is far smaller.
MAX_FILE_BYTES = 64 * 2**20


def _read_bytes(path: Path) -> tuple[bytes | None, str]:
    """The bytes of a regular file, or ``None`` and why not.

    Opened without blocking and checked again on the open descriptor, so a path swapped
    for a named pipe after :func:`_path_kind` cannot block either.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror}"
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, "is not a regular file; give a regular CSV file"
        if info.st_size > MAX_FILE_BYTES:
            return None, (f"is {info.st_size / 2**20:.0f} MiB, more than the "
                          f"{MAX_FILE_BYTES / 2**20:.0f} MiB an evidence base can be; is it "
                          "the right file?")
        try:
            return f.read(), ""
        except OSError as exc:
            return None, f"cannot be read: {exc.strerror}"


def _read_csv(path: Path, label: str, problems: list[v.Problem], hasher) -> pd.DataFrame | None:
    """Read one CSV file as text cells; ``None`` (and problems) if it cannot be read."""
    kind = _path_kind(path, dir_ok=False)
    if kind is not None:
        problems.append(v.Problem(label, None, None, kind))
        return None
    data, reason = _read_bytes(path)
    if data is None:
        problems.append(v.Problem(label, None, None, reason))
        return None
    hasher.update(path.name.encode() + b"\0" + data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(_not_utf8(label, data, exc))
        return None
    if not text.strip():
        problems.append(v.Problem(label, None, None, "is empty (a header row is required)"))
        return None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        problems.append(v.Problem(label, None, None, f"is not a readable CSV file ({exc})"))
        return None
    header = _read_header(rows[0], text.split("\n", 1)[0], label, problems)
    if header is None:
        return None
    return _read_body(rows[1:], header, label, problems)


def _not_utf8(label: str, data: bytes, exc: UnicodeDecodeError) -> v.Problem:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return v.Problem(label, None, None, "is UTF-16 text, not UTF-8; save it as 'CSV UTF-8'")
    row = data[:exc.start].count(b"\n")  # 0 = the header line
    return v.Problem(label, row, None, f"is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                     "save it as 'CSV UTF-8'")


def _read_header(fields: list[str], first_line: str, label: str,
                 problems: list[v.Problem]) -> list[str] | None:
    """The normalised column names, or ``None`` (and a problem) for an unusable header.

    A header line with at least as many semicolons (or tabs) as commas is taken to come
    from a file saved with another delimiter: read as CSV, its rows would be one column.
    """
    for delim, name in ((";", "semicolon"), ("\t", "tab")):
        if delim in first_line and first_line.count(delim) >= first_line.count(","):
            problems.append(v.Problem(
                label, 0, None,
                f"looks {name}-delimited: the header {first_line.strip()!r} is read as "
                f"{len(fields)} column(s); save the file as comma-separated CSV (a "
                "spreadsheet's 'CSV UTF-8 (comma delimited)'), with a decimal point in numbers"))
            return None
    for f in fields:
        bad = hidden_character(f.strip())
        if bad is not None:
            problems.append(v.Problem(label, 0, f.strip(),
                                      f"column name contains {char_name(bad)}; retype it"))
            return None
    header = [normalise_name(f) for f in fields]
    if len(set(header)) != len(header) or any(not h for h in header):
        dup = sorted({h for h in header if header.count(h) > 1 or not h})
        problems.append(v.Problem(label, 0, None,
                                  f"header has empty or repeated names: {dup}"))
        return None
    return header


def _read_body(body: list[list[str]], header: list[str], label: str,
               problems: list[v.Problem]) -> pd.DataFrame | None:
    n_before = len(problems)
    ok_rows = []
    for i, r in enumerate(body):
        if not any(cell.strip() for cell in r):
            problems.append(v.Problem(label, i + 1, None, "blank row (remove it)"))
            continue
        if len(r) != len(header):
            problems.append(
                v.Problem(label, i + 1, None, f"has {len(r)} fields, the header has {len(header)}")
            )
            continue
        for col, cell in zip(header, r, strict=True):
            bad = control_character(cell)
            if bad is not None:
                problems.append(v.Problem(label, i + 1, col,
                                          f"contains the control character {char_name(bad)}; "
                                          "remove it"))
        ok_rows.append(r)
    if len(problems) != n_before:
        return None
    return pd.DataFrame(ok_rows, columns=header, dtype=str)


def _read_dir(source: Path, problems: list[v.Problem]):
    hasher = hashlib.sha256()
    raws: dict[str, pd.DataFrame | None] = {}
    _check_dir_entries(source, problems)
    for name in TABLE_FILES + RECORD_FILES:
        p = source / name
        if p.exists() or p.is_symlink():
            raws[name] = _read_csv(p, str(p), problems, hasher)
    raws["_dir"] = pd.DataFrame({"dir": [str(source)]})
    if not any(raws.get(n) is not None for n in ("patients.csv", "aggregates.csv")) \
            and not problems:
        problems.append(
            v.Problem(str(source), None, None,
                      "holds neither patients.csv nor aggregates.csv; nothing to analyse")
        )
    return raws, hasher


def _check_dir_entries(source: Path, problems: list[v.Problem]) -> None:
    """Every data-like file in the directory must be one that pclbayes reads."""
    known = TABLE_FILES + RECORD_FILES
    try:
        entries = sorted(source.iterdir())
    except OSError as exc:
        problems.append(v.Problem(str(source), None, None, f"cannot be read: {exc.strerror}"))
        return
    for p in entries:
        name, suffix = p.name, p.suffix.lower()
        if name in known or name.startswith(".") or suffix not in _DATA_SUFFIXES:
            continue
        stem_match, _ = v.closest_name(p.stem + ".csv", known)
        if suffix in _SPREADSHEET_SUFFIXES:
            target = f" named '{stem_match}'" if stem_match else ""
            reason = (f"is a spreadsheet file; pclbayes reads only CSV: save it as CSV{target} "
                      f"(known files: {', '.join(known)})")
        else:
            match, case_only = v.closest_name(name, known)
            hint = (f"did you mean '{match}'?" + (" (file names are case-sensitive)"
                                                  if case_only else "")) if match else \
                "it is not one of the files pclbayes reads"
            reason = (f"unknown file: {hint} Its rows would be ignored; rename it or move it "
                      f"out of the directory (known files: {', '.join(known)})")
        problems.append(v.Problem(str(p), None, None, reason))


def _read_single(source: Path, problems: list[v.Problem]):
    hasher = hashlib.sha256()
    raw = _read_csv(source, str(source), problems, hasher)
    raws: dict[str, pd.DataFrame | None] = {"_single": pd.DataFrame({"file": [str(source)]})}
    if raw is None:
        return raws, hasher
    if _looks_like_counts(raw.columns):
        raws["aggregates.csv"] = raw
    else:
        if "cohort" not in raw.columns:
            logger.info("%s has no 'cohort' column: all rows form cohort '%s'", source, source.stem)
            raw.insert(0, "cohort", source.stem)
        if "patient_id" not in raw.columns:
            raw.insert(1, "patient_id", [str(i + 1) for i in range(len(raw))])
        raws["patients.csv"] = raw
    return raws, hasher


def _looks_like_counts(columns) -> bool:
    """A file is read as counts if any column is (or is close to) ``n`` or ``responders``."""
    return any(v.closest_name(c, ("n", "responders"))[0] is not None for c in columns)


def _check_has_rows(source: Path, raws: dict, tables: dict, problems: list[v.Problem]) -> None:
    """A file or directory without a single patient or count row is an error, not 0 cohorts."""
    if problems or len(tables["patients.csv"]) + len(tables["aggregates.csv"]) > 0:
        return
    if raws.get("_single") is not None:
        reason = ("has a header but no data rows; add one row per patient (or per cohort "
                  "count: cohort, n, responders)")
    else:
        reason = "patients.csv and aggregates.csv have no data rows; nothing to analyse"
    problems.append(v.Problem(str(source), None, None, reason))


_SPECS = {
    "cohorts.csv": COHORT_COLUMNS,
    "patients.csv": PATIENT_COLUMNS,
    "reinfusions.csv": REINFUSION_COLUMNS,
    "aggregates.csv": AGGREGATE_COLUMNS,
}
_DATA_SUFFIXES = frozenset({".csv", ".tsv", ".xlsx", ".xls", ".xlsm", ".ods", ".numbers"})
_SPREADSHEET_SUFFIXES = frozenset({".xlsx", ".xls", ".xlsm", ".ods", ".numbers"})


def _time_unit(raws: dict, given: str | None, problems: list[v.Problem]) -> tuple[str, str]:
    """The data's time unit and its source (``option``, ``data`` or ``default``).

    The ``time_unit`` column of ``patients.csv`` must hold one known unit (missing cells
    allowed); a unit ``given`` must agree with it.
    """
    raw = raws.get("patients.csv")
    declared = None
    if raw is not None and "time_unit" in raw.columns:
        label = _file_label(raws, "patients.csv")
        values = {str(t).strip() for t in raw["time_unit"]} - set(MISSING_TOKENS)
        unknown = sorted(values - set(TIME_UNITS))
        if unknown:
            problems.append(v.Problem(label, None, "time_unit",
                                      f"unknown time unit(s) {', '.join(unknown)}; one of "
                                      f"{', '.join(TIME_UNITS)}"))
        elif len(values) > 1:
            problems.append(v.Problem(label, None, "time_unit",
                                      "one time unit for every row, got "
                                      f"{', '.join(sorted(values))}; convert the times to "
                                      "one unit"))
        elif values:
            declared = values.pop()
    if given is not None:
        if declared is not None and declared != given:
            problems.append(v.Problem(_file_label(raws, "patients.csv"), None, "time_unit",
                                      f"the data declare times in {declared}, but time unit "
                                      f"{given} was asked for (--time-unit); drop one of them"))
        return given, "option"
    if declared is not None:
        return declared, "data"
    named = [c for c in (raw.columns if raw is not None else []) if str(c).endswith("_months")]
    if named:
        return "months", "columns"
    return DEFAULT_TIME_UNIT, "default"


def _validate(raws: dict, problems: list[v.Problem], warnings: list[v.Problem],
              time_unit: str = DEFAULT_TIME_UNIT) -> dict[str, pd.DataFrame]:
    for name in RECORD_FILES:
        if raws.get(name) is not None:
            v.check_columns(list(raws[name].columns), RECORD_COLUMNS[name],
                            _file_label(raws, name), name, problems, warnings)
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLE_FILES:
        raw = raws.get(name)
        label = _file_label(raws, name)
        suggested: set[str] = set()
        if raw is not None:
            suggested = v.check_columns(list(raw.columns), tuple(_SPECS[name]), label,
                                        _table_name(raws, name), problems, warnings)
        if raw is None or not v.check_required(raw, REQUIRED[name], label, problems, suggested):
            tables[name] = _empty(REQUIRED[name])
            continue
        df = v.parse_table(raw, _SPECS[name], label, problems, warnings, time_unit)
        v.check_not_missing(df, REQUIRED[name], label, problems)
        tables[name] = df
    pat, rein, agg, coh = (tables[n] for n in TABLE_FILES[1:] + TABLE_FILES[:1])
    v.check_unique(coh, ("cohort",), _file_label(raws, "cohorts.csv"), problems,
                   raw=raws.get("cohorts.csv"))
    v.check_unique(pat, ("cohort", "patient_id"), _file_label(raws, "patients.csv"), problems,
                   raw=raws.get("patients.csv"))
    v.check_unique(rein, ("cohort", "patient_id", "episode"), _file_label(raws, "reinfusions.csv"),
                   problems, raw=raws.get("reinfusions.csv"))
    v.check_unique(agg, tuple(c for c in agg.columns if c not in AGGREGATE_VALUE_COLUMNS),
                   _file_label(raws, "aggregates.csv"), problems,
                   raw=raws.get("aggregates.csv"), column="cohort")
    for name, df in (("patients.csv", pat), ("reinfusions.csv", rein)):
        v.check_response_flags(df, _file_label(raws, name), problems)
        v.check_time_event(df, _file_label(raws, name), problems)
    v.check_counts(agg, _file_label(raws, "aggregates.csv"), problems)
    _check_cohorts_defined(raws, tables, problems)
    _check_reinfusions(raws, pat, rein, problems, time_unit)
    if raws.get("cohorts.csv") is None:
        tables["cohorts.csv"] = _implied_cohorts(pat, agg)
    return tables


def _table_name(raws, name: str) -> str:
    """How a table is called in messages: its file name, or the kind of rows of one file."""
    if raws.get("_single") is None:
        return name
    return "count rows" if name == "aggregates.csv" else "patient rows"


def _file_label(raws, name: str) -> str:
    single = raws.get("_single")
    if single is not None:
        return str(single["file"].iloc[0])
    return str(Path(raws["_dir"]["dir"].iloc[0]) / name)


def _empty(required: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in required})


def _implied_cohorts(pat: pd.DataFrame, agg: pd.DataFrame) -> pd.DataFrame:
    names = pd.unique(pd.concat([pat["cohort"], agg["cohort"]]).dropna())
    return pd.DataFrame({
        "cohort": pd.Series(names, dtype="string"),
        "data_level": pd.Series(["user"] * len(names), dtype="string"),
    })


def _check_cohorts_defined(raws, tables, problems: list[v.Problem]) -> None:
    if raws.get("cohorts.csv") is None:
        return
    defined = set(tables["cohorts.csv"]["cohort"].dropna())
    for name in ("patients.csv", "reinfusions.csv", "aggregates.csv"):
        df = tables[name]
        if "cohort" not in df.columns:
            continue
        for i, c in enumerate(df["cohort"]):
            if not pd.isna(c) and c not in defined:
                problems.append(
                    v.Problem(_file_label(raws, name), i + 1, "cohort",
                              f"cohort '{c}' is not defined in cohorts.csv "
                              f"(defined: {', '.join(sorted(defined))}); add a row there")
                )


def _check_reinfusions(raws, pat: pd.DataFrame, rein: pd.DataFrame, problems,
                       unit: str = DEFAULT_TIME_UNIT) -> None:
    if rein.empty or "target" not in rein.columns:
        return
    label = _file_label(raws, "reinfusions.csv")
    index = {
        (c, p): i for i, (c, p) in enumerate(zip(pat.get("cohort", []), pat.get("patient_id", []),
                                                 strict=True))
    }
    for i, row in enumerate(rein.itertuples(index=False)):
        key = (row.cohort, row.patient_id)
        if key not in index:
            problems.append(v.Problem(label, i + 1, "patient_id",
                                      f"patient '{row.patient_id}' of cohort '{row.cohort}' is not "
                                      "in patients.csv"))
            continue
        first = pat.iloc[index[key]]
        same = "target" in pat.columns and not pd.isna(first["target"]) \
            and not pd.isna(row.target)
        if same and first["target"] == row.target:
            problems.append(v.Problem(label, i + 1, "target",
                                      f"re-infusion target {row.target} equals the first target; "
                                      "only target-switched re-infusions (strategy 'switch') are "
                                      "supported"))
        start = row.start_months
        if pd.isna(start):
            continue
        relapsed = "progression" in pat.columns and not pd.isna(first["progression"]) \
            and first["progression"] == 1
        if relapsed and "pfs_months" in pat.columns and not pd.isna(first["pfs_months"]) \
                and start < first["pfs_months"] - 1e-9:
            problems.append(v.Problem(label, i + 1, "start_months",
                                      f"re-infusion at {start:g} {unit} precedes the relapse at "
                                      f"{first['pfs_months']:g} {unit}"))
        if "os_months" in pat.columns and not pd.isna(first["os_months"]):
            os_t = float(first["os_months"])
            if start >= os_t:
                problems.append(v.Problem(label, i + 1, "start_months",
                                          f"re-infusion at {start:g} {unit} is not before the "
                                          f"patient's OS time {os_t:g}"))
            elif "pfs_months" in rein.columns and not pd.isna(row.pfs_months) and \
                    start + row.pfs_months > os_t + 1e-9:
                problems.append(v.Problem(
                    label, i + 1, "pfs_months",
                    f"PFS after re-infusion ({row.pfs_months:g}) runs past the patient's OS time "
                    f"({os_t:g} - {start:g} = {os_t - start:g} {unit})"))
