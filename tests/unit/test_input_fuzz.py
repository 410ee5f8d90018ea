"""Property-based tests: one mutated cell of a valid CSV never gives a traceback.

A valid count file (``cohort, n, responders``) or survival file (``cohort, patient_id,
time, event``) has one cell replaced by generated text: a number written the way a
spreadsheet writes it, a number written in a way pclbayes must refuse (digit grouping,
non-ASCII digits, a decimal comma, ...), or arbitrary text. ``pclbayes validate`` must
exit 0 or 2 and never raise; when it exits 0, every number read must equal the number
intended, computed here with :class:`decimal.Decimal` from the text, not by pclbayes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pclbayes.cli import main
from pclbayes.data import load, response_counts, survival_table
from pclbayes.errors import DataValidationError

COUNTS_HEADER = ["cohort", "n", "responders"]
COUNTS_ROWS = [["a", "10", "3"], ["b", "8", "5"], ["c", "12", "0"]]
SURVIVAL_HEADER = ["cohort", "patient_id", "time", "event"]
SURVIVAL_ROWS = [["a", "1", "2.5", "1"], ["a", "2", "10", "0"], ["b", "1", "7.25", "1"]]

SETTINGS = settings(max_examples=50, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

#: Characters a spreadsheet may write in a number: ASCII digits, point, exponent, sign.
_NUMBER_CHARS = re.compile(r"[0-9.eE+-]+")

_DIGITS = "0123456789"
#: Digits that str.isdigit() (and float()) accepts but a spreadsheet never writes.
_FULLWIDTH = str.maketrans(_DIGITS, "".join(chr(0xFF10 + i) for i in range(10)))
_ARABIC = str.maketrans(_DIGITS, "".join(chr(0x0660 + i) for i in range(10)))
_SUPERSCRIPT = str.maketrans(_DIGITS, "\u2070\u00b9\u00b2\u00b3" + "".join(
    chr(0x2074 + i) for i in range(6)))


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="pclbayes-fuzz-") as d:
        yield Path(d)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _validate(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", "--data", str(path)])
    return code, out.getvalue() + err.getvalue()


def _mutate(rows: list[list[str]], row: int, col: int, text: str) -> list[list[str]]:
    new = [list(r) for r in rows]
    new[row][col] = text
    return new


#: Arbitrary text, text made of characters that look like parts of numbers, and numbers in
#: scientific notation (tiny, huge, negative).
ANY_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789_.,;+-eE \t\u00a0\u0663\uff11\u00b2\u200b'", max_size=8),
    st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{0,2})?[eE][+-]?[0-9]{1,3}", fullmatch=True),
)


def _good_renderings(value: Decimal) -> st.SearchStrategy[str]:
    """Ways a spreadsheet writes ``value``; each must be read as exactly ``value``."""
    plain = format(value, "f")
    forms = [plain, f" {plain} ", f"\t{plain}", f"{plain}  ", format(value, "E"),
             format(value, "e"), f"{value:.3f}", f"+{plain}"]
    if value == value.to_integral_value():
        forms += [f"{int(value)}.", f"{int(value)}.0", f"00{int(value)}"]
    return st.sampled_from(forms)


def _bad_renderings(value: Decimal) -> st.SearchStrategy[str]:
    """Ways of writing ``value`` that Python's float() may accept but pclbayes refuses."""
    plain = format(value, "f")
    forms = [plain.translate(_FULLWIDTH), plain.translate(_ARABIC), plain.translate(_SUPERSCRIPT),
             f"\u00a0{plain}", f"{plain}\u3000", f"{plain} months", f"~{plain}", f"{plain}%",
             "inf", "nan", "-inf", "1e999", "1e-400", "0x1A", "TRUE"]
    digits = plain.replace(".", "")
    if len(digits) >= 2:
        forms += [f"{plain[0]}_{plain[1:]}", f"{plain[0]},{plain[1:]}", f"{plain[0]} {plain[1:]}"]
    return st.sampled_from(forms)


def _check_counts_read(path: Path, rows: list[list[str]]) -> None:
    """Exit 0: the numbers read equal the numbers the text stands for."""
    agg = load(path).aggregates
    for col, name in ((1, "n"), (2, "responders")):
        expected = [Decimal(r[col].strip(" \t")) for r in rows]
        assert [Decimal(int(x)) for x in agg[name]] == expected


def _counts_valid(values: list[tuple[Decimal, Decimal]]) -> bool:
    return all(n >= 1 and 0 <= r <= n and n == n.to_integral_value()
               and r == r.to_integral_value() for n, r in values)


@pytest.mark.heavy
@SETTINGS
@given(row=st.integers(0, 2), col=st.sampled_from([1, 2]), data=st.data())
def test_count_written_as_a_spreadsheet_writes_it(workdir, row, col, data):
    value = Decimal(data.draw(st.integers(0, 40), label="value"))
    text = data.draw(_good_renderings(value), label="text")
    rows = _mutate(COUNTS_ROWS, row, col, text)
    path = workdir / "counts_good.csv"
    _write(path, COUNTS_HEADER, rows)
    code, output = _validate(path)
    intended = [(Decimal(r[1].strip(" \t")), Decimal(r[2].strip(" \t"))) for r in rows]
    assert code == (0 if _counts_valid(intended) else 2), (text, output)
    if code == 0:
        _check_counts_read(path, rows)
    else:
        assert f"row {row + 1} (line {row + 2})" in output, output


