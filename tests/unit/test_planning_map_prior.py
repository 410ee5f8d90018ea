"""MAP prior assembly from synthetic predictive draws (the response model's output)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import integrate, special, stats

from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning import build_map_prior, draws_ess, ess

DRAWS = special.expit(np.random.default_rng(12).normal(-1.2, 0.6, 3000))


@pytest.mark.heavy
def test_summary_fit_robust_and_ess() -> None:
    res = build_map_prior(DRAWS, robust_weight=0.2, rng=np.random.default_rng(0))
    s = res.draw_summary
    assert s["mean"] == pytest.approx(DRAWS.mean())
    assert s["sd"] == pytest.approx(DRAWS.std(ddof=1))
    assert (s["lower"], s["upper"]) == pytest.approx(tuple(np.quantile(DRAWS, [0.025, 0.975])))
    assert res.mixture.mean == pytest.approx(DRAWS.mean(), abs=3e-3)
    assert res.robust is not None and res.prior is res.robust
    assert res.robust.weights[-1] == pytest.approx(0.2)
    # robustification lowers every ESS
    assert res.robust_ess is not None
    for method in ("elir", "moment"):
        assert res.robust_ess[method] < res.ess[method]
    assert res.ess["elir"] == pytest.approx(ess(res.mixture))
    payload = json.loads(json.dumps(res.to_dict()))
    assert {"map", "mixture", "robust", "ess", "robust_ess", "fit", "provenance"} <= set(payload)
    assert "Robust prior" in str(res)


@pytest.mark.heavy
def test_robust_mean_at_null_rate_keeps_the_elir_scale() -> None:
    # Beta(0.4, 1.6) is unbounded at 0: Morita uses the interior mode and says so; the ELIR is
    # the same logit-scale quantity as for the uniform robust component: the informative part
    # plus the robust weight times the component's a + b = 2 (both priors are 80/20 mixtures of
    # the same MAP mixture with a two-patient beta, so their ELIRs differ only through the
    # overlap of the components and stay close).
    with pytest.warns(StatisticalWarning, match="interior mode"):
        res = build_map_prior(DRAWS, robust_weight=0.2, robust_mean=0.2)
    half = build_map_prior(DRAWS, robust_weight=0.2, robust_mean=0.5)
    assert res.robust is not None and half.robust_ess is not None and res.robust_ess is not None
    assert (res.robust.a[-1], res.robust.b[-1]) == pytest.approx((0.4, 1.6))
    assert res.robust_ess["elir"] == pytest.approx(half.robust_ess["elir"], rel=0.15)


@pytest.mark.heavy
def test_no_robustification() -> None:
    res = build_map_prior(DRAWS, robust_weight=0.0)
    assert res.robust is None and res.robust_ess is None and res.prior is res.mixture
    assert res.to_dict()["robust"] is None


def test_invalid_inputs() -> None:
    with pytest.raises(SpecError):
        build_map_prior(np.r_[DRAWS, 1.5])
    with pytest.raises(SpecError):
        build_map_prior(DRAWS, robust_weight=1.0)


@pytest.mark.heavy
@pytest.mark.parametrize(("rate", "tau"), [(0.2, 0.5), (0.5, 0.3)])
def test_ess_of_logit_normal_map_prior_matches_closed_form(rate: float, tau: float) -> None:
    """With the population mean known, the MAP prior is logit-normal(mu, tau^2); its ELIR is
    E[1 / (tau^2 theta (1 - theta))] = (2 + (o + 1/o) exp(tau^2 / 2)) / tau^2, o = odds."""
    draws = special.expit(np.random.default_rng(1).normal(special.logit(rate), tau, 4000))
    res = build_map_prior(draws, robust_weight=0.0, rng=np.random.default_rng(0))
    odds = rate / (1 - rate)
    closed = (2 + (odds + 1 / odds) * np.exp(tau**2 / 2)) / tau**2
    assert res.ess["elir"] == pytest.approx(closed, rel=0.03)


# ------------------------------------------------------------- ESS that does not hinge on K
def _two_scale_draws(n: int = 4000) -> tuple[np.ndarray, float]:
    """Draws whose logit is 50/50 N(-1.5, 0.25^2) and N(-1.5, 1): a sharp peak on wide tails,
    as a MAP prior with an uncertain heterogeneity. Returns the draws and the ELIR of the
    generating distribution by quadrature on the logit scale, with the analytic normal-mixture
    curvature -d2 log q = E_r[1/s^2] - Var_r[-(eta - mu)/s^2] over the Bernoulli information."""
    rng = np.random.default_rng(5)
    scale = np.where(rng.random(n) < 0.5, 0.25, 1.0)
    draws = special.expit(rng.normal(-1.5, scale))
    g = np.linspace(-15, 12, 200_001)
    w, s = np.array([0.5, 0.5])[:, None], np.array([0.25, 1.0])[:, None]
    lc = np.log(w) - np.log(s) - 0.5 * np.log(2 * np.pi) - 0.5 * ((g + 1.5) / s) ** 2
    lq = special.logsumexp(lc, axis=0)
    r = np.exp(lc - lq)
    grad = -(g + 1.5) / s**2
    info = np.sum(r / s**2, axis=0) - np.sum(r * (grad - np.sum(r * grad, axis=0)) ** 2, axis=0)
    t = special.expit(g)
    return draws, float(integrate.simpson(np.exp(lq) * info / (t * (1 - t)), x=g))


@pytest.mark.heavy
def test_map_prior_reports_ess_by_components_and_of_the_draws() -> None:
    draws, true_elir = _two_scale_draws()
    res = build_map_prior(draws, robust_weight=0.2, rng=np.random.default_rng(0))
    m, v = draws.mean(), draws.var(ddof=1)
    assert res.ess_draws["moment"] == pytest.approx(m * (1 - m) / v - 1, rel=1e-12)
    table = res.ess_by_components
    assert list(table["components"]) == [1, 2, 3, 4]
    assert table["selected"].sum() == 1
    chosen = table[table["selected"]].iloc[0]
    assert chosen["components"] == res.fit.n_components
    assert chosen["elir"] == pytest.approx(res.ess["elir"])
    # one beta: ELIR = moment = a + b, far below the truth; it is flagged as a poor fit
    one = table.iloc[0]
    assert not one["adequate"] and one["elir"] == pytest.approx(one["moment"], rel=1e-8)
    assert one["elir"] < 0.5 * true_elir
    # the adequate fits agree with the generating distribution's ELIR
    adequate = table[table["adequate"]]
    assert len(adequate) >= 2
    np.testing.assert_allclose(adequate["elir"], true_elir, rtol=0.06)
    # printout and JSON carry both figures
    text = str(res)
    assert "ESS by number of mixture components" in text
    assert "Moment ESS of the MAP draws" in text
    payload = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert payload["ess_draws"]["moment"] == pytest.approx(m * (1 - m) / v - 1)
    assert [row["components"] for row in payload["ess_by_components"]] == [1, 2, 3, 4]
    assert payload["convergence"] is None and payload["sensitivity"] is None


def test_draws_ess_moment_closed_form_and_errors() -> None:
    draws = stats.beta.rvs(3.0, 9.0, size=200_000, random_state=np.random.default_rng(2))
    assert draws_ess(draws)["moment"] == pytest.approx(12.0, rel=0.02)  # a + b by simulation
    with pytest.raises(SpecError):
        draws_ess([0.3, 0.3])


# ------------------------------------------------------------- ESS over the meta-analysis priors
_TAU = {"HalfNormal(sigma=0.5)": 0.3, "HalfNormal(sigma=1)": 0.6, "HalfNormal(sigma=2)": 1.0}
_MU = {"Normal(mu=0, sigma=1.5)": -1.0, "Normal(mu=0, sigma=3)": -0.5}


def _logit_normal_elir(rate_logit: float, tau: float) -> float:
    """ELIR of logit-normal(mu, tau^2): (2 + (o + 1/o) exp(tau^2 / 2)) / tau^2, o = e^mu."""
    odds = np.exp(rate_logit)
    return (2 + (odds + 1 / odds) * np.exp(tau**2 / 2)) / tau**2


@pytest.fixture
def fake_fits(monkeypatch: pytest.MonkeyPatch) -> list:
    """MCMC fits replaced by logit-normal draws: tau and mu set by the priors' names."""
    from pclbayes.planning import map_prior as module

    calls: list = []

    def map_draws(data, *, endpoint, by, level, tau_prior, intercept_prior, seed, sampler):
        tau = _TAU[tau_prior or "HalfNormal(sigma=1)"]
        mu = _MU[intercept_prior or "Normal(mu=0, sigma=1.5)"]
        calls.append((tau_prior, intercept_prior, sampler))
        draws = special.expit(np.random.default_rng(8).normal(mu, tau, 4000))
        return draws, {"converged": True, "max_rhat": 1.001}

    class Evidence:
        data_hash = "e" * 64

    monkeypatch.setattr(module, "_map_draws", map_draws)
    monkeypatch.setattr("pclbayes.data.load", lambda path=None: Evidence())
    return calls


