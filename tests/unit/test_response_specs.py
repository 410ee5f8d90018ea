"""Every shipped response specification converges cleanly on the bundled data."""

from __future__ import annotations

import pytest

from pclbayes._paths import BUNDLED_MODELS
from pclbayes.data import load
from pclbayes.errors import SpecError
from pclbayes.response import from_spec
from pclbayes.specs import fit_spec, load_spec, parse_spec

SPECS = sorted(BUNDLED_MODELS.glob("response_*.toml"))


def test_specs_are_shipped() -> None:
    names = {p.stem for p in SPECS}
    assert {"response_orr_by_target", "response_cr_by_target", "response_orr_by_strategy",
            "response_cr_by_strategy"} <= names


@pytest.fixture(scope="module")
def eb():
    return load()


@pytest.mark.heavy
@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_fits_without_divergences(path, eb) -> None:
    spec = load_spec(path)
    for name, table in spec.priors.items():      # every prior says why and where from
        assert table.get("reason") and table.get("reference"), (path.name, name)
    fit = fit_spec(spec, eb)
    d = fit.diagnostics_
    assert d.divergences == 0 and d.max_rhat <= 1.01 and d.min_ess_bulk >= 400, str(d)
    assert fit.idata_.attrs["pclbayes_seed"] == spec.seed
    assert f'"name": "{spec.name}"' in fit.idata_.attrs["pclbayes_spec"]
    assert "ref:" in fit.prior_summary()


def _spec(**model):
    return parse_spec({"model": {"family": "response", **model}})


def test_unknown_model_key_lists_the_valid_ones(eb) -> None:
    with pytest.raises(SpecError, match=r"unknown \[model\] key\(s\) \['endpiont'\]; valid "
                                        "keys: family, name, title, endpoint, by"):
        from_spec(_spec(endpiont="orr"), eb)


def test_spec_priors_and_method_are_used(eb) -> None:
    raw = {"model": {"family": "response", "endpoint": "cr", "method": "exact"},
           "priors": {"kappa": {"dist": "Gamma", "alpha": 2, "beta": 0.05,
                                "reason": "wider", "reference": "here"}}}
    fit = from_spec(parse_spec(raw), eb, seed=4)
    assert str(fit.priors_["kappa"]) == "Gamma(alpha=2, beta=0.05)"
    assert fit.priors_["kappa"].reason == "wider" and "ref: here" in fit.prior_summary()
    assert fit.seed_ == 4 and fit.exact_ is not None
    with pytest.raises(SpecError, match="unknown prior 'tau'"):
        from_spec(parse_spec({**raw, "priors": {"tau": "HalfNormal(sigma=1)"}}), eb)
