"""``pclbayes fit response`` and ``pclbayes fit SPEC.toml`` end to end."""

from __future__ import annotations

import argparse
import json

import pytest

from pclbayes.cli import fit_cmd
from pclbayes.errors import SpecError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pclbayes")
    sub = parser.add_subparsers(dest="command", required=True)
    fit_cmd.register(sub)
    args = parser.parse_args(fit_cmd.rewrite_spec_argv(argv))
    return args.func(args)


def test_json_output_layout(capsys) -> None:
    assert run(["fit", "response", "--endpoint", "cr", "--by", "target", "--method", "exact",
                "--json", "--seed", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["endpoint"] == "cr" and out["by"] == "target" and out["model"] == "beta-binomial"
    assert set(out["groups"]) == {"BCMA", "GPRC5D"}
    assert set(out["groups"]["GPRC5D"]) == {"mean", "median", "lower", "upper"}
    assert set(out["predictive"]) == {"BCMA", "GPRC5D"}
    assert "xuzhou/GPRC5D" in out["cohorts"]
    assert set(out["hyper"]) == {"mean", "kappa"}
    assert {"max_rhat", "min_ess_bulk", "divergences"} <= set(out["diagnostics"])
    assert out["seed"] == 5


def test_table_output_and_files(tmp_path, capsys) -> None:
    assert run(["fit", "response", "--by", "strategy", "--method", "exact",
                "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "by strategy" in text and "switch - first" in text
    for name in ("response_orr_by_strategy.nc", "response_orr_by_strategy_summary.csv",
                 "response_orr_by_strategy_summary.json"):
        assert (tmp_path / name).exists(), name


def test_user_aggregate_csv_with_a_grouping_column(tmp_path, capsys) -> None:
    csv = tmp_path / "counts.csv"
    csv.write_text("cohort,n,responders,target\nA,20,15,BCMA\nB,12,10,GPRC5D\nC,30,19,BCMA\n")
    assert run(["fit", "response", "--data", str(csv), "--by", "target", "--method", "exact",
                "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cohorts"]["C/BCMA"]["observed"] == pytest.approx(19 / 30)
    assert out["data"]["patients"] == 62


def test_user_patient_csv_with_a_0_1_column(tmp_path, capsys) -> None:
    csv = tmp_path / "patients.csv"
    rows = ["cohort,patient_id,mrd_negative"] + [
        f"{c},{i},{int(i % k != 0)}" for c, k in (("a", 3), ("b", 4)) for i in range(1, 9)]
    csv.write_text("\n".join(rows) + "\n")
    assert run(["fit", "response", "--data", str(csv), "--endpoint", "mrd_negative",
                "--method", "exact", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cohorts"]["a"]["responders"] == 6 and out["cohorts"]["b"]["responders"] == 6


def test_prior_override_and_bad_prior(capsys) -> None:
    assert run(["fit", "response", "--endpoint", "cr", "--method", "exact", "--json",
                "--prior", "kappa=Gamma(alpha=2, beta=0.05)"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["priors"]["kappa"]["prior"] == "Gamma(alpha=2, beta=0.05)"
    with pytest.raises(SpecError, match="write NAME=DIST"):
        run(["fit", "response", "--prior", "kappa"])
    with pytest.raises(SpecError, match=r"^kappa: Gamma\(alpha=2, beta=-1\): Gamma beta = -1 "
                                        r"must be > 0$"):
        run(["fit", "response", "--prior", "kappa=Gamma(alpha=2, beta=-1)"])
    with pytest.raises(SpecError, match="beta-binomial model only"):
        run(["fit", "response", "--model", "logit-normal", "--method", "exact"])


def test_spec_file_runs(capsys, tmp_path) -> None:
    spec = tmp_path / "quick.toml"
    spec.write_text('[model]\nfamily = "response"\nname = "quick"\nendpoint = "cr"\n'
                    'by = "target"\nmethod = "exact"\n')
    assert run(["fit", str(spec), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["by"] == "target"
