"""Survival estimands: which episodes, which events and which follow-up each analysis uses.

Every number is checked against a hand count or a hand-computed Kaplan-Meier estimate of
the bundled data (``data/patients.csv``, ``data/reinfusions.csv``, registry entries X03,
X04, X10 and T03 of ``data/source_issues.csv``).
"""

from __future__ import annotations

import pandas as pd
import pytest

from pclbayes.data import load
from pclbayes.errors import DataValidationError


# ---------------------------------------------------------------- progression-only files
def _progression_coded(data_copy, *, keep_progression: bool = True):
    """The bundled patients with ``pfs_event`` replaced by ``progression`` where known."""
    path = data_copy / "patients.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    known = df["progression"] != ""
    df.loc[known, "pfs_event"] = df.loc[known, "progression"]
    if not keep_progression:
        df = df.drop(columns="progression")
    df.to_csv(path, index=False)
    return data_copy


def test_progression_only_coded_file_is_accepted(data_copy):
    """Patients 1 and 6 died without progression (X03): with progression = 0 stated, a PFS
    censored at the death is the progression-only coding, not a forgotten death."""
    eb = load(_progression_coded(data_copy))
    first = eb.patients[eb.patients["cohort"] == "xuzhou"]
    assert int(first["pfs_event"].sum()) == 7  # patients 2, 4, 5, 7, 8, 9, 10 progressed


def test_death_censored_without_progression_column_is_still_refused(data_copy):
    with pytest.raises(DataValidationError, match="death at the PFS time must be a PFS event"):
        load(_progression_coded(data_copy, keep_progression=False))
