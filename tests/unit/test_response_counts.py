"""Counts the response models use: grouping, ordering, reference levels and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pclbayes.data import load
from pclbayes.errors import DataValidationError, SpecError
from pclbayes.response.counts import from_frame, prepare


@pytest.fixture(scope="module")
def eb():
    return load()


def test_target_uses_first_infusions_only(eb) -> None:
    d = prepare(eb, endpoint="orr", by="target")
    assert d.strata == ("BCMA", "GPRC5D")          # BCMA is the reference
    assert d.units == ("carsgen/BCMA", "tongji/BCMA", "xuzhou/BCMA", "xuzhou/GPRC5D")
    assert d.n.tolist() == [2, 2, 6, 5] and d.r.tolist() == [2, 2, 6, 5]
    assert int(d.n.sum()) == 15                      # 15 PCL patients, first infusions
    assert d.contrasts == (("GPRC5D - BCMA", 1, 0),)
    assert d.dim == "target"


def test_strategy_adds_switch_episodes(eb) -> None:
    d = prepare(eb, endpoint="cr", by="strategy")
    assert d.strata == ("first", "switch")
    assert dict(zip(d.units, d.r.tolist(), strict=True)) == {
        "carsgen/first": 2, "tongji/first": 1, "xuzhou/first": 7, "xuzhou/switch": 2}
    assert int(d.n.sum()) == 20                      # 15 first infusions + 5 re-infusions
    assert d.contrasts[0][0] == "switch - first"


def test_none_is_one_stratum(eb) -> None:
    d = prepare(eb, endpoint="cr", by="none")
    assert d.strata == ("all",) and d.units == ("carsgen", "tongji", "xuzhou")
    assert d.contrasts == () and d.dim == "group"


def test_reference_default_is_largest_level_and_can_be_set() -> None:
    df = pd.DataFrame({"cohort": ["a", "b", "c"], "n": [5, 30, 10], "responders": [1, 2, 3],
                       "arm": ["x", "y", "x"]})
    assert from_frame(df, endpoint="orr", by="arm", source="t").strata == ("y", "x")
    assert from_frame(df, endpoint="orr", by="arm", source="t", reference="x").strata == \
        ("x", "y")
    with pytest.raises(SpecError, match="reference level 'z' is not a level of 'arm'"):
        from_frame(df, endpoint="orr", by="arm", source="t", reference="z")


def test_every_bad_row_is_reported_at_once() -> None:
    df = pd.DataFrame({"cohort": ["a", "b", "c"], "n": [5, 0, 3], "responders": [6, 1, -1]})
    with pytest.raises(DataValidationError) as err:
        from_frame(df, endpoint="orr", by="none", source="counts.csv")
    msg = str(err.value)
    assert "3 problem(s)" in msg
    assert "6 responders exceed n=5" in msg and "n=0" in msg and "responders=-1" in msg


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataValidationError, match="required column 'responders'"):
        from_frame(pd.DataFrame({"cohort": ["a"], "n": [3]}), endpoint="orr", by="none",
                   source="x")
    with pytest.raises(DataValidationError, match="required column 'target'"):
        from_frame(pd.DataFrame({"cohort": ["a"], "n": [3], "responders": [1]}),
                   endpoint="orr", by="target", source="x")


def test_duplicate_units_are_refused() -> None:
    df = pd.DataFrame({"cohort": ["a", "a"], "n": [3, 4], "responders": [1, 2]})
    with pytest.raises(DataValidationError, match="cohort unit 'a' appears more than once"):
        from_frame(df, endpoint="orr", by="none", source="x")


def test_wrong_data_type_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="data must be an EvidenceBase"):
        prepare([1, 2, 3], endpoint="orr", by="none")


def test_input_frame_is_not_mutated() -> None:
    df = pd.DataFrame({"cohort": ["b", "a"], "n": [3, 4], "responders": [1, 2]})
    before = df.copy()
    d = from_frame(df, endpoint="orr", by="none", source="x")
    pd.testing.assert_frame_equal(df, before)
    assert d.units == ("a", "b") and np.array_equal(d.n, [4, 3])


def test_counts_without_endpoint_are_never_labelled_orr_or_cr(tmp_path, caplog) -> None:
    """A cohort,n,responders file does not say which response it counts: whatever
    --endpoint asks for, the fit is labelled 'response' and the user is told why."""
    import logging

    from pclbayes.data import load
    from pclbayes.response import ResponseModel

    path = tmp_path / "counts.csv"
    path.write_text("cohort,n,responders\na,10,7\nb,12,9\nc,8,4\n")
    eb = load(path)
    with caplog.at_level(logging.WARNING):
        cr = ResponseModel(endpoint="cr").fit(eb, seed=1)
    orr = ResponseModel(endpoint="orr").fit(eb, seed=1)
    assert cr.to_dict()["endpoint"] == orr.to_dict()["endpoint"] == "response"
    assert "CR or better" not in str(cr) and "ORR" not in str(orr)
    assert "has no 'endpoint' column" in caplog.text


def test_validate_describes_a_users_counts_file_as_used(tmp_path, capsys) -> None:
    """A user's cohort,n,responders rows are the data of the fit, not 'non-PCL co-data'."""
    from pclbayes.cli import main

    path = tmp_path / "counts.csv"
    path.write_text("cohort,n,responders\na,10,7\nb,12,9\n")
    assert main(["validate", "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "co-data" not in out and "used by the response models" in out
    assert "fitted as 'response', not as ORR or CR" in out
    assert main(["validate"]) == 0
    bundled = capsys.readouterr().out
    assert "is_pcl = 0 (co-data, not used unless asked)" in bundled
