"""Simulation-based calibration of every shipped model family, through the study runner.

Each test runs a bundled ``studies/sbc_*.toml`` (with fewer replicates) on two local
worker processes with real fits (the exact engine, nutpie) and checks the verdict: every
family passes, and the study whose fit has a deliberately wrong prior fails. A calibrated
model fails a study with probability at most alpha = 0.01 (the verdict's Bonferroni
bound, checked in tests/unit/test_sbc_study.py), so a failure here is a finding.
"""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from pclbayes.errors import ConvergenceWarning
from pclbayes.simulate.executors import make_executor, task_seed
from pclbayes.simulate.runner import run_study
from pclbayes.simulate.spec import study_from_spec
from pclbayes.simulate.store import ResultStore

pytestmark = pytest.mark.slow

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def _study(stem: str, replicates: int):
    path = STUDIES / f"{stem}.toml"
    raw = tomllib.loads(path.read_text())
    raw["study"]["replicates"] = replicates
    return study_from_spec(raw, path)


def _run(stem: str, replicates: int, tmp_path: Path):
    study = _study(stem, replicates)
    result = run_study(study, tmp_path / "store", executor=make_executor(workers=2))
    assert result.complete
    results = ResultStore.open(tmp_path / "store").results()
    assert (results["status"] == "ok").all(), results["message"].unique()
    return study, results, study.summarise(results)


def _same_rows(study, results, replicates=(0, 1)) -> None:
    """Rows made in the worker processes are made again, bit for bit, in this process."""
    seed = study.spec["study"]["seed"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for r in replicates:
            row = study.run_task({}, r, task_seed(seed, 0, r))
            stored = results.loc[results["replicate"] == r].iloc[0]
            for key, value in row.items():
                assert stored[key] == value or (np.isnan(stored[key]) and np.isnan(value)), key


@pytest.mark.parametrize(("stem", "replicates"), [
    ("sbc_beta_binomial", 250),
    ("sbc_logit_normal", 250),
    ("sbc_weibull", 200),
    ("sbc_weibull_frailty", 200),
])
def test_sbc_passes_for_every_family(stem, replicates, tmp_path):
    study, results, summary = _run(stem, replicates, tmp_path)
    table = summary.tables["rank statistics"]
    assert summary.passed is True, table.to_string()
    assert (table["tasks"] == replicates).all()
    if not study.exact:  # NUTS: few divergent fits, chains that mixed
        diag = summary.tables["fit diagnostics"].iloc[0]
        assert diag["share_with_divergences"] <= 0.05, diag.to_dict()
        assert diag["median_max_rhat"] < 1.02, diag.to_dict()
    _same_rows(study, results)


def test_sbc_fails_with_a_wrong_prior_in_the_fit(tmp_path):
    _, _, summary = _run("sbc_beta_binomial_wrong_prior", 200, tmp_path)
    verdicts = summary.tables["rank statistics"].set_index("parameter")["passed"]
    assert summary.passed is False
    assert not verdicts["kappa"]
    assert any(line.startswith("FAIL") and "kappa" in line for line in summary.lines)


def test_beta_binomial_mcmc_engine_passes(tmp_path):
    path = STUDIES / "sbc_beta_binomial.toml"
    raw = tomllib.loads(path.read_text())
    raw["study"].update(replicates=200, name="sbc_beta_binomial_mcmc")
    raw["sbc"].update(method="mcmc", thin=8)
    raw["sbc"]["sampler"] = {"draws": 400, "tune": 400, "chains": 2}
    study = study_from_spec(raw, path)
    run_study(study, tmp_path / "store", executor=make_executor(workers=2))
    summary = study.summarise(ResultStore.open(tmp_path / "store").results())
    assert summary.passed is True, summary.tables["rank statistics"].to_string()


def test_shared_graph_fit_matches_the_model_fit():
    """The Weibull SBC's shared-graph fit and SurvivalModel.fit sample the same posterior."""
    study = _study("sbc_weibull", 1)
    helper = study._model_helper()
    frame, _ = helper.simulate(np.random.default_rng(12))
    from dataclasses import replace

    helper.sampler = replace(helper.sampler, draws=1500, tune=800, chains=2)
    helper.fit_model.sampler = helper.sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        shared = helper._fit_shared(frame, 3)
        helper.shared_graph = False
        direct = helper.fit(frame, 4)
    for name in helper.parameters:
        a, b = shared.draws[name].ravel(), direct.draws[name].ravel()
        # each chain pair has ESS >= ~300 here: 5 MCSEs of the difference of two means
        se = np.hypot(a.std(), b.std()) / np.sqrt(300)
        assert abs(a.mean() - b.mean()) < 5 * se, name
