"""Survival planning glue and the ``plan survival-prior`` / ``plan events`` commands.

Numbers are checked against independent calculations: numpy quantiles of the draws, the
closed-form ESS ``1 / (k^2 var)`` of a single normal log-median prior, exact binomial pmfs with
event probabilities from numerical integration of the scipy Weibull cdf, and a direct
Monte-Carlo simulation of trials with scipy Weibull draws.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import pclbayes.data
from pclbayes.cli import main, plan_cmd
from pclbayes.errors import SpecError, StatisticalWarning
from pclbayes.planning import (
    BetaMixture,
    NormalMixture,
    load_prior,
    load_provenance,
    log_median_prior,
    save_prior,
)
from pclbayes.planning.survival_map import (
    SurvivalMapPrior,
    build_survival_map_prior,
    survival_map_prior_from_evidence,
)

LOG_MEDIAN, LOG_SD = np.log(9.0), 0.4


def synthetic_draws(seed: int, size: int = 3000) -> dict[str, np.ndarray]:
    """Log-normal new-cohort medians (months) and matching Weibull shapes."""
    rng = np.random.default_rng(seed)
    return {
        "median": np.exp(rng.normal(LOG_MEDIAN, LOG_SD, size)),
        "shape": np.exp(rng.normal(np.log(1.3), 0.15, size)),
    }


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pclbayes")
    plan_cmd.register(p.add_subparsers(dest="command", required=True))
    return p


def _run(parser: argparse.ArgumentParser, argv: list[str], capsys) -> tuple[int, str]:
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


@pytest.fixture
def fake_survival_draws(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace the survival model's predictive draws by synthetic ones (glue tests only)."""
    import pclbayes.survival as survival

    calls: dict = {}

    def predictive_median_draws(data, *, endpoint, by, level, seed):
        calls.update(data=data, endpoint=endpoint, by=by, level=level, seed=seed)
        return synthetic_draws(seed)

    monkeypatch.setattr(survival, "predictive_median_draws", predictive_median_draws)
    return calls


# ---------------------------------------------------------------------------- glue
def test_prior_from_supplied_draws_matches_closed_forms() -> None:
    draws = synthetic_draws(5)
    res = survival_map_prior_from_evidence(draws=draws, endpoint="pfs", level="BCMA", seed=3)
    assert isinstance(res, SurvivalMapPrior)
    log_m = np.log(draws["median"])
    # a single normal is selected; its EM estimates are the normal MLE (ddof = 0)
    assert res.fit.n_components == 1
    assert res.prior.means[0] == pytest.approx(log_m.mean(), abs=1e-9)
    assert res.prior.sds[0] == pytest.approx(log_m.std(), rel=1e-6)
    # ESS in events at the posterior-median shape: 1 / (k^2 var) for a single normal
    k = float(np.median(draws["shape"]))
    expected = 1.0 / (k**2 * log_m.var())
    assert res.shape == pytest.approx(k, rel=1e-12)
    assert res.ess["elir"] == pytest.approx(expected, rel=1e-6)
    assert res.ess["moment"] == pytest.approx(expected, rel=1e-6)
    assert res.ess["morita"] == pytest.approx((1 - 1 / 100) * expected, rel=1e-6)
    # draw summaries: numpy quantiles; mixture summary: lognormal quantiles
    lo, med, hi = np.quantile(draws["median"], [0.025, 0.5, 0.975])
    s = res.median_summary
    assert (s["lower"], s["median"], s["upper"]) == pytest.approx((lo, med, hi), rel=1e-12)
    assert s["mean_log"] == pytest.approx(log_m.mean())
    assert s["sd_log"] == pytest.approx(log_m.std(ddof=1))
    assert s["draws"] == 3000
    ln = stats.lognorm(s=log_m.std(), scale=np.exp(log_m.mean()))
    m = res.mixture_summary
    assert (m["lower"], m["median"], m["upper"]) == pytest.approx(
        tuple(ln.ppf([0.025, 0.5, 0.975])), rel=1e-6
    )
    klo, khi = np.quantile(draws["shape"], [0.025, 0.975])
    assert (res.shape_summary["lower"], res.shape_summary["upper"]) == pytest.approx((klo, khi))
    # provenance
    prov = res.provenance
    assert prov["seed"] == 3 and prov["draws_source"] == "supplied"
    assert prov["data_hash"] is None
    assert prov["weibull_shape"] == pytest.approx(k)
    assert prov["spec"]["level"] == "BCMA" and prov["spec"]["endpoint"] == "pfs"
    assert "ESS in events at shape" in str(res)


