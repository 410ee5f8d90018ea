"""One contract for every model family: fit semantics, summary schema, save / load_fit."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import xarray as xr

import pclbayes
from pclbayes.errors import ProvenanceError
from pclbayes.jsonio import dumps
from pclbayes.model import PPC_COLUMNS, SUMMARY_COLUMNS, Model, load_fit
from pclbayes.response import ResponseModel
from pclbayes.sampling import SamplerSettings
from pclbayes.survival import SurvivalModel

SMALL = SamplerSettings(draws=500, tune=500, chains=4, target_accept=0.99)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """One fit of each family (MCMC for both, small), saved to netCDF."""
    out = tmp_path_factory.mktemp("fits")
    models = {
        "response": ResponseModel(endpoint="cr", by="target", method="mcmc",
                                  sampler=SMALL).fit(seed=5),
        "response_exact": ResponseModel(endpoint="orr", by="strategy",
                                        method="exact").fit(seed=5),
        "survival": SurvivalModel(endpoint="pfs", by="target", sampler=SMALL).fit(seed=5),
    }
    return {k: (m, m.save(out / f"{k}.nc")) for k, m in models.items()}


def _outputs(model) -> dict[str, str]:
    return {"summary": model.summary().to_csv(index=False),
            "dict": dumps(model.to_dict()),
            "ppc": model.ppc_table().to_csv(index=False)}


def test_both_families_share_one_fit_signature_and_defaults():
    for cls in (ResponseModel, SurvivalModel):
        assert issubclass(cls, Model)
        sig = inspect.signature(cls.fit)
        assert sig.parameters["data"].default is None
        assert sig.parameters["seed"].kind is inspect.Parameter.KEYWORD_ONLY
        assert sig.parameters["seed"].default == 1
        assert inspect.signature(cls).parameters["by"].default == "none"


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["response", "response_exact", "survival"])
def test_summary_schema(fitted, name):
    model, _ = fitted[name]
    s = model.summary()
    assert tuple(s.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert set(s["source"]) <= {"posterior", "prior", "exact", "observed"}
    assert (s["ci_prob"] == 0.95).all()
    ratios = s[s["prob_gt"].notna()]
    assert len(ratios) and ratios["prob_gt_value"].isin([0.0, 1.0]).all()
    ppc = model.ppc_table()
    assert tuple(ppc.columns[:len(PPC_COLUMNS)]) == PPC_COLUMNS
    assert ppc["p_value"].between(0, 1).all()
    for attr in ("idata_", "priors_", "sampler_", "seed_", "data_hash_", "diagnostics_"):
        assert hasattr(model, attr), attr


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["response", "response_exact", "survival"])
def test_load_fit_in_a_new_process_gives_identical_results(fitted, name):
    model, path = fitted[name]
    script = ("import json, sys; import pclbayes; from pclbayes.jsonio import dumps\n"
              "m = pclbayes.load_fit(sys.argv[1])\n"
              "print(json.dumps({'summary': m.summary().to_csv(index=False), "
              "'dict': dumps(m.to_dict()), 'ppc': m.ppc_table().to_csv(index=False), "
              "'cls': type(m).__name__}))")
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, check=True, timeout=300)
    other = json.loads(run.stdout.strip().splitlines()[-1])
    assert other.pop("cls") == type(model).__name__
    assert other == _outputs(model)


@pytest.mark.heavy
def test_load_fit_refuses_a_changed_file(fitted, tmp_path):
    _, path = fitted["survival"]
    changed = tmp_path / "changed.nc"
    changed.write_bytes(path.read_bytes())
    with h5py.File(changed, "r+") as f:
        var = f["posterior"]["median_time"]
        values = var[...]
        values.flat[3] *= 1.5
        var[...] = values
    with pytest.raises(ProvenanceError, match="does not match its checksum"):
        load_fit(changed)
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ProvenanceError, match="cannot be read"):
        load_fit(truncated)
    with pytest.raises(ProvenanceError, match="no such file"):
        load_fit(tmp_path / "missing.nc")


def test_load_fit_refuses_a_foreign_netcdf(tmp_path):
    path = tmp_path / "foreign.nc"
    xr.DataTree.from_dict({"posterior": xr.Dataset({"x": ("draw", np.arange(3.0))})}
                          ).to_netcdf(path, engine="netcdf4")
    with pytest.raises(ProvenanceError, match="not a pclbayes fit"):
        load_fit(path)


@pytest.mark.heavy
def test_resolved_spec_is_complete_and_recorded(fitted):
    model, path = fitted["response"]
    spec = model.resolved_spec(5)
    assert set(spec["priors"]) == {"mu", "kappa"}  # defaults included
    assert spec["priors"]["kappa"]["dist"] == "Gamma" and spec["sampler"]["draws"] == 500
    assert spec["seed"] == 5
    loaded = load_fit(path)
    assert json.loads(loaded.idata_.attrs["pclbayes_spec"]) == spec
    assert loaded.resolved_spec(5) == spec


def test_top_level_load_fit_is_the_contract_function():
    assert pclbayes.load_fit is load_fit


@pytest.mark.parametrize("line, key", [('shape = "sharde"', "[model] shape"),
                                       ('frailty = "bogus"', "[model] frailty"),
                                       ('episodes = "some"', "[model] episodes")])
def test_invalid_survival_option_is_named_with_file_before_any_data(tmp_path, line, key):
    from pclbayes.errors import SpecError
    from pclbayes.model import model_from_spec
    from pclbayes.specs import load_spec

    path = tmp_path / "bad.toml"
    path.write_text(f'[model]\nfamily = "survival"\nname = "bad"\n{line}\n')
    with pytest.raises(SpecError) as err:
        model_from_spec(load_spec(path))
    assert str(path) in str(err.value) and key in str(err.value)


def test_a_loaded_fit_shows_the_references_of_the_priors_it_was_fitted_with(tmp_path):
    """A prior given as a table keeps its reference through save and load_fit, also when it
    equals the default prior (whose own reference differs)."""
    given = {"mu": {"dist": "Beta", "alpha": 1, "beta": 1, "reason": "flat mean",
                    "reference": "A. Author, Some Paper (2020)"},
             "kappa": {"dist": "Gamma", "alpha": 2, "beta": 0.1, "reason": "as the default",
                       "reference": "B. Author, Another Paper (2021)"}}
    fit = ResponseModel(endpoint="orr", by="target", method="exact", priors=given).fit(seed=5)
    shown = fit.prior_summary()
    assert "ref: A. Author, Some Paper (2020)" in shown
    assert "ref: B. Author, Another Paper (2021)" in shown
    assert load_fit(fit.save(tmp_path / "fit.nc")).prior_summary() == shown
