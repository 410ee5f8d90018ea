"""Report section on co-data: PCL-only and power-prior rows in closed form, conflict line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pclbayes.data import load
from pclbayes.report.codata import codata_section
from pclbayes.report.html import Page


def _section(eb) -> list[tuple[str, str, list[str]]]:
    page = Page("t", Path("."))
    codata_section(page, eb)
    return page.sections


@pytest.mark.heavy
def test_bundled_data_get_the_co_data_section_with_closed_form_rows():
    sections = _section(load())
    assert [s[0] for s in sections] == ["codata"]
    html = "".join(sections[0][2])
    # CR: PCL 10/15 -> Beta(11, 6), mean 65%; power prior a0 = 0.5 with co-data 12/28 ->
    # Beta(1 + 6 + 10, 1 + 8 + 5) = Beta(17, 14), mean 55%
    assert "PCL 10/15 against co-data tongji 12/28" in html
    assert f"{100 * 11 / 17:.0f}%" in html and f"{100 * 17 / 31:.0f}%" in html
    assert "power prior, a0 = 0.5 (co-data worth 14 patients)" in html
    assert "robust MAP prior of the co-data" in html


def test_no_co_data_no_section(tmp_path):
    f = tmp_path / "pcl.csv"
    pd.DataFrame({"cohort": ["a"], "n": [5], "responders": [3]}).to_csv(f, index=False)
    assert _section(load(f)) == []
