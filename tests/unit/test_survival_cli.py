"""``pclbayes fit survival`` and the shipped survival specifications."""

import argparse
import json

import pandas as pd
import pytest

from pclbayes._paths import BUNDLED_MODELS
from pclbayes.cli import fit_cmd
from pclbayes.data import load, survival_table
from pclbayes.specs import fit_spec, load_spec

SPECS = ["survival_pfs_by_target", "survival_pfs_by_strategy", "survival_os"]


@pytest.fixture(scope="module")
def parser():
    p = argparse.ArgumentParser(prog="pclbayes")
    sub = p.add_subparsers(dest="command", required=True)
    fit_cmd.register(sub)
    return p


def _run(parser, argv, capsys):
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr()


@pytest.mark.heavy
def test_cli_json_layout(parser, capsys):
    code, out = _run(parser, ["fit", "survival", "--by", "strategy", "--seed", "11", "--json"],
                     capsys)
    assert code == 0
    res = json.loads(out.out)
    assert res["endpoint"] == "pfs" and res["by"] == "strategy" and res["time_unit"] == "months"
    g = res["groups"]["switch"]
    assert set(g["survival_at"]) == {"6", "12"}
    for s in (g["median_time"], g["survival_at"]["6"], g["survival_at"]["12"], res["shape"]):
        assert {"mean", "median", "lower", "upper"} <= set(s)
    assert "switch vs first" in res["effects"]
    assert {"max_rhat", "min_ess_bulk", "divergences"} <= set(res["diagnostics"])


@pytest.mark.heavy
def test_cli_user_csv_and_out_dir(parser, capsys, tmp_path):
    st = survival_table(load(), "pfs")
    first = st[(st["cohort"] == "xuzhou") & (st["strategy"] == "first")]
    path = tmp_path / "xuzhou.csv"
    first[["time", "event"]].to_csv(path, index=False)
    out_dir = tmp_path / "out"
    code, out = _run(parser, ["fit", "survival", "--data", str(path), "--by", "none",
                              "--seed", "3", "--out", str(out_dir)], capsys)
    assert code == 0
    assert "Weibull survival model: PFS by none" in out.out
    name = "survival_pfs_by_none"
    assert (out_dir / f"{name}.nc").exists()
    summary = pd.read_csv(out_dir / f"{name}_summary.csv")
    assert "median_time" in set(summary["quantity"])
    saved = json.loads((out_dir / f"{name}_summary.json").read_text())
    assert saved["data"]["cohorts"] == ["xuzhou"] and saved["data"]["episodes"] == 11


def test_cli_prior_override_reaches_the_model(parser, monkeypatch, capsys):
    from pclbayes.survival import model as model_module

    seen = {}

    def fake_fit(self, data=None, *, seed=1):  # stops before sampling: only the options matter
        seen.update(priors=self.priors, seed=seed, endpoint=self.endpoint, by=self.by)
        raise SystemExit(0)

    monkeypatch.setattr(model_module.SurvivalModel, "fit", fake_fit)
    with pytest.raises(SystemExit):
        _run(parser, ["fit", "survival", "--endpoint", "os", "--by", "strategy", "--seed", "4",
                      "--prior", "sigma_cohort=HalfNormal(sigma=0.25)"], capsys)
    assert seen == {"priors": {"sigma_cohort": "HalfNormal(sigma=0.25)"}, "seed": 4,
                    "endpoint": "os", "by": "strategy"}


def test_cli_bad_prior_is_an_error(parser, capsys):
    from pclbayes.errors import SpecError

    with pytest.raises(SpecError, match="NAME=DIST"):
        _run(parser, ["fit", "survival", "--prior", "shape"], capsys)


@pytest.mark.heavy
@pytest.mark.parametrize("name", SPECS)
def test_shipped_spec_converges(name):
    spec = load_spec(BUNDLED_MODELS / f"{name}.toml")
    for prior in spec.priors.values():
        assert prior.get("reason") and prior.get("reference")
    m = fit_spec(spec, load())
    d = m.diagnostics_
    assert d.divergences == 0 and d.max_rhat <= 1.01 and d.ok, str(d)
    assert m.idata_.attrs["pclbayes_seed"] == spec.seed