def test_bimodal_draws_give_a_mixture_with_moment_ess() -> None:
    rng = np.random.default_rng(11)
    log_m = np.r_[rng.normal(1.5, 0.2, 2000), rng.normal(2.6, 0.3, 2000)]
    res = build_survival_map_prior(
        {"median": np.exp(log_m), "shape": np.full(4000, 2.0)}, rng=np.random.default_rng(0)
    )
    assert res.fit.n_components >= 2
    assert res.prior.mean == pytest.approx(log_m.mean(), abs=0.01)
    assert res.ess["moment"] == pytest.approx(1 / (4 * res.prior.var), rel=1e-12)
    assert res.ess["moment"] == pytest.approx(1 / (4 * log_m.var()), rel=0.02)


@pytest.mark.heavy
def test_heavy_tailed_draws_relax_the_selection_penalty() -> None:
    # skewed scale mixture of normals, like the predictive log median of a new cohort
    rng = np.random.default_rng(7)
    sd = np.exp(rng.normal(np.log(0.35), 0.45, 4000))
    log_m = 2.1 + sd * rng.normal(size=4000) - 0.15 * rng.normal(size=4000) ** 2
    draws = {"median": np.exp(log_m), "shape": np.full(4000, 1.5)}
    with pytest.warns(StatisticalWarning, match="poorly"):  # the parsimonious choice fails
        strict = log_median_prior(draws["median"], penalty=6.0, rng=np.random.default_rng(0))
    assert not strict.adequate
    res = build_survival_map_prior(draws, rng=np.random.default_rng(0))  # no warning
    assert res.penalty == 2.0 and res.fit.adequate
    assert res.fit.n_components > strict.n_components
    assert res.to_dict()["fit"]["penalty"] == 2.0


def test_poor_fit_warns() -> None:
    x = np.random.default_rng(1).uniform(1.0, 3.0, 4000)
    with pytest.warns(StatisticalWarning, match="log-median draws poorly"):
        res = build_survival_map_prior(
            {"median": np.exp(x), "shape": np.ones(4000)}, max_components=1
        )
    assert not res.fit.adequate


def test_save_and_reload(tmp_path: Path) -> None:
    res = survival_map_prior_from_evidence(draws=synthetic_draws(1), seed=2)
    path = res.save(tmp_path / "prior.json")
    loaded = load_prior(path)
    assert isinstance(loaded, NormalMixture)
    np.testing.assert_allclose(loaded.means, res.prior.means, rtol=1e-15)
    np.testing.assert_allclose(loaded.sds, res.prior.sds, rtol=1e-15)
    prov = load_provenance(path)
    assert prov["seed"] == 2 and prov["weibull_shape"] == pytest.approx(res.shape)


def test_same_seed_same_numbers() -> None:
    a = survival_map_prior_from_evidence(draws=synthetic_draws(4), seed=7).to_dict()
    b = survival_map_prior_from_evidence(draws=synthetic_draws(4), seed=7).to_dict()
    for d in (a, b):
        d["provenance"].pop("created")
    assert a == b


def test_supplied_draws_with_data_path_are_hashed(data_copy: Path) -> None:
    res = survival_map_prior_from_evidence(data_copy, draws=synthetic_draws(1))
    h = res.provenance["data_hash"]
    assert isinstance(h, str) and len(h) == 64


def test_evidence_path_calls_survival_model(fake_survival_draws: dict) -> None:
    res = survival_map_prior_from_evidence(endpoint="os", by="strategy", level="first", seed=9)
    assert isinstance(fake_survival_draws["data"], pclbayes.data.EvidenceBase)
    assert {k: fake_survival_draws[k] for k in ("endpoint", "by", "level", "seed")} == {
        "endpoint": "os",
        "by": "strategy",
        "level": "first",
        "seed": 9,
    }
    assert res.provenance["data_hash"] == pclbayes.data.load().data_hash
    assert res.provenance["draws_source"] == "pclbayes.survival.predictive_median_draws"
    expected = synthetic_draws(9)["median"]
    assert res.median_summary["median"] == pytest.approx(np.median(expected))