@SETTINGS
@given(row=st.integers(0, 2), col=st.sampled_from([1, 2]), data=st.data())
def test_count_written_otherwise_is_refused_with_its_cell(workdir, row, col, data):
    value = Decimal(data.draw(st.integers(0, 40), label="value"))
    text = data.draw(_bad_renderings(value), label="text")
    path = workdir / "counts_bad.csv"
    _write(path, COUNTS_HEADER, _mutate(COUNTS_ROWS, row, col, text))
    code, output = _validate(path)
    assert code == 2, (text, output)
    where = f"row {row + 1} (line {row + 2}), column '{COUNTS_HEADER[col]}'"
    assert where in output, output


@pytest.mark.heavy
@SETTINGS
@given(row=st.integers(0, 2), col=st.integers(0, 2), text=ANY_TEXT)
def test_any_text_in_a_count_file(workdir, row, col, text):
    rows = _mutate(COUNTS_ROWS, row, col, text)
    path = workdir / "counts_any.csv"
    _write(path, COUNTS_HEADER, rows)
    code, output = _validate(path)
    assert code in (0, 2), output
    if code != 0:
        return
    if col == 0:
        cohorts = load(path).aggregates["cohort"].tolist()
        assert cohorts[row] == cohorts[row].strip() and cohorts[row] not in ("", "NA")
        assert len(set(cohorts)) == 3
        _check_counts_read(path, rows)
    else:
        stripped = text.strip(" \t")
        assert _NUMBER_CHARS.fullmatch(stripped), text
        _check_counts_read(path, rows)


@pytest.mark.heavy
@SETTINGS
@given(row=st.integers(0, 2), col=st.sampled_from([2, 3]), data=st.data())
def test_survival_cell(workdir, row, col, data):
    if col == 2:
        value = Decimal(data.draw(st.sampled_from(["0.5", "2.25", "7", "13.5", "120"])))
    else:
        value = Decimal(data.draw(st.sampled_from([0, 1])))
    kind = data.draw(st.sampled_from(["good", "bad", "any"]), label="kind")
    text = data.draw(_good_renderings(value) if kind == "good" else
                     _bad_renderings(value) if kind == "bad" else ANY_TEXT,
                     label="text")
    rows = _mutate(SURVIVAL_ROWS, row, col, text)
    path = workdir / "survival.csv"
    _write(path, SURVIVAL_HEADER, rows)
    code, output = _validate(path)
    assert code in (0, 2), output
    if kind == "good":
        assert code == 0, (text, output)
    elif kind == "bad":
        assert code == 2 and f"row {row + 1} (line {row + 2})" in output, (text, output)
    if code == 0:
        assert _NUMBER_CHARS.fullmatch(text.strip(" \t")), text
        pat = load(path).patients
        assert pat["time"].tolist() == [float(Decimal(r[2].strip(" \t"))) for r in rows]
        assert pat["event"].tolist() == [int(Decimal(r[3].strip(" \t"))) for r in rows]


def _bundled_tables() -> dict[str, tuple[list[str], list[list[str]]]]:
    from pclbayes._paths import BUNDLED_DATA

    tables = {}
    for name in ("patients.csv", "reinfusions.csv", "aggregates.csv", "cohorts.csv"):
        with (BUNDLED_DATA / name).open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        tables[name] = (rows[0], rows[1:])
    return tables


BUNDLED = _bundled_tables()
_NUMERIC = {"age", "dose_1e6_per_kg", "orr", "cr_or_better", "mrd_negative", "pfs_months",
            "pfs_event", "progression", "os_months", "os_event", "soft_tissue", "crs_grade",
            "icans_grade", "subsequent_therapy_months", "episode", "start_months", "n",
            "responders", "is_pcl", "derived", "n_pcl_patients"}


@pytest.mark.heavy
@settings(SETTINGS, max_examples=30)
@given(data=st.data())
def test_any_cell_of_the_bundled_evidence_base(workdir, data):
    """The directory path (cohorts, re-infusion rules, episodes, summary, counts) never raises.

    When validate accepts the data, the analysis views either work or raise
    DataValidationError; any other exception would reach a user as a traceback.
    """
    name = data.draw(st.sampled_from(sorted(BUNDLED)), label="file")
    header, rows = BUNDLED[name]
    row = data.draw(st.integers(0, len(rows) - 1), label="row")
    col = data.draw(st.integers(0, len(header) - 1), label="column")
    text = data.draw(ANY_TEXT, label="text")
    folder = workdir / "bundled"
    folder.mkdir(exist_ok=True)
    for other, (h, r) in BUNDLED.items():
        _write(folder / other, h, _mutate(r, row, col, text) if other == name else r)
    code, output = _validate(folder)
    assert code in (0, 2), output
    if code != 0:
        return
    eb = load(folder)
    endpoint = data.draw(st.sampled_from(["orr", "cr"]), label="endpoint")
    by = data.draw(st.sampled_from(["none", "target", "strategy"]), label="by")
    with contextlib.suppress(DataValidationError):
        response_counts(eb, endpoint, by=by)
    with contextlib.suppress(DataValidationError):
        survival_table(eb, data.draw(st.sampled_from(["pfs", "os"]), label="survival"))
    column = header[col]
    if column in _NUMERIC and text.strip(" \t") not in ("", "NA"):
        assert _NUMBER_CHARS.fullmatch(text.strip(" \t")), text
        table = getattr(eb, name.removesuffix(".csv"))
        assert Decimal(repr(float(table[column].iloc[row]))) == \
            Decimal(repr(float(Decimal(text.strip(" \t"))))), text
