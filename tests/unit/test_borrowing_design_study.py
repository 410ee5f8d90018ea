"""The borrowing-design study against exact enumeration over the new cohort's responders.

The analysis depends on the simulated data only through the responder count ``r``, so
the exact operating characteristic is the finite sum over ``r = 0..n`` of the binomial
probability times the decision at ``r``. The decisions at each ``r`` come from a posterior
computed here, independently of the package's exact engine: a plain uniform midpoint grid
over ``(logit mu, log kappa)`` with scipy's beta functions, the shared ``kappa`` linking the
strata; the no-borrowing decisions from the conjugate beta posterior (scipy.stats.beta).
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from simulate_helpers import run_tasks

from pclbayes.checks import two_sided_p
from pclbayes.errors import SpecError
from pclbayes.simulate.spec import load_study, study_from_spec
from pclbayes.simulate.studies.borrowing_design import BorrowingDesignStudy

ROOT = Path(__file__).resolve().parents[2]
HISTORY = [("a", "BCMA", 8, 6), ("b", "BCMA", 5, 3), ("c", "BCMA", 10, 9),
           ("d", "GPRC5D", 6, 4)]
N, P0, C, ALPHA = 15, 0.5, 0.8, 0.1


@pytest.fixture(scope="module")
def counts_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("evidence") / "counts.csv"
    lines = ["cohort,is_pcl,endpoint,n,responders,target"]
    lines += [f"{c},1,orr,{n},{r},{t}" for c, t, n, r in HISTORY]
    path.write_text("\n".join(lines) + "\n")
    return path


def _spec(evidence: Path | str, **changes) -> dict:
    table = {"endpoint": "orr", "by": "target", "level": "BCMA", "n": N, "null_rate": P0,
             "threshold": C, "data": str(evidence), "conflict_alpha": ALPHA}
    table.update(changes)
    table = {k: v for k, v in table.items() if v is not None}
    return {"study": {"kind": "borrowing-design", "name": "b", "title": "test", "seed": 3,
                      "replicates": 10},
            "grid": {"true_rate": [0.4, 0.6, 0.8]}, "borrowing_design": table}


def _reference(n: int, p0: float) -> tuple[np.ndarray, np.ndarray]:
    """Per r: P(p_new > p0 | history and r of n), and the MAP predictive pmf of r.

    Beta(1, 1) on mu (each stratum), Gamma(2, 0.1) on the shared kappa (the response
    model's defaults), midpoint rule on a uniform grid.
    """
    xe, ye = np.linspace(-20, 20, 481), np.linspace(-9, 8, 261)
    x, y = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
    mu, kappa = special.expit(x)[:, None], np.exp(y)[None, :]
    a, b = mu * kappa, (1 - mu) * kappa
    log_px = np.log(mu * (1 - mu))
    log_py = stats.gamma(2.0, scale=10.0).logpdf(kappa) + np.log(kappa)

    def log_bb(nn: int, rr: int) -> np.ndarray:
        return (special.gammaln(nn + 1) - special.gammaln(rr + 1)
                - special.gammaln(nn - rr + 1) + special.betaln(a + rr, b + nn - rr)
                - special.betaln(a, b))

    bcma = log_px + sum(log_bb(nn, rr) for _, t, nn, rr in HISTORY if t == "BCMA")
    gprc5d = special.logsumexp(
        log_px + sum(log_bb(nn, rr) for _, t, nn, rr in HISTORY if t == "GPRC5D"), axis=0)
    hist = bcma + gprc5d + log_py
    w_hist = np.exp(hist - special.logsumexp(hist))
    probs, pmf = [], []
    for r in range(n + 1):
        pmf.append(float(np.sum(w_hist * np.exp(log_bb(n, r)))))
        joint = hist + log_bb(n, r)
        w = np.exp(joint - special.logsumexp(joint))
        probs.append(float(np.sum(w * special.betainc(b + n - r, a + r, 1 - p0))))
    return np.array(probs), np.array(pmf)


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    return _reference(N, P0)


def _run(study: BorrowingDesignStudy, replicates: int, seed: int = 17) -> pd.DataFrame:
    return run_tasks(study, replicates, seed)


@pytest.mark.heavy
def test_posterior_per_outcome_matches_an_independent_grid(counts_csv, reference):
    probs, pmf = reference
    study = BorrowingDesignStudy(_spec(counts_csv))
    study.prepare()
    for r in range(N + 1):
        prob, _ = study._borrowing(N, r)
        assert prob == pytest.approx(probs[r], abs=5e-4), r
        assert study._conflict(N, r) == pytest.approx(two_sided_p(pmf, r), abs=5e-4), r


def test_operating_characteristics_match_enumeration_over_the_responders(counts_csv,
                                                                         reference):
    probs, pmf = reference
    p_conf = np.array([two_sided_p(pmf, r) for r in range(N + 1)])
    # the test's own decisions must not sit on a knife edge (else grid error could flip one)
    assert np.min(np.abs(probs - C)) > 5e-3 and np.min(np.abs(p_conf - ALPHA)) > 5e-3
    alone = stats.beta(1 + np.arange(N + 1), 1 + N - np.arange(N + 1)).sf(P0)
    study = BorrowingDesignStudy(_spec(counts_csv))
    reps = 800
    table = study.summarise(_run(study, reps)).tables["operating characteristics"]
    for _, row in table.iterrows():
        weights = stats.binom(N, row["true_rate"]).pmf(np.arange(N + 1))
        for column, decision in (("p_success", probs > C), ("p_success_alone", alone > C),
                                 ("p_conflict", p_conf < ALPHA)):
            exact = float(weights @ decision)
            se = max(math.sqrt(exact * (1 - exact) / reps), 1e-3)
            assert abs(row[column] - exact) < 4 * se, (column, row["true_rate"], exact)
            assert row[f"{column}_exact"] == pytest.approx(exact, abs=1e-12), column
    assert list(table["estimates"]) == ["type-I error", "power", "power"]
    assert list(table["tasks"]) == [reps] * 3


def test_no_borrowing_is_the_conjugate_beta_posterior(counts_csv):
    study = BorrowingDesignStudy(_spec(counts_csv, alone_prior={"dist": "Beta", "alpha": 0.5,
                                                                "beta": 2.0}))
    rows = _run(study, 30)
    r = rows["responders"].to_numpy()
    want = stats.beta(0.5 + r, 2.0 + N - r).sf(P0)
    np.testing.assert_allclose(rows["prob_alone"], want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(rows["post_mean_alone"], (0.5 + r) / (2.5 + N))
    assert (rows["success_alone"] == (want > C)).all()


def test_rows_are_reproducible_and_survive_pickling(counts_csv):
    study = BorrowingDesignStudy(_spec(counts_csv))
    sc = study.scenarios()[1]
    seed = np.random.SeedSequence(3, spawn_key=(1, 4))
    before = pickle.loads(pickle.dumps(study))      # as sent to a worker, unprepared
    row = study.run_task(sc, 4, seed)
    after = pickle.loads(pickle.dumps(study))       # prepared: the caches are not sent
    assert after._state == {}
    for other in (before, after):
        assert repr(other.run_task(sc, 4, np.random.SeedSequence(3, spawn_key=(1, 4)))) \
            == repr(row)
    assert set(row) == {"responders", "success", "prob", "post_mean", "success_alone",
                        "prob_alone", "post_mean_alone", "conflict", "conflict_p", "max_rhat",
                        "min_ess_bulk", "divergences"}
    assert all(math.isnan(row[k]) for k in ("max_rhat", "min_ess_bulk", "divergences"))


@pytest.mark.heavy
def test_grid_of_cohort_sizes(counts_csv):
    spec = _spec(counts_csv)
    spec["grid"] = {"true_rate": [0.7], "n": [5, 30]}
    study = BorrowingDesignStudy(spec)
    rows = _run(study, 20)
    assert rows.groupby("n")["responders"].max().le(pd.Series({5: 5, 30: 30})).all()
    table = study.summarise(rows).tables["operating characteristics"]
    assert list(table["n"]) == [5, 30]
    # a larger cohort has more power at a true rate above the null
    assert table["p_success_alone"].iloc[1] >= table["p_success_alone"].iloc[0]


@pytest.mark.parametrize(("changes", "message"), [
    ({"colour": "red"}, "[borrowing_design] colour: unknown key"),
    ({"n": 0}, "[borrowing_design] n: must be >= 1"),
    ({"null_rate": 1.0}, "[borrowing_design] null_rate: must be < 1"),
    ({"data": "no/such/folder"}, "does not exist"),
    ({"alone_prior": {"dist": "Gamma", "alpha": 1, "beta": 1}}, "expected a Beta prior"),
    ({"priors": {"kappa": "Normal(mu=0, sigma=1)"}}, "wrong support"),
    ({"conflict_method": "exact"}, "p-value method must be one of"),
])
def test_bad_keys_are_named_with_the_file(changes, message, counts_csv, tmp_path):
    path = tmp_path / "b.toml"
    with pytest.raises(SpecError) as err:
        BorrowingDesignStudy(_spec(counts_csv, **changes), path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_level_is_checked_against_the_data(counts_csv, tmp_path):
    path = tmp_path / "b.toml"
    with pytest.raises(SpecError, match=r"level: missing: name the new cohort's stratum, one "
                                        "of BCMA, GPRC5D"):
        BorrowingDesignStudy(_spec(counts_csv, level=None), path).prepare()
    with pytest.raises(SpecError, match=r"level: 'CD19' is not a level of 'target'"):
        BorrowingDesignStudy(_spec(counts_csv, level="CD19"), path).prepare()
    spec = _spec(counts_csv)
    spec["grid"] = {"rate": [0.5]}
    with pytest.raises(SpecError, match=r"\[grid\] rate: unknown key"):
        BorrowingDesignStudy(spec, path)


def test_relative_data_path_is_read_from_the_spec_folder(counts_csv):
    study = BorrowingDesignStudy(_spec(counts_csv.name), counts_csv.parent / "b.toml")
    assert study.data_path == counts_csv


def test_bundled_spec_reads_and_runs_on_the_bundled_evidence():
    path = ROOT / "studies" / "borrowing_new_cohort.toml"
    study = load_study(path)
    assert isinstance(study, BorrowingDesignStudy)
    assert study.data_path is None and len(study.scenarios()) == 6
    rows = _run(study, 3)
    summary = study.summarise(rows)
    assert "bundled evidence base" in summary.lines[0]
    assert summary.tables["operating characteristics"]["tasks"].eq(3).all()


@pytest.mark.heavy
def test_runner_stores_the_rows_of_the_direct_loop(counts_csv, tmp_path):
    from pclbayes.simulate.executors import make_executor
    from pclbayes.simulate.runner import run_study
    from pclbayes.simulate.store import ResultStore

    spec = _spec(counts_csv)
    spec["study"]["replicates"] = 15
    study = study_from_spec(spec, tmp_path / "b.toml")
    result = run_study(study, tmp_path / "store", executor=make_executor(serial=True))
    assert result.complete and result.errors == 0
    stored = ResultStore.open(tmp_path / "store").results(timing=False)
    direct = _run(BorrowingDesignStudy(spec), 15, seed=spec["study"]["seed"])
    key = ["true_rate", "replicate"]
    stored = stored.sort_values(key).reset_index(drop=True)
    direct = direct.sort_values(key).reset_index(drop=True)
    for column in ("responders", "success", "prob", "conflict_p", "success_alone"):
        assert stored[column].tolist() == direct[column].tolist(), column
    summary = study.summarise(stored).tables["operating characteristics"]
    assert summary["tasks"].tolist() == [15, 15, 15]


def test_one_stratum_needs_no_level_and_stratum_heterogeneity_runs(counts_csv):
    study = BorrowingDesignStudy(_spec(counts_csv, by="none", level=None,
                                       heterogeneity="stratum"))
    rows = _run(study, 5)
    assert study._state["level"] == "all" and rows["prob"].between(0, 1).all()


def test_figure_draws(counts_csv):
    study = BorrowingDesignStudy(_spec(counts_csv))
    title, make = study.summarise(_run(study, 5)).figures[0]
    fig = make()
    assert "conflict" in title and len(fig.axes[0].lines) > 0