@pytest.mark.heavy
def test_ess_range_table_against_closed_forms(fake_fits: list) -> None:
    from pclbayes.planning import map_prior_ess_range

    table = map_prior_ess_range(
        endpoint="cr", by="target", level="BCMA", robust_weight=0.2, max_components=2
    )
    assert len(fake_fits) == 6 and len(table) == 6
    assert set(table["tau_prior"]) == set(_TAU) and set(table["intercept_prior"]) == set(_MU)
    for row in table.itertuples():
        mu, tau = _MU[row.intercept_prior], _TAU[row.tau_prior]
        draws = special.expit(np.random.default_rng(8).normal(mu, tau, 4000))
        m, v = draws.mean(), draws.var(ddof=1)
        assert row.draws_moment == pytest.approx(m * (1 - m) / v - 1, rel=1e-12)
        # a beta mixture fitted to 4000 draws recovers the ELIR to about 10% (worst for the
        # widest logit-normal, whose tails a beta mixture cannot follow exactly)
        assert row.elir == pytest.approx(_logit_normal_elir(mu, tau), rel=0.12)
        assert row.robust_elir < row.elir and row.converged


@pytest.mark.heavy
def test_map_prior_sensitivity_reuses_the_main_fit_and_prints_the_range(
    fake_fits: list, capsys
) -> None:
    import argparse

    from pclbayes.cli import plan_cmd

    parser = argparse.ArgumentParser(prog="pclbayes")
    plan_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["plan", "map-prior", "--endpoint", "cr", "--target", "BCMA", "--ess-range",
         "--tau-prior", "HalfNormal(sigma=0.5)", "--intercept-prior", "Normal(mu=0, sigma=3)",
         "--draws", "500", "--max-components", "2"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    # the main fit with the priors given, then the five other pairs of the grid
    assert fake_fits[0] == ("HalfNormal(sigma=0.5)", "Normal(mu=0, sigma=3)", {"draws": 500})
    assert len(fake_fits) == 6
    elirs = [_logit_normal_elir(mu, tau) for mu in _MU.values() for tau in _TAU.values()]
    line = next(s for s in out.splitlines() if s.startswith("ESS (ELIR) "))
    lo, hi = (float(v) for v in line.split()[2].split("-"))
    assert lo == pytest.approx(min(elirs), rel=0.12) and hi == pytest.approx(max(elirs), rel=0.12)
    assert "patients across the heterogeneity priors" in line
    assert "HalfNormal(sigma=2)" in out and "draws_moment" in out


@pytest.mark.heavy
def test_map_prior_without_range_fits_once(fake_fits: list, capsys) -> None:
    import argparse

    from pclbayes.cli import plan_cmd

    parser = argparse.ArgumentParser(prog="pclbayes")
    plan_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plan", "map-prior", "--endpoint", "cr", "--target", "BCMA"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert len(fake_fits) == 1 and fake_fits[0][2] is None
    assert "--ess-range" in out and "ESS (ELIR) " not in out


# ------------------------------------------------------------- convergence mark (real MCMC fit)
@pytest.fixture(scope="module")
def unconverged(tmp_path_factory: pytest.TempPathFactory):
    """A MAP prior from a deliberately tiny sampler run (4 chains x 20 draws, 20 tuning steps)
    on the bundled data, written to a prior file."""
    import warnings as _warnings

    from pclbayes.errors import ConvergenceWarning
    from pclbayes.planning import map_prior_from_evidence, save_prior

    with _warnings.catch_warnings(record=True) as record:
        _warnings.simplefilter("always")
        res = map_prior_from_evidence(
            endpoint="cr", by="target", level="BCMA", seed=1, sampler={"draws": 20, "tune": 20}
        )
    assert any(issubclass(w.category, ConvergenceWarning) for w in record)
    path = tmp_path_factory.mktemp("prior") / "map.json"
    save_prior(res.prior, path, provenance=res.provenance, convergence=res.convergence)
    return res, path


@pytest.mark.heavy
def test_unconverged_map_prior_is_marked_in_result_and_file(unconverged) -> None:
    res, path = unconverged
    # 80 draws cannot give a bulk ESS of 400: the gate must fail
    assert res.converged is False and res.fit.n_draws == 80
    conv = res.convergence
    assert conv["chains"] == 4 and conv["draws"] == 20 and conv["min_ess_bulk"] < 400
    assert "NOT converged" in str(res)
    stored = json.loads(path.read_text())["convergence"]
    assert stored["converged"] is False
    assert stored["min_ess_bulk"] == pytest.approx(conv["min_ess_bulk"])
    assert stored["max_rhat"] == pytest.approx(conv["max_rhat"])
    assert res.to_dict()["convergence"]["converged"] is False


@pytest.mark.heavy
@pytest.mark.parametrize(
    "argv",
    [["ess"], ["ess", "--method", "all"],
     ["oc", "--n", "10", "--threshold", "0.3", "--prob", "0.9", "--true", "0.3,0.5"]],
)
def test_plan_commands_warn_about_an_unconverged_prior(unconverged, argv, capsys) -> None:
    import argparse

    from pclbayes.cli import plan_cmd

    _, path = unconverged
    parser = argparse.ArgumentParser(prog="pclbayes")
    plan_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plan", argv[0], "--prior", str(path), *argv[1:]])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "did not pass the convergence gate" in captured.err
    assert "min bulk ESS" in captured.err and "convergence" not in captured.out


def test_converged_or_unmarked_prior_gives_no_warning(tmp_path, capsys) -> None:
    import argparse

    from pclbayes.cli import plan_cmd
    from pclbayes.planning import BetaMixture, load_convergence, save_prior

    marked = save_prior(BetaMixture.single(3, 7), tmp_path / "ok.json",
                        convergence={"converged": True, "max_rhat": 1.001})
    plain = save_prior(BetaMixture.single(3, 7), tmp_path / "plain.json")
    assert load_convergence(marked) == {"converged": True, "max_rhat": 1.001}
    assert load_convergence(plain) is None
    parser = argparse.ArgumentParser(prog="pclbayes")
    plan_cmd.register(parser.add_subparsers(dest="command", required=True))
    for path in (marked, plain):
        args = parser.parse_args(["plan", "ess", "--prior", str(path)])
        assert args.func(args) == 0
        assert capsys.readouterr().err == ""


def test_malformed_convergence_record_is_refused(tmp_path) -> None:
    from pclbayes.planning import BetaMixture, load_prior, save_prior

    path = save_prior(BetaMixture.single(3, 7), tmp_path / "p.json")
    body = json.loads(path.read_text())
    body["convergence"] = {"converged": "no"}
    path.write_text(json.dumps(body))
    with pytest.raises(SpecError, match="converged"):
        load_prior(path)
