"""Bad input: every rule gives exit code 2 and a message naming file, row and column."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pclbayes.cli import main
from pclbayes.data import load
from pclbayes.errors import DataValidationError


def edit(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell (1-based data row) of a CSV file."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
        header = list(rows[0].keys())
    rows[row - 1][column] = value
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)


def drop_column(path: Path, column: str) -> None:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    header = [h for h in rows[0] if h != column]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


# (file, row, column, new value, words the message must contain)
CELL_CASES = [
    ("aggregates.csv", 1, "responders", "31", "exceeds n=30"),
    ("aggregates.csv", 2, "responders", "-1", "must be >= 0"),
    ("aggregates.csv", 3, "n", "30.5", "whole number"),
    ("patients.csv", 3, "pfs_months", "0", "must be > 0"),
    ("patients.csv", 4, "os_months", "ten", "not a number"),
    ("patients.csv", 5, "pfs_event", "2", "must be 0 or 1"),
    ("patients.csv", 6, "target", "CD20", "unknown value 'CD20'"),
    ("patients.csv", 7, "target", "bcma", "did you mean 'BCMA'"),
    ("patients.csv", 8, "best_response", "nCR", "unknown value 'nCR'"),
    ("patients.csv", 2, "patient_id", "1", "duplicate"),
    ("patients.csv", 3, "cr_or_better", "1", "contradicts best_response 'PR'"),
    ("patients.csv", 5, "orr", "0", "contradicts best_response 'VGPR'"),
    ("patients.csv", 12, "cohort", "hamburg", "not defined in cohorts.csv"),
    ("patients.csv", 1, "age", "-3", "must be > 0"),
    ("patients.csv", 9, "pfs_months", "30", "exceeds OS time"),
    ("patients.csv", 2, "pfs_event", "", "missing while 'pfs_months' is given"),
    ("reinfusions.csv", 1, "target", "GPRC5D", "equals the first target"),
    ("reinfusions.csv", 2, "patient_id", "99", "not in patients.csv"),
    ("reinfusions.csv", 3, "start_months", "1", "precedes the relapse"),
    ("cohorts.csv", 1, "data_level", "rumour", "unknown value 'rumour'"),
]


@pytest.mark.parametrize(("file", "row", "column", "value", "words"), CELL_CASES)
def test_bad_cell_is_reported(data_copy, capsys, file, row, column, value, words):
    edit(data_copy / file, row, column, value)
    assert main(["validate", "--data", str(data_copy)]) == 2
    err = capsys.readouterr().err
    line = next((ln for ln in err.splitlines() if words in ln), None)
    assert line is not None, err
    assert file in line and f"row {row} " in line and f"column '{column}'" in line


def test_missing_required_column(data_copy, capsys):
    drop_column(data_copy / "aggregates.csv", "responders")
    assert main(["validate", "--data", str(data_copy)]) == 2
    err = capsys.readouterr().err
    assert "aggregates.csv" in err and "column 'responders'" in err and "required column" in err


def test_all_problems_listed_at_once(data_copy):
    edit(data_copy / "patients.csv", 1, "target", "XYZ")
    edit(data_copy / "patients.csv", 2, "pfs_event", "7")
    edit(data_copy / "aggregates.csv", 1, "responders", "99")
    with pytest.raises(DataValidationError) as info:
        load(data_copy)
    assert len(info.value.problems) == 3


def test_ragged_row_and_blank_row(tmp_path, capsys):
    f = tmp_path / "counts.csv"
    f.write_text("cohort,n,responders\na,10,3\nb,7\n\n")
    assert main(["validate", "--data", str(f)]) == 2
    err = capsys.readouterr().err
    assert "row 2 (line 3)" in err and "has 2 fields" in err
    assert "row 3 (line 4)" in err and "blank row" in err


def test_empty_and_missing_files(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    assert main(["validate", "--data", str(tmp_path / "empty.csv")]) == 2
    assert "is empty" in capsys.readouterr().err
    assert main(["validate", "--data", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_non_utf8_file(tmp_path, capsys):
    f = tmp_path / "latin.csv"
    f.write_bytes("cohort,n,responders\nm\xfcnchen,5,2\n".encode("latin-1"))
    assert main(["validate", "--data", str(f)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_nothing_is_dropped(data_copy):
    """A valid user row of an unknown-to-pclbayes grouping column is kept as is."""
    f = data_copy / "aggregates.csv"
    text = f.read_text().rstrip("\n") + "\n"
    f.write_text(text + "xuzhou,extra population,1,orr,4,4,BCMA,first,0,here,note,hu2026\n")
    eb = load(data_copy)
    assert len(eb.aggregates) == 8


def test_user_aggregate_file_without_cohorts_table(tmp_path, capsys):
    f = tmp_path / "trials.csv"
    f.write_text("cohort,n,responders,arm\nstudy1,20,12,A\nstudy2,35,20,B\nstudy3,11,4,A\n")
    assert main(["validate", "--data", str(f)]) == 0
    out = capsys.readouterr().out
    assert "3 cohorts" in out and "3 aggregate rows" in out


def test_user_patient_file_without_cohort(tmp_path):
    f = tmp_path / "mystudy.csv"
    f.write_text("time,event,arm\n3.5,1,A\n10,0,B\n7.25,1,A\n")
    eb = load(f)
    assert eb.patients.cohort.unique().tolist() == ["mystudy"]
    assert eb.patients.time.tolist() == [3.5, 10.0, 7.25]


def test_summary_of_user_file_without_target(tmp_path, capsys):
    f = tmp_path / "trial.csv"
    f.write_text("cohort,arm,time,event\na,X,3.5,1\na,Y,10,0\nb,X,7.25,1\n")
    assert main(["validate", "--data", str(f)]) == 0
    out = capsys.readouterr().out
    # no target column in the file: no target in the summary; events from 'event'
    assert "TOTAL" in out and "unknown" not in out and " target " not in out
    assert "First infusions by cohort (events from the event column):" in out
    total = next(line for line in out.splitlines() if line.strip().startswith("TOTAL"))
    assert total.split() == ["TOTAL", "3", "2", "1"]  # patients, events, censored


def test_new_cohort_added_by_rows(data_copy):
    """A user adds a cohort by adding rows, with no code change."""
    with (data_copy / "cohorts.csv").open("a") as f:
        f.write("newsite,Some hospital,Germany,,,,,autologous,,4-1BB,GPRC5D,patient-level,1,\n")
    with (data_copy / "patients.csv").open("a") as f:
        f.write("newsite,1,F,60,primary,GPRC5D,1,PR,PR,1,0,,5,1,1,9,1,0,1,0,none,\n")
    eb = load(data_copy)
    assert "newsite" in set(eb.patients.cohort) and len(eb.patients) == 16