@pytest.mark.parametrize(
    ("draws", "match"),
    [
        ({"median": np.ones(10)}, "lack"),
        ({"median": np.ones(10), "shape": np.ones(9)}, "differ in length"),
        ({"median": np.r_[np.ones(9), -1.0], "shape": np.ones(10)}, "finite and positive"),
        ({"median": np.ones((2, 5)), "shape": np.ones(10)}, "1-D"),
        ([1.0, 2.0], "mapping"),
    ],
)
def test_bad_draws_are_refused(draws, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        survival_map_prior_from_evidence(draws=draws)


def test_bad_endpoint_and_seed() -> None:
    with pytest.raises(SpecError, match="endpoint"):
        survival_map_prior_from_evidence(endpoint="orr", draws=synthetic_draws(1))
    with pytest.raises(SpecError, match="seed"):
        survival_map_prior_from_evidence(seed=1.5, draws=synthetic_draws(1))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("command", ["survival-prior", "events"])
def test_help(parser, command: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["plan", command, "--help"])
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_survival_prior_json_and_out(parser, tmp_path: Path, fake_survival_draws, capsys) -> None:
    out_file = tmp_path / "pfs.json"
    argv = ["plan", "survival-prior", "--endpoint", "pfs", "--target", "BCMA", "--seed", "4"]
    code, out = _run(parser, [*argv, "--out", str(out_file), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"median", "mixture", "shape", "ess_events", "fit", "provenance"}
    assert fake_survival_draws["level"] == "BCMA" and fake_survival_draws["seed"] == 4
    draws = synthetic_draws(4)
    lo, med, hi = np.quantile(draws["median"], [0.025, 0.5, 0.975])
    assert (data["median"]["lower"], data["median"]["median"], data["median"]["upper"]) == (
        pytest.approx((lo, med, hi))
    )
    log_m = np.log(draws["median"])
    k = np.median(draws["shape"])
    assert data["ess_events"]["elir"] == pytest.approx(1 / (k**2 * log_m.var()), rel=1e-6)
    assert data["mixture"] == [
        {
            "name": "comp1",
            "weight": 1.0,
            "mean": pytest.approx(log_m.mean()),
            "sd": pytest.approx(log_m.std(), rel=1e-6),
        }
    ]
    assert isinstance(load_prior(out_file), NormalMixture)
    assert data["provenance"]["weibull_shape"] == pytest.approx(k)


def test_survival_prior_text(parser, fake_survival_draws, capsys) -> None:
    code, out = _run(parser, ["plan", "survival-prior", "--endpoint", "os"], capsys)
    assert code == 0
    assert "median OS" in out and "ESS in events" in out and "95% interval" in out


def _event_probability_quad(median: float, shape: float, accrual: float, t: float) -> float:
    """P(progressed by t) for uniform entry over [0, accrual], by quadrature of the cdf."""
    dist = stats.weibull_min(shape, scale=median / np.log(2) ** (1 / shape))
    return integrate.quad(lambda e: dist.cdf(t - e), 0, min(accrual, t))[0] / accrual


def test_events_json_matches_exact_binomial(parser, tmp_path: Path, capsys) -> None:
    # an (almost) point-mass prior on the median: the predictive is Binomial(n, p)
    path = save_prior(NormalMixture([1.0], [np.log(8.0)], [1e-9]), tmp_path / "point.json")
    n, accrual, t, shape = 24, 12.0, 18.0, 1.4
    argv = ["plan", "events", "--prior", str(path), "--n", str(n), "--accrual", "12"]
    argv += ["--analysis-time", "18", "--shape", "1.4", "--at-least", "0,10,15,24", "--json"]
    code, out = _run(parser, argv, capsys)
    assert code == 0
    data = json.loads(out)
    p = _event_probability_quad(8.0, shape, accrual, t)
    binom = stats.binom(n, p)
    np.testing.assert_allclose(data["pmf"], binom.pmf(np.arange(n + 1)), atol=1e-7)
    assert data["mean"] == pytest.approx(n * p, rel=1e-7)
    assert (data["lower"], data["upper"]) == (binom.ppf(0.025), binom.ppf(0.975))
    got = {row["events"]: row["prob"] for row in data["prob_at_least"]}
    assert got == pytest.approx({k: binom.sf(k - 1) for k in (0, 10, 15, 24)}, abs=1e-7)
    assert data["shape"] == 1.4 and data["shape_source"] == "--shape"


def test_events_against_direct_simulation(parser, tmp_path: Path, capsys) -> None:
    prior = NormalMixture([0.6, 0.4], [np.log(6.0), np.log(12.0)], [0.2, 0.3])
    path = save_prior(prior, tmp_path / "mix.json")
    n, accrual, t, shape = 30, 15.0, 20.0, 1.3
    argv = ["plan", "events", "--prior", str(path), "--n", str(n), "--accrual", "15"]
    argv += ["--analysis-time", "20", "--shape", "1.3", "--seed", "5", "--json"]
    argv += ["--at-least", "10,15,20,25"]
    code, out = _run(parser, argv, capsys)
    assert code == 0
    data = json.loads(out)
    # direct Monte-Carlo of whole trials with scipy Weibull draws
    rng = np.random.default_rng(2024)
    sims = 20_000
    comp = rng.choice(2, size=sims, p=[0.6, 0.4])
    med = np.exp(
        rng.normal(np.array([np.log(6.0), np.log(12.0)])[comp], np.array([0.2, 0.3])[comp])
    )
    scale = med / np.log(2) ** (1 / shape)
    times = stats.weibull_min.rvs(shape, scale=scale[:, None], size=(sims, n), random_state=rng)
    entry = rng.uniform(0, accrual, (sims, n))
    counts = np.sum(entry + times <= t, axis=1)
    # the CLI averages 10,000 prior draws: combine both Monte-Carlo errors
    se_mean = counts.std() * np.sqrt(1 / sims + 1 / 10_000)
    assert data["mean"] == pytest.approx(counts.mean(), abs=4 * se_mean)
    for row in data["prob_at_least"]:
        emp = np.mean(counts >= row["events"])
        se = np.sqrt(emp * (1 - emp) * (1 / sims + 1 / 10_000)) + 1e-4
        assert row["prob"] == pytest.approx(emp, abs=4 * se)
    lo, hi = np.quantile(counts, [0.025, 0.975])
    assert abs(data["lower"] - lo) <= 1 and abs(data["upper"] - hi) <= 1


def test_events_seed_reproducible(parser, tmp_path: Path, capsys) -> None:
    path = save_prior(NormalMixture([1.0], [2.0], [0.5]), tmp_path / "n.json")
    base = ["plan", "events", "--prior", str(path), "--n", "20", "--accrual", "10"]
    base += ["--analysis-time", "15", "--json"]
    outs = [_run(parser, [*base, "--seed", s], capsys)[1] for s in ("1", "1", "2")]
    assert outs[0] == outs[1]
    assert json.loads(outs[0])["pmf"] != json.loads(outs[2])["pmf"]


def test_events_shape_from_prior_file_or_default(parser, tmp_path: Path, capsys) -> None:
    res = survival_map_prior_from_evidence(draws=synthetic_draws(3), seed=1)
    with_shape = res.save(tmp_path / "with.json")
    without = save_prior(res.prior, tmp_path / "without.json")
    base = ["--n", "10", "--accrual", "6", "--analysis-time", "12", "--json"]
    _, out = _run(parser, ["plan", "events", "--prior", str(with_shape), *base], capsys)
    data = json.loads(out)
    assert data["shape"] == pytest.approx(np.median(synthetic_draws(3)["shape"]))
    assert data["shape_source"] == "prior file" and data["endpoint"] == "pfs"
    _, out = _run(parser, ["plan", "events", "--prior", str(with_shape), *base[:-1]], capsys)
    assert "Predictive number of PFS events (progression or death)" in out
    _, out = _run(parser, ["plan", "events", "--prior", str(without), *base], capsys)
    data = json.loads(out)
    assert data["shape"] == 1.0 and data["shape_source"] == "default (exponential)"
    assert data["endpoint"] is None


def test_events_text_table(parser, tmp_path: Path, capsys) -> None:
    path = save_prior(NormalMixture([1.0], [2.0], [0.5]), tmp_path / "n.json")
    argv = ["plan", "events", "--prior", str(path), "--n", "20", "--accrual", "10"]
    code, out = _run(parser, [*argv, "--analysis-time", "15"], capsys)
    assert code == 0
    assert "Expected events" in out and "P(events >= k)" in out and "95% interval" in out
    assert "Predictive number of events:" in out


# ---------------------------------------------------------------------------- exit codes
def test_bad_prior_files_exit_2(tmp_path: Path, capsys) -> None:
    events = ["--n", "10", "--accrual", "6", "--analysis-time", "12"]
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert main(["plan", "events", "--prior", str(garbage), *events]) == 2
    assert "not valid JSON" in capsys.readouterr().err

    assert main(["plan", "events", "--prior", str(tmp_path / "missing.json"), *events]) == 2
    assert "prior file not found" in capsys.readouterr().err

    assert main(["plan", "events", "--prior", str(tmp_path), *events]) == 2
    assert f"{tmp_path}: is a directory; give a prior JSON file" in capsys.readouterr().err

    beta = save_prior(BetaMixture.single(2, 3), tmp_path / "beta.json")
    assert main(["plan", "events", "--prior", str(beta), *events]) == 2
    err = capsys.readouterr().err
    assert "needs a normal prior for log(median months)" in err and "survival-prior" in err

    broken = json.loads((beta).read_text())
    broken["family"] = "normal"  # normal components need mean and sd
    bad_fields = tmp_path / "fields.json"
    bad_fields.write_text(json.dumps(broken), encoding="utf-8")
    assert main(["plan", "events", "--prior", str(bad_fields), *events]) == 2
    assert "lacks" in capsys.readouterr().err


def test_bad_event_inputs_exit_2(tmp_path: Path, capsys) -> None:
    path = save_prior(NormalMixture([1.0], [2.0], [0.5]), tmp_path / "n.json")
    base = ["plan", "events", "--prior", str(path), "--accrual", "6", "--analysis-time", "12"]
    assert main([*base, "--n", "10", "--at-least", "11"]) == 2
    assert "--at-least" in capsys.readouterr().err
    for bad, option in ((["--n", "0"], "--n"), (["--n", "10", "--shape", "-1"], "--shape")):
        with pytest.raises(SystemExit) as usage:  # out of range: an argparse usage error
            main([*base, *bad])
        assert usage.value.code == 2
        assert f"argument {option}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["plan", "events", "--prior", str(path), "--accrual", "6"])
    assert info.value.code == 2


def test_survival_prior_success_exit_0(fake_survival_draws, capsys) -> None:
    assert main(["plan", "survival-prior", "--target", "BCMA", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["level"] == "BCMA"


# ---------------------------------------------------------------------------- real model
@pytest.mark.slow
def test_survival_prior_end_to_end_with_real_model(parser, capsys) -> None:
    from pclbayes.survival import predictive_median_draws

    code, out = _run(
        parser, ["plan", "survival-prior", "--target", "BCMA", "--seed", "2", "--json"], capsys
    )
    assert code == 0
    data = json.loads(out)
    draws = predictive_median_draws(
        pclbayes.data.load(), endpoint="pfs", by="target", level="BCMA", seed=2
    )
    lo, med, hi = np.quantile(draws["median"], [0.025, 0.5, 0.975])
    assert (data["median"]["lower"], data["median"]["median"], data["median"]["upper"]) == (
        pytest.approx((lo, med, hi), rel=1e-12)
    )
    k = np.median(draws["shape"])
    assert data["shape"]["median"] == pytest.approx(k, rel=1e-12)
    var = np.var(np.log(draws["median"]))
    assert data["ess_events"]["moment"] == pytest.approx(1 / (k**2 * var), rel=0.05)
