"""A corpus of bad input files (tests/data/bad): exit code and the file/row/column named.

``tests/data/bad/cases.toml`` lists each file or directory with the exit code of
``pclbayes validate --data PATH`` and the text that one line of the output must hold.
Named pipes and devices cannot live in git; they are made here.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import tomllib
from pathlib import Path

import pytest

from pclbayes.cli import main
from pclbayes.data import load, response_counts
from pclbayes.errors import DataValidationError

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
CASES = tomllib.loads((BAD / "cases.toml").read_text(encoding="utf-8"))["case"]


def _validate(path: Path | str, capsys, caplog) -> tuple[int, list[str]]:
    """Run ``pclbayes validate --data path`` in-process; return exit code and output lines."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        code = main(["validate", "--data", str(path)])
    out = capsys.readouterr()
    lines = out.out.splitlines() + out.err.splitlines()
    lines += [r.getMessage() for r in caplog.records]
    return code, lines


@pytest.mark.parametrize("case", CASES, ids=[c["path"] for c in CASES])
def test_bad_input(case, tmp_path, capsys, caplog):
    src = BAD / case["path"]
    dest = tmp_path / case["path"]
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copyfile(src, dest)
    code, lines = _validate(dest, capsys, caplog)
    assert code == case["exit"], "\n".join(lines)
    for words in case["lines"]:
        assert any(all(w in ln for w in words) for ln in lines), (words, lines)


def test_every_corpus_file_has_a_case():
    listed = {c["path"] for c in CASES}
    present = {p.name for p in BAD.iterdir() if p.name != "cases.toml"}
    assert present == listed


def test_spreadsheet_numbers_are_read_as_written():
    eb = load(BAD / "ok_spreadsheet_numbers.csv")
    # " 10 " (spaces), "3.0" (decimal point), "1.2E1" (scientific notation) = 10, 3, 12
    assert eb.aggregates["n"].tolist() == [10, 12]
    assert eb.aggregates["responders"].tolist() == [3, 5]


def test_implausible_time_is_a_warning_on_the_evidence_base():
    eb = load(BAD / "implausible_time.csv")
    assert eb.patients["pfs_months"].tolist() == [6.0, 1e9]
    [w] = eb.warnings
    assert (w.row, w.column) == (2, "pfs_months")


def test_declared_extra_column_is_silent(tmp_path, capsys, caplog):
    f = tmp_path / "counts.csv"
    f.write_text("cohort,n,responders,x_arm\na,10,3,A\nb,5,2,B\n")
    code, lines = _validate(f, capsys, caplog)
    assert code == 0
    assert not [ln for ln in lines if "x_arm" in ln], lines
    assert load(f).aggregates["x_arm"].tolist() == ["A", "B"]


def test_semicolon_inside_a_comma_delimited_header(tmp_path):
    f = tmp_path / "counts.csv"
    f.write_text('cohort,n,responders,"x_note; more"\na,10,3,z\n')
    assert load(f).aggregates["n"].tolist() == [10]


def test_misspelt_column_in_a_directory(data_copy, capsys, caplog):
    f = data_copy / "patients.csv"
    f.write_text(f.read_text().replace(",pcl_type,", ",pcl_typ,", 1))
    code, lines = _validate(data_copy, capsys, caplog)
    assert code == 2
    assert any("patients.csv" in ln and "column 'pcl_typ'" in ln and "'pcl_type'" in ln
               for ln in lines), lines


def test_aggregate_rows_that_differ_only_in_an_extra_column():
    """Two rows of one cohort are not duplicates, but counting them as one group is refused."""
    eb = load(BAD / "extra_column.csv")
    assert len(eb.aggregates) == 2
    eb2 = load(BAD / "ok_spreadsheet_numbers.csv")
    assert len(eb2.aggregates) == 2


def test_fit_names_aggregate_duplicates_as_such(tmp_path):
    f = tmp_path / "counts.csv"
    f.write_text("cohort,n,responders,arm\na,10,3,A\na,12,4,B\n")
    eb = load(f)
    with pytest.raises(DataValidationError) as info:
        response_counts(eb, "orr")
    text = str(info.value)
    assert "both patient rows and aggregate rows" not in text
    assert "2 aggregate rows" in text and "--by" in text
    by_arm = response_counts(eb, "orr", by="arm")
    assert by_arm["n"].tolist() == [10, 12]


class _FifoUnblocker:
    """Open a FIFO for writing once a reader appears, so that a test cannot hang on it."""

    def __init__(self, path: Path, seconds: float = 5.0) -> None:
        self.path, self.seconds = path, seconds
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                self.done.wait(0.02)
                continue
            os.close(fd)
            return

    def __enter__(self) -> _FifoUnblocker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_named_pipe_is_refused(tmp_path, capsys, caplog):
    fifo = tmp_path / "counts.csv"
    os.mkfifo(fifo)
    with _FifoUnblocker(fifo):
        code, lines = _validate(fifo, capsys, caplog)
    assert code == 2
    assert any("counts.csv" in ln and "named pipe" in ln and "regular file" in ln
               for ln in lines), lines


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_named_pipe_in_a_directory_is_refused(tmp_path, capsys, caplog):
    (tmp_path / "aggregates.csv").write_text("cohort,n,responders\na,10,3\n")
    fifo = tmp_path / "patients.csv"
    os.mkfifo(fifo)
    with _FifoUnblocker(fifo):
        code, lines = _validate(tmp_path, capsys, caplog)
    assert code == 2
    assert any("patients.csv" in ln and "named pipe" in ln for ln in lines), lines


def test_huge_file_is_refused_unread(tmp_path, capsys, caplog):
    f = tmp_path / "counts.csv"
    with f.open("wb") as fh:
        fh.write(b"cohort,n,responders\n")
        fh.truncate(65 * 2**20)  # sparse: nothing is written
    code, lines = _validate(f, capsys, caplog)
    assert code == 2
    assert any("counts.csv" in ln and "65 MiB" in ln for ln in lines), lines


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_device_is_refused(capsys, caplog):
    code, lines = _validate("/dev/null", capsys, caplog)
    assert code == 2
    assert any("/dev/null" in ln and "device" in ln for ln in lines), lines
