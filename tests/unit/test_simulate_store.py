"""The results store: resume, the spec-hash guard, kill-and-resume equality, atomic parts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from simulate_helpers import parquet_bytes
from simulate_toy import SLEEP_ENV, write_spec

import pclbayes
from pclbayes.simulate.executors import SerialExecutor
from pclbayes.simulate.runner import run_study
from pclbayes.simulate.spec import load_study, spec_hash
from pclbayes.simulate.store import ResultStore, StoreError

HERE = Path(__file__).resolve().parent
ROOT = Path(pclbayes.__file__).resolve().parents[1]


def _study(tmp_path, name="a", **spec):
    return load_study(write_spec(tmp_path / f"{name}.toml", **spec))


def test_study_json_records_spec_hash_version_and_tasks(tmp_path):
    study = _study(tmp_path, replicates=3, rates=(0.1, 0.2))
    run_study(study, tmp_path / "s", executor=SerialExecutor())
    record = json.loads((tmp_path / "s" / "study.json").read_text())
    assert record["spec_hash"] == spec_hash(study)
    assert record["pclbayes_version"] == pclbayes.__version__
    assert record["tasks"] == 6 and record["replicates"] == 3
    assert record["scenarios"] == [{"true_rate": 0.1}, {"true_rate": 0.2}]
    assert record["spec"]["toy"] == {"n": 20}
    assert len(list((tmp_path / "s" / "parts").glob("*.parquet"))) == 1  # compacted


def test_existing_store_needs_resume_and_the_same_spec(tmp_path):
    study = _study(tmp_path, replicates=3)
    run_study(study, tmp_path / "s", executor=SerialExecutor())
    with pytest.raises(StoreError, match=r"s: a results store already exists \(6 of 6 tasks "
                       r"finished\); add --resume"):
        run_study(study, tmp_path / "s", executor=SerialExecutor())
    again = run_study(study, tmp_path / "s", executor=SerialExecutor(), resume=True)
    assert again.ran == 0 and again.complete
    other = _study(tmp_path, "b", replicates=3, seed=99)
    with pytest.raises(StoreError, match=r"holds results of another spec.*Choose another --out"):
        run_study(other, tmp_path / "s", executor=SerialExecutor(), resume=True)


def test_a_store_without_rows_is_reused_without_resume(tmp_path):
    study = _study(tmp_path, replicates=2)
    ResultStore.create(tmp_path / "s", study)  # as left by a run stopped before any task
    result = run_study(study, tmp_path / "s", executor=SerialExecutor())
    assert result.ran == 4 and result.complete


def test_out_that_is_not_a_store_is_refused(tmp_path):
    study = _study(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="exists and is not a folder"):
        run_study(study, tmp_path / "file", executor=SerialExecutor())
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("x")
    with pytest.raises(StoreError, match="not empty and is not a results store"):
        run_study(study, tmp_path / "full", executor=SerialExecutor())
    with pytest.raises(StoreError, match=r"no study\.json"):
        ResultStore.open(tmp_path / "full")


def test_resume_runs_only_the_missing_tasks_and_the_table_is_the_same(tmp_path):
    study = _study(tmp_path, replicates=10, rates=(0.2, 0.5))
    run_study(study, tmp_path / "full", executor=SerialExecutor())
    full = ResultStore.open(tmp_path / "full")
    # a partial store: only the partitions of some tasks (written as a run writes them)
    part = ResultStore.create(tmp_path / "part", study)
    rows = full.results()
    part.append(rows.iloc[:7].to_dict("records"))
    part.append(rows.iloc[12:15].to_dict("records"))
    assert len(part.finished()) == 10
    resumed = run_study(study, tmp_path / "part", executor=SerialExecutor(), resume=True)
    assert resumed.ran == 10 and resumed.complete
    a = full.results(timing=False)
    b = ResultStore.open(tmp_path / "part").results(timing=False)
    assert a.to_csv() == b.to_csv() and a.equals(b)


def test_repeated_partition_is_read_once(tmp_path):
    study = _study(tmp_path, replicates=4)
    run_study(study, tmp_path / "s", executor=SerialExecutor())
    store = ResultStore.open(tmp_path / "s")
    before = store.results(timing=False)
    (part,) = (tmp_path / "s" / "parts").glob("*.parquet")
    shutil.copy(part, part.with_name("part-copy.parquet"))
    assert store.results(timing=False).equals(before)


def test_a_second_writer_is_refused(tmp_path):
    study = _study(tmp_path)
    store = ResultStore.create(tmp_path / "s", study)
    with store.locked(), pytest.raises(StoreError, match="another run is writing"):
        run_study(study, tmp_path / "s", executor=SerialExecutor(), resume=True)


def test_empty_store_reads_as_an_empty_table(tmp_path):
    store = ResultStore.create(tmp_path / "s", _study(tmp_path))
    frame = store.results()
    assert len(frame) == 0
    assert list(frame.columns) == ["scenario_index", "replicate", "true_rate", "seed",
                                   "status", "message", "warnings", "seconds"]


def _env(sleep: str = "0") -> dict[str, str]:
    path = os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, SLEEP_ENV: sleep}


def _start(spec: Path, out: Path, sleep: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pclbayes", "simulate", str(spec), "--out", str(out),
         "--quiet", *extra],
        env=_env(sleep), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_parts(out: Path, count: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(list((out / "parts").glob("part-0*.parquet"))) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no partitions appeared")


@pytest.mark.heavy
@pytest.mark.parametrize(("sig", "workers", "sleep"),
                         [(signal.SIGINT, "2", "0.1"), (signal.SIGKILL, "1", "0.04")])
def test_killed_half_way_then_resumed_equals_an_uninterrupted_run(tmp_path, sig, workers,
                                                                   sleep):
    """Each task sleeps ``sleep`` s (the run takes 2-3 s) so the signal lands half way."""
    spec = write_spec(tmp_path / "k.toml", replicates=30, rates=(0.2, 0.5))
    study = load_study(spec)
    run_study(study, tmp_path / "whole", executor=SerialExecutor())
    whole = ResultStore.open(tmp_path / "whole").results(timing=False)

    out = tmp_path / "killed"
    proc = _start(spec, out, sleep, "--workers", workers)
    _wait_for_parts(out, 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    stored = len(ResultStore.open(out).finished())
    assert 0 < stored < 60, (proc.returncode, err)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert err.strip() == (f"interrupted: {stored} of 60 tasks stored in {out}; run the "
                               "same command with --resume to finish")
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not list((out / "parts").glob(".*.tmp"))  # no half-written partition is visible

    again = subprocess.run(
        [sys.executable, "-m", "pclbayes", "simulate", str(spec), "--out", str(out),
         "--resume", "--workers", "1"], env=_env(), capture_output=True, text=True,
        timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{60 - stored} tasks run" in again.stdout
    resumed = ResultStore.open(out).results(timing=False)
    assert resumed.to_csv() == whole.to_csv() and resumed.equals(whole)
    assert parquet_bytes(resumed) == parquet_bytes(whole)


def test_store_files_follow_the_umask_like_any_new_file(tmp_path):
    study = _study(tmp_path, replicates=2)
    old = os.umask(0o022)
    try:
        run_study(study, tmp_path / "s", executor=SerialExecutor(), quiet=True)
        (tmp_path / "plain").write_text("x")  # what the umask gives an ordinary new file
    finally:
        os.umask(old)
    expected = (tmp_path / "plain").stat().st_mode & 0o777
    assert expected == 0o644
    files = [tmp_path / "s" / "study.json", *(tmp_path / "s" / "parts").glob("*.parquet")]
    assert len(files) == 2
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: expected
                                                                 for f in files}
