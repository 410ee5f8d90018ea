"""``--codata PATH --borrow ...`` on ``fit response`` and ``plan map-prior`` (pclbayes.cli.main)."""

from __future__ import annotations

import json

import pytest
from scipy import integrate, stats

from pclbayes.cli import main


def _main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def codata_file(tmp_path):
    f = tmp_path / "mm.csv"
    f.write_text("cohort,population,n,responders\nmm1,myeloma,40,30\n")
    return f


@pytest.fixture
def pcl_file(tmp_path):
    f = tmp_path / "pcl.csv"
    f.write_text("cohort,n,responders\nA,10,6\nB,5,2\n")
    return f


@pytest.mark.parametrize(("argv", "option"), [
    (["fit", "response", "--borrow", "power"], "--borrow"),
    (["fit", "response", "--a0", "0.3"], "--a0"),
    (["plan", "map-prior", "--borrow", "exnex"], "--borrow"),
    (["plan", "map-prior", "--p-exchangeable", "0.3"], "--p-exchangeable"),
])
def test_borrow_options_without_codata_exit_2_naming_the_option(argv, option, capsys):
    code, out, err = _main(argv, capsys)
    assert code == 2 and out == ""
    assert option in err and "--codata" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["-0.1", "1.01", "nan"])
def test_a0_outside_unit_interval_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "response", "--codata", "bundled", "--borrow", "power", "--a0", value])
    assert exc.value.code == 2
    assert "argument --a0" in capsys.readouterr().err


def test_bad_codata_path_exit_2_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    code, out, err = _main(["fit", "response", "--codata", str(missing)], capsys)
    assert code == 2 and out == ""
    assert "nope.csv" in err and "Traceback" not in err


def test_model_options_do_not_combine_with_codata(capsys):
    code, _, err = _main(["fit", "response", "--codata", "bundled", "--model", "logit-normal"],
                         capsys)
    assert code == 2 and "--model configures the model fit" in err and "drop it" in err
    code, _, err = _main(["fit", "response", "--codata", "bundled", "--model", "logit-normal",
                          "--method", "mcmc"], capsys)
    assert code == 2 and "--model, --method configure the model fit" in err and "drop them" in err


def test_parameter_of_another_method_is_refused(capsys):
    code, _, err = _main(["fit", "response", "--codata", "bundled", "--borrow", "exnex",
                          "--a0", "0.2"], capsys)
    assert code == 2 and "--a0 applies to --borrow power" in err


def test_fit_response_power_json_matches_closed_form(pcl_file, codata_file, capsys):
    code, out, _ = _main(["fit", "response", "--data", str(pcl_file), "--codata",
                          str(codata_file), "--borrow", "power", "--a0", "0.4", "--threshold",
                          "0.5", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    row = res["comparison"][0]
    a, b = 1 + 0.4 * 30 + 8, 1 + 0.4 * 10 + 7  # pooled PCL 8/15, co-data 30/40
    assert row["borrowed_mean"] == pytest.approx(a / (a + b))
    assert row["borrowed_prob_gt"] == pytest.approx(stats.beta.sf(0.5, a, b))
    assert row["pcl_mean"] == pytest.approx(9 / 17)
    assert [r["a0"] for r in res["sensitivity"]] == [0.0, 0.1, 0.25, 0.4, 0.5, 0.75, 1.0]
    assert {r["cohort"] for r in res["conflict"]} == {"A", "B", "pooled PCL"}


def test_fit_response_text_shows_both_answers_and_writes_out(pcl_file, codata_file, tmp_path,
                                                             capsys):
    out_dir = tmp_path / "out"
    code, out, _ = _main(["fit", "response", "--data", str(pcl_file), "--codata",
                          str(codata_file), "--borrow", "exnex", "--p-exchangeable", "0.5",
                          "--out", str(out_dir)], capsys)
    assert code == 0
    assert "pcl_mean" in out and "borrowed_mean" in out and "p_exchangeable" in out
    assert "Prior-data conflict" in out
    saved = json.loads((out_dir / "borrowing_orr_exnex.json").read_text())
    assert saved["method"] == "exnex"


@pytest.mark.heavy
def test_plan_map_prior_codata_writes_a_prior_whose_mean_is_the_exact_map(
        pcl_file, codata_file, tmp_path, capsys):
    prior_file = tmp_path / "prior.json"
    code, out, _ = _main(["plan", "map-prior", "--data", str(pcl_file), "--codata",
                          str(codata_file), "--borrow", "power", "--a0", "0", "--robust", "0",
                          "--out", str(prior_file), "--predictive-draws", "4000", "--json"],
                         capsys)
    assert code == 0
    res = json.loads(out)
    assert res["method"] == "power" and res["settings"]["n_draws"] == 4000
    # a0 = 0: the borrowed MAP is the PCL-only one, and both equal the exact MAP of the two
    # PCL cohorts (checked against nested trapezoid quadrature in test_planning_borrowing)
    only, borrowed = res["comparison"]
    assert borrowed["mean"] == pytest.approx(only["mean"], abs=1e-12)
    from pclbayes.planning import load_prior

    prior = load_prior(prior_file)
    assert prior.mean == pytest.approx(only["mean"], abs=4 * only["sd"] / 4000**0.5)
    # the written prior is a proper density on [0, 1]
    assert integrate.quad(lambda t: float(prior.pdf(t)), 0, 1)[0] == pytest.approx(1, abs=1e-6)


def test_negative_zero_discount_is_shown_as_zero(pcl_file, codata_file, capsys):
    code, out, _ = _main(["fit", "response", "--data", str(pcl_file), "--codata",
                          str(codata_file), "--borrow", "power", "--a0", "-0.0"], capsys)
    assert code == 0
    assert "power prior, a0 = 0.0\n" in out and "-0.0" not in out
