"""The simulation runner: task seeds, identical rows on every executor, errors, prepare once.

The toy study (``simulate_toy``) is a beta-binomial design whose probability of success
has a closed form (a binomial sum), and whose rows the tests recompute from the documented
seed rule ``SeedSequence(study_seed, spawn_key=(scenario_index, replicate))``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from simulate_helpers import parquet_bytes
from simulate_toy import write_spec

from pclbayes.simulate.executors import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    chunk_size,
    make_executor,
)
from pclbayes.simulate.runner import StudyFailed, pending_tasks, run_study
from pclbayes.simulate.spec import load_study
from pclbayes.simulate.store import ResultStore


def _run(tmp_path, name, executor, **spec):
    study = load_study(write_spec(tmp_path / f"{name}.toml", **spec))
    result = run_study(study, tmp_path / name, executor=executor)
    return result, ResultStore.open(tmp_path / name).results(timing=False)


def test_rows_follow_the_documented_seed_rule(tmp_path):
    result, rows = _run(tmp_path, "s", SerialExecutor(), replicates=6, rates=(0.2, 0.5), seed=11)
    assert result.complete and result.ran == 12 and result.errors == 0
    assert list(rows[["scenario_index", "replicate"]].itertuples(index=False, name=None)) == [
        (s, r) for s in range(2) for r in range(6)]
    for row in rows.itertuples():
        ss = np.random.SeedSequence(11, spawn_key=(row.scenario_index, row.replicate))
        y = np.random.default_rng(ss).binomial(20, [0.2, 0.5][row.scenario_index])
        assert row.responders == y
        assert row.seed == int(ss.generate_state(1, np.uint64)[0]) // 2
        assert row.post_mean == pytest.approx((1 + y) / 22, abs=1e-15)
    assert rows["seed"].is_unique
    assert set(rows["status"]) == {"ok"} and set(rows["message"]) == {""}


def test_probability_of_success_matches_the_binomial_sum(tmp_path):
    """The simulated frequency is within 4 Monte-Carlo SEs of the exact binomial sum."""
    rates = (0.2, 0.35, 0.5)
    study = load_study(write_spec(tmp_path / "oc.toml", replicates=600, rates=rates, seed=3))
    run_study(study, tmp_path / "oc", executor=SerialExecutor())
    table = study.summarise(ResultStore.open(tmp_path / "oc").results()).tables[
        "operating characteristics"]
    for rate, p_hat in zip(table["true_rate"], table["p_success"], strict=True):
        exact = study.exact_success(rate)
        # exact by direct enumeration of the decision over y = 0..20 with scipy's beta
        from scipy import stats

        direct = sum(stats.binom.pmf(y, 20, rate) for y in range(21)
                     if stats.beta.sf(0.3, 1 + y, 21 - y) > 0.9)
        assert exact == pytest.approx(direct, abs=1e-12)
        se = math.sqrt(exact * (1 - exact) / 600)
        assert abs(p_hat - exact) < 4 * se + 1e-12, (rate, p_hat, exact)


SPEC = {"replicates": 15, "rates": (0.2, 0.4, 0.6), "extra": "fail_replicates = [4]\n"}


@pytest.mark.heavy
@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_serial_processes_and_dask_give_identical_rows(tmp_path, executor):
    import dask

    _, serial = _run(tmp_path, "serial", SerialExecutor(), **SPEC)
    other = ProcessExecutor(2) if executor == "processes" else DaskExecutor(local_workers=2)
    before = dask.config.get("scheduler", None)
    _, rows = _run(tmp_path, executor, other, **SPEC)
    # the run's client is not made the process's default scheduler: xarray's netCDF writer
    # asks Dask for one, and would fail once the client is gone
    assert dask.config.get("scheduler", None) == before
    assert len(serial) == 45 and (serial["status"] == "error").sum() == 3
    assert serial.to_csv() == rows.to_csv()
    assert serial.equals(rows) and list(serial.dtypes) == list(rows.dtypes)
    assert parquet_bytes(serial) == parquet_bytes(rows)


def test_each_worker_prepares_once(tmp_path):
    log = tmp_path / "prepared.txt"
    _run(tmp_path, "p", ProcessExecutor(2), replicates=40,
         extra=f'prepare_log = "{log}"\n')
    pids = log.read_text().split()
    assert 1 <= len(pids) <= 2 and len(set(pids)) == len(pids)  # once per process


def test_a_failing_task_is_recorded_not_fatal(tmp_path):
    result, rows = _run(tmp_path, "f", SerialExecutor(), replicates=4,
                        extra="fail_replicates = [1, 3]\n")
    assert result.complete and result.errors == 4
    bad = rows[rows["status"] == "error"]
    assert sorted(bad["replicate"]) == [1, 1, 3, 3]
    assert set(bad["message"]) == {"ValueError: planned failure of replicate 1",
                                   "ValueError: planned failure of replicate 3"}
    assert bad["responders"].isna().all()
    assert not rows.loc[rows["status"] == "ok", "responders"].isna().any()


def test_warnings_of_a_task_are_recorded_in_its_row(tmp_path):
    result, rows = _run(tmp_path, "w", SerialExecutor(), replicates=3, rates=(0.2,),
                        extra="warn_replicates = [2]\n")
    assert result.errors == 0
    assert list(rows["warnings"]) == [
        "", "", "UserWarning: replicate 2 looks odd | RuntimeWarning: second line"]


def test_a_study_whose_every_task_fails_stops(tmp_path):
    study = load_study(write_spec(tmp_path / "x.toml", replicates=30, extra="fail_all = true\n"))
    with pytest.raises(StudyFailed, match=r"first [0-9]+ tasks all failed.*planned failure") as e:
        run_study(study, tmp_path / "x", executor=SerialExecutor())
    stored = ResultStore.open(tmp_path / "x").results()
    assert 20 <= len(stored) < 60 and set(stored["status"]) == {"error"}
    assert f"first {len(stored)} tasks" in str(e.value)


@pytest.mark.parametrize("executor", [SerialExecutor, lambda: ProcessExecutor(2)])
def test_a_failing_prepare_stops_the_run_with_its_message(tmp_path, executor):
    from pclbayes.simulate.executors import ExecutorError

    study = load_study(write_spec(tmp_path / "p.toml", extra="fail_prepare = true\n"))
    with pytest.raises(ExecutorError, match=r"BetaBinomialToy\.prepare\(\) failed: "
                       "RuntimeError: no compiler here"):
        run_study(study, tmp_path / "p", executor=executor())
    assert ResultStore.open(tmp_path / "p").finished() == set()


def test_small_study_of_failures_stops_after_all(tmp_path):
    study = load_study(write_spec(tmp_path / "y.toml", replicates=2, extra="fail_all = true\n"))
    with pytest.raises(StudyFailed, match="first 4 tasks"):
        run_study(study, tmp_path / "y", executor=SerialExecutor())


def test_pending_tasks_go_replicate_by_replicate(tmp_path):
    study = load_study(write_spec(tmp_path / "o.toml", replicates=2, rates=(0.1, 0.2, 0.3)))
    assert [(s, r) for s, r, _ in pending_tasks(study, {(1, 0)})] == [
        (0, 0), (2, 0), (0, 1), (1, 1), (2, 1)]


def test_chunk_size():
    assert chunk_size(None, 100, 2) == 1
    assert chunk_size(0.5, 1000, 2) == 4  # two seconds of work
    assert chunk_size(1e-5, 10**6, 2) == 1000  # at most 1000
    assert chunk_size(1e-5, 40, 2) == 10  # a fair share of what is left
    assert chunk_size(10.0, 40, 2) == 1


def test_make_executor():
    assert isinstance(make_executor(workers=1), SerialExecutor)
    assert make_executor(workers=3).workers == 3
    assert isinstance(make_executor(dask_local=2), DaskExecutor)
    from pclbayes.simulate.executors import ExecutorError

    with pytest.raises(ExecutorError, match="--workers and --scheduler"):
        make_executor(workers=2, scheduler="tcp://x:1")
