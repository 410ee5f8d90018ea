"""``pclbayes plan``: sub-commands run through the plan_cmd parser alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

import pclbayes
import pclbayes.data
from pclbayes.cli import plan_cmd
from pclbayes.errors import SpecError
from pclbayes.planning import BetaMixture, NormalMixture, ess, load_prior, save_prior


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pclbayes")
    plan_cmd.register(p.add_subparsers(dest="command", required=True))
    return p


@pytest.fixture
def uniform_file(tmp_path: Path) -> Path:
    return save_prior(BetaMixture.single(1, 1), tmp_path / "uniform.json")


def _run(parser: argparse.ArgumentParser, argv: list[str], capsys) -> tuple[int, str]:
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["plan"], ["plan", "oc"], ["plan", "sample-size"], ["plan", "ess"], ["plan", "map-prior"]],
)
def test_help_on_every_command(parser: argparse.ArgumentParser, argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        parser.parse_args([*argv, "--help"])
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_oc_json(parser, uniform_file: Path, capsys) -> None:
    argv = ["plan", "oc", "--prior", str(uniform_file), "--n", "24"]
    argv += ["--threshold", "0.2", "--prob", "0.95", "--true", "0.2,0.3,0.4", "--json"]
    code, out = _run(parser, argv, capsys)
    data = json.loads(out)
    assert code == 0
    b = next(r for r in range(25) if stats.beta.sf(0.2, 1 + r, 25 - r) > 0.95)
    assert data["decision_boundary"] == b
    got = [row["prob_success"] for row in data["oc"]]
    np.testing.assert_allclose(got, stats.binom.sf(b - 1, 24, [0.2, 0.3, 0.4]), atol=1e-12)
    assert [row["true_rate"] for row in data["oc"]] == [0.2, 0.3, 0.4]
    assert data["assurance"] == pytest.approx((25 - b) / 25)


def test_oc_table_with_futility(parser, uniform_file: Path, capsys) -> None:
    argv = ["plan", "oc", "--prior", str(uniform_file), "--n", "24"]
    argv += ["--threshold", "0.2", "--prob", "0.95", "--futility", "10:0.3:0.8"]
    code, out = _run(parser, argv, capsys)
    assert code == 0
    assert "prob_stop_early" in out and "Interim: stop after 10 patients" in out


def test_bad_futility_is_a_usage_error(parser, uniform_file: Path) -> None:
    with pytest.raises(SystemExit) as info:
        parser.parse_args(
            [
                *("plan", "oc", "--prior", str(uniform_file), "--n", "5"),
                *("--threshold", "0.2", "--prob", "0.9", "--futility", "ten"),
            ]
        )
    assert info.value.code == 2


def test_sample_size_json(parser, uniform_file: Path, capsys) -> None:
    argv = ["plan", "sample-size", "--prior", str(uniform_file), "--threshold", "0.2"]
    argv += ["--prob", "0.9", "--null", "0.2", "--alt", "0.4", "--power", "0.8"]
    argv += ["--alpha", "0.1", "--n-max", "60", "--json"]
    code, out = _run(parser, argv, capsys)
    data = json.loads(out)
    assert code == 0
    n, b = data["n"], data["decision_boundary"]
    assert stats.binom.sf(b - 1, n, 0.2) == pytest.approx(data["type1_error"])
    assert data["type1_error"] <= 0.1 and data["power"] >= 0.8


def test_ess_beta_and_normal(parser, tmp_path: Path, capsys) -> None:
    beta = save_prior(BetaMixture.single(5, 15), tmp_path / "b.json")
    code, out = _run(parser, ["plan", "ess", "--prior", str(beta), "--json"], capsys)
    assert code == 0 and json.loads(out) == {"unit": "patients", "ess": {"elir": pytest.approx(20)}}
    normal = save_prior(NormalMixture([1.0], [2.0], [0.5]), tmp_path / "n.json")
    argv = ["plan", "ess", "--prior", str(normal), "--shape", "2", "--method", "all", "--json"]
    code, out = _run(parser, argv, capsys)
    data = json.loads(out)
    assert data["unit"] == "events"
    assert data["ess"]["moment"] == pytest.approx(1 / (4 * 0.25))
    code, out = _run(parser, ["plan", "ess", "--prior", str(beta), "--method", "all"], capsys)
    assert "ESS (morita)" in out


def test_oc_refuses_normal_prior(parser, tmp_path: Path) -> None:
    normal = save_prior(NormalMixture([1.0], [2.0], [0.5]), tmp_path / "n.json")
    args = parser.parse_args(
        ["plan", "oc", "--prior", str(normal), "--n", "5", "--threshold", "0.2", "--prob", "0.9"]
    )
    with pytest.raises(SpecError, match="beta"):
        args.func(args)


@pytest.fixture
def fake_evidence(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace data loading and the MCMC fit by synthetic logit-normal MAP draws."""
    from pclbayes.planning import map_prior as map_prior_module

    calls: dict = {}

    class Evidence:
        data_hash = "f" * 64

    def load(path=None):
        calls["path"] = path
        return Evidence()

    def map_draws(
        data, *, endpoint, by, level, tau_prior, intercept_prior, seed, sampler
    ):
        calls.update(endpoint=endpoint, by=by, level=level, tau_prior=tau_prior)
        rng = np.random.default_rng(seed)
        return special.expit(rng.normal(-0.8, 0.5, 3000)), {"converged": True}

    monkeypatch.setattr(map_prior_module, "_map_draws", map_draws)
    monkeypatch.setattr(pclbayes.data, "load", load)
    return calls


@pytest.mark.heavy
def test_map_prior_json_and_out_file(parser, tmp_path: Path, fake_evidence: dict, capsys) -> None:
    out_file = tmp_path / "map.json"
    argv = ["plan", "map-prior", "--endpoint", "cr", "--target", "BCMA", "--robust", "0.2"]
    argv += ["--robust-mean", "0.5", "--seed", "3", "--out", str(out_file), "--json"]
    code, out = _run(parser, argv, capsys)
    data = json.loads(out)
    assert code == 0
    assert fake_evidence == {
        "path": None,
        "endpoint": "cr",
        "by": "target",
        "level": "BCMA",
        "tau_prior": None,
    }
    draws = special.expit(np.random.default_rng(3).normal(-0.8, 0.5, 3000))
    assert data["map"]["mean"] == pytest.approx(draws.mean())
    assert data["map"]["sd"] == pytest.approx(draws.std(ddof=1))
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert (data["map"]["lower"], data["map"]["upper"]) == pytest.approx((lo, hi))
    assert set(data["ess"]) == {"elir", "morita", "moment"}
    assert sum(c["weight"] for c in data["mixture"]) == pytest.approx(1)
    assert data["robust"][-1] == {"name": "robust", "weight": 0.2, "a": 1.0, "b": 1.0}
    saved = load_prior(out_file)
    assert isinstance(saved, BetaMixture) and saved.names[-1] == "robust"
    assert data["robust_ess"]["elir"] == pytest.approx(ess(saved))
    assert data["provenance"]["data_hash"] == "f" * 64
    assert data["provenance"]["spec"]["level"] == "BCMA"


@pytest.mark.heavy
def test_map_prior_text(parser, fake_evidence: dict, capsys) -> None:
    code, out = _run(parser, ["plan", "map-prior", "--robust", "0"], capsys)
    assert code == 0 and "MAP prior from 3000 draws" in out and "Robust prior" not in out
