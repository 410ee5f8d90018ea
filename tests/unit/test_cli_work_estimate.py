"""Long planning runs announce their estimated duration on stderr before starting."""

from __future__ import annotations

import json

import pytest

from pclbayes.cli import _checks, main


def test_check_work_announces_long_runs_only(capsys):
    _checks.check_work("plan x", 1.0, options=["--n"], allow_large=False, what="a little")
    assert capsys.readouterr().err == ""
    _checks.check_work("plan x", 30.0, options=["--n"], allow_large=False, what="1e7 sums")
    err = capsys.readouterr().err
    assert err == "plan x: about 30 s of work (1e7 sums); progress follows\n"
    with pytest.raises(_checks.SpecError, match="lower --n"):
        _checks.check_work("plan x", 1e4, options=["--n"], allow_large=False, what="w")


@pytest.mark.heavy
def test_plan_sample_size_announces_its_estimate(tmp_path, capsys):
    prior = tmp_path / "flat.json"
    prior.write_text(json.dumps({
        "format": "pclbayes-prior", "format_version": 1, "family": "beta",
        "components": [{"name": "flat", "weight": 1.0, "a": 1.0, "b": 1.0}]}))
    # n up to 2000 is estimated at about 6 s (more than the 5 s that announce a run)
    code = main(["plan", "sample-size", "--prior", str(prior), "--threshold", "0.2",
                 "--prob", "0.9", "--null", "0.2", "--alt", "0.6", "--n-max", "2000"])
    out = capsys.readouterr()
    assert code == 0
    assert out.err.startswith("plan sample-size: about ")
    assert "progress follows" in out.err
