"""Prior files: round trip, provenance, refusal of malformed files, PyMC export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pclbayes import __version__
from pclbayes.errors import SpecError
from pclbayes.planning import (
    BetaMixture,
    NormalMixture,
    load_prior,
    load_provenance,
    make_provenance,
    prior_to_dict,
    save_prior,
    to_pymc,
)

BETA = BetaMixture([0.7, 0.3], [12.5, 1.0], [30.25, 1.0], names=["inf", "robust"])
NORMAL = NormalMixture([0.6, 0.4], [2.1, 2.6], [0.2, 0.45])


@pytest.mark.parametrize("prior", [BETA, NORMAL])
def test_round_trip_is_exact(tmp_path: Path, prior) -> None:
    path = save_prior(prior, tmp_path / "p.json", make_provenance(data_hash="abc", seed=3))
    assert load_prior(path) == prior
    prov = load_provenance(path)
    assert prov["data_hash"] == "abc" and prov["seed"] == 3
    assert prov["pclbayes_version"] == __version__
    assert {"created", "spec", "versions"} <= set(prov)


def test_file_layout(tmp_path: Path) -> None:
    path = save_prior(BETA, tmp_path / "p.json")
    data = json.loads(path.read_text())
    assert data["format"] == "pclbayes-prior" and data["format_version"] == 1
    assert data["family"] == "beta"
    assert data["components"][1] == {"name": "robust", "weight": 0.3, "a": 1.0, "b": 1.0}


def _write(tmp_path: Path, payload) -> Path:
    p = tmp_path / "bad.json"
    p.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return p


GOOD = prior_to_dict(BETA, {"seed": 1})


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object"),
        ({**GOOD, "format": "other"}, "'format'"),
        ({**GOOD, "format_version": 99}, "format_version"),
        ({**GOOD, "family": "gamma"}, "'family'"),
        ({**GOOD, "components": []}, "non-empty list"),
        ({**GOOD, "components": [{"weight": 1.0, "a": 2.0}]}, r"lacks \['b'\]"),
        ({**GOOD, "components": [{"weight": 1.0, "a": "2", "b": 1.0}]}, "finite number"),
        ({**GOOD, "components": [{"weight": 1.0, "a": -2.0, "b": 1.0}]}, "> 0"),
        (
            {**GOOD, "components": [{"weight": 0.5, "a": 2.0, "b": 1.0}]},
            "sum to 1",
        ),
        ({**GOOD, "provenance": "yesterday"}, "'provenance'"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, payload, match: str) -> None:
    path = _write(tmp_path, payload)
    with pytest.raises(SpecError, match=match) as info:
        load_prior(path)
    if match != "not valid JSON":
        assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        load_prior(tmp_path / "nope.json")


def test_to_pymc_log_density_matches_mixture() -> None:
    import pymc as pm

    with pm.Model() as model:
        rate = to_pymc(BETA, "rate")
        log_med = NORMAL.to_pymc("log_median")
        single = to_pymc(BetaMixture.single(2, 5), "single")
    x = np.array([0.05, 0.3, 0.8])
    got = [float(pm.logp(rate, xi).eval()) for xi in x]
    expected = np.log(0.7 * stats.beta.pdf(x, 12.5, 30.25) + 0.3 * stats.beta.pdf(x, 1.0, 1.0))
    # PyTensor's Beta log-density agrees with scipy to about 5e-6 (its log-beta function)
    np.testing.assert_allclose(got, expected, rtol=2e-5)
    y = 2.4
    expected_n = np.log(0.6 * stats.norm.pdf(y, 2.1, 0.2) + 0.4 * stats.norm.pdf(y, 2.6, 0.45))
    assert float(pm.logp(log_med, y).eval()) == pytest.approx(expected_n, rel=1e-6)
    assert float(pm.logp(single, 0.3).eval()) == pytest.approx(
        stats.beta.logpdf(0.3, 2, 5), rel=2e-5
    )
    assert {v.name for v in model.free_RVs} == {"rate", "log_median", "single"}


def test_to_pymc_rejects_other_objects() -> None:
    with pytest.raises(SpecError):
        to_pymc("beta(1,1)", "x")  # type: ignore[arg-type]
