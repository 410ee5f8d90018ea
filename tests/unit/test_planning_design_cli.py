"""``pclbayes plan oc2``, ``plan sample-size2`` and ``plan monitor`` through the plan parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from pclbayes.cli import plan_cmd
from pclbayes.errors import SpecError
from pclbayes.planning import BetaMixture, save_prior


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pclbayes")
    plan_cmd.register(p.add_subparsers(dest="command", required=True))
    return p


def _run(parser: argparse.ArgumentParser, argv: list[str], capsys) -> tuple[int, str]:
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def _p_greater(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X > Y), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer a1: closed-form finite sum
    (Evan Miller, "Formulas for Bayesian A/B testing", 2015)."""
    i = np.arange(a1)
    terms = np.exp(
        special.betaln(a2 + i, b1 + b2) - np.log(b1 + i) - special.betaln(1 + i, b1)
        - special.betaln(a2, b2)
    )
    return float(terms.sum())


def test_oc2_json_boundary_and_power_against_closed_form(parser, capsys) -> None:
    n_t, n_c = 12, 8
    code, out = _run(parser, ["plan", "oc2", "--prior-t", "beta:1,1", "--prior-c", "beta:1,1",
                              "--n-t", str(n_t), "--n-c", str(n_c), "--prob", "0.9",
                              "--theta-t", "0.6", "--theta-c", "0.2", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    expected = []
    for yc in range(n_c + 1):
        ok = [_p_greater(1 + yt, 1 + n_t - yt, 1 + yc, 1 + n_c - yc) > 0.9
              for yt in range(n_t + 1)]
        expected.append(next((yt for yt, v in enumerate(ok) if v), None))
    assert res["decision_boundary"] == expected
    b = np.array([n_t + 1 if v is None else v for v in expected])
    power = sum(stats.binom.pmf(yc, n_c, 0.2) * stats.binom.sf(b[yc] - 1, n_t, 0.6)
                for yc in range(n_c + 1))
    assert res["oc"][0]["prob_success"] == pytest.approx(power, abs=1e-12)
    assert 0 < res["assurance"] < 1


def test_oc2_table_with_prior_file_and_grid(parser, capsys, tmp_path: Path) -> None:
    path = save_prior(BetaMixture([0.8, 0.2], [11, 1], [32, 1]), tmp_path / "ctrl.json")
    code, out = _run(parser, ["plan", "oc2", "--prior-c", str(path), "--n-t", "20", "--n-c",
                              "10", "--delta", "0,0.1", "--prob", "0.95,0.5", "--theta-t",
                              "0.3,0.6", "--theta-c", "0.2,0.3,0.4", "--grid"], capsys)
    assert code == 0
    assert "theta_t" in out and "theta_c" in out and "Assurance" in out
    assert "P(rate_t - rate_c > 0.1 | data) > 0.5" in out


def test_oc2_log_odds_scale(parser, capsys) -> None:
    code, out = _run(parser, ["plan", "oc2", "--prior-c", "beta:1,1", "--n-t", "10", "--n-c",
                              "10", "--prob", "0.9", "--scale", "log-odds-ratio", "--delta",
                              "0.5", "--json"], capsys)
    assert code == 0
    assert "log OR > 0.5" in json.loads(out)["rule"]


def test_sample_size2_exit_status_and_json(parser, capsys) -> None:
    argv = ["plan", "sample-size2", "--prior-c", "beta:1,1", "--prob", "0.95", "--null",
            "0.2,0.3", "--alt-t", "0.7", "--alt-c", "0.3", "--n-t-min", "10", "--n-t-max",
            "60", "--step", "10", "--alpha", "0.1", "--json"]
    code, out = _run(parser, argv, capsys)
    res = json.loads(out)
    assert code == 0 and res["n_t"] is not None and res["n_c"] == res["n_t"]
    row = next(r for r in res["table"] if r["n_t"] == res["n_t"])
    assert row["type1_error"] <= 0.1 and row["power"] >= 0.8
    code, out = _run(parser, [*argv[:-5], "--n-t-max", "10", "--json"], capsys)
    assert code == 1 and json.loads(out)["n_t"] is None


def test_sample_size2_ess_allocation(parser, capsys) -> None:
    _code, out = _run(parser, ["plan", "sample-size2", "--prior-c", "beta:10,30", "--prob",
                              "0.95", "--null", "0.25", "--alt-t", "0.6", "--alt-c", "0.25",
                              "--n-t-min", "60", "--n-t-max", "60", "--allocation", "ess",
                              "--json"], capsys)
    res = json.loads(out)
    assert res["table"][0]["n_c"] == 60 - round(res["control_ess"])


def test_monitor_json_and_table(parser, capsys) -> None:
    argv = ["plan", "monitor", "--prior", "beta:1,1", "--n", "20", "--threshold", "0.3",
            "--prob", "0.9", "--looks", "8,14", "--futility", "0.1", "--efficacy", "0.95",
            "--true", "0.3,0.6"]
    code, out = _run(parser, [*argv, "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and [lk["n"] for lk in res["looks"]] == [8, 14]
    assert len(res["oc"]) == 2 and res["oc"][0]["expected_n"] <= 20
    code, out = _run(parser, argv, capsys)
    assert "continue if r >=" in out and "expected_n" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "monitor", "--prior", "beta:1,1", "--n", "20", "--threshold", "0.3", "--prob",
         "0.9", "--looks", "14,8"],
        ["plan", "monitor", "--prior", "beta:1,1", "--n", "20", "--threshold", "0.3", "--prob",
         "0.9", "--looks", "8", "--futility", "0.5", "--efficacy", "0.4"],
        ["plan", "oc2", "--prior-c", "beta:1,1", "--n-t", "5", "--n-c", "5", "--prob",
         "0.9,0.5", "--delta", "0,0.1,0.2"],
        ["plan", "oc2", "--prior-c", "beta:1,1", "--n-t", "5", "--n-c", "5", "--prob", "0.9",
         "--theta-t", "0.1,0.2", "--theta-c", "0.1,0.2,0.3"],
        ["plan", "oc2", "--prior-c", "missing.json", "--n-t", "5", "--n-c", "5", "--prob",
         "0.9"],
    ],
)
def test_invalid_requests_are_spec_errors(parser, argv: list[str]) -> None:
    args = parser.parse_args(argv)
    with pytest.raises(SpecError):
        args.func(args)


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "oc2", "--prior-c", "beta:1", "--n-t", "5", "--n-c", "5", "--prob", "0.9"],
        ["plan", "oc2", "--prior-c", "beta:-1,2", "--n-t", "5", "--n-c", "5", "--prob", "0.9"],
        ["plan", "sample-size2", "--prior-c", "beta:1,1", "--prob", "0.9", "--null", "0.2",
         "--alt-t", "0.5", "--alt-c", "0.2", "--allocation", "zero"],
        ["plan", "monitor", "--prior", "beta:1,1", "--n", "20", "--threshold", "0.3",
         "--prob", "0.9", "--looks", "0,5"],
    ],
)
def test_bad_arguments_stop_in_parsing(parser, argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parser.parse_args(argv)


def test_large_request_is_refused(parser) -> None:
    args = parser.parse_args(["plan", "oc2", "--prior-c", "beta:1,1", "--n-t", "100000",
                              "--n-c", "10", "--prob", "0.9"])
    with pytest.raises(SpecError, match="--allow-large"):
        args.func(args)


def test_oc2_interim_look(parser, capsys) -> None:
    from pclbayes.planning import BetaMixture as Beta
    from pclbayes.planning import TwoArmDesign, two_arm_rule
    from pclbayes.planning.monitor import two_arm_interim

    code, out = _run(parser, ["plan", "oc2", "--prior-c", "beta:11,32", "--n-t", "20", "--n-c",
                              "12", "--prob", "0.95", "--theta-t", "0.25,0.6", "--theta-c",
                              "0.25", "--interim", "10:6:0.1", "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and res["interim"]["m_t"] == 10
    # the stop probability is the binomial mass of the interim outcomes that stop
    look = two_arm_interim(TwoArmDesign(Beta.single(1, 1), Beta.single(11, 32), 20, 12,
                                        two_arm_rule(0.0, 0.95)), 10, 6, futility=0.1)
    joint = np.outer(stats.binom.pmf(np.arange(11), 10, 0.25), stats.binom.pmf(np.arange(7), 6,
                                                                               0.25))
    assert res["oc"][0]["prob_stop"] == pytest.approx(float(np.sum(joint * look.stop)))
    assert res["oc"][1]["prob_stop"] < res["oc"][0]["prob_stop"]
    with pytest.raises(SystemExit):
        parser.parse_args(["plan", "oc2", "--prior-c", "beta:1,1", "--n-t", "5", "--n-c", "5",
                           "--prob", "0.9", "--interim", "3:2"])
