"""The command line refuses bad input with one clear line, bounds its work and never shows a
traceback: argument ranges, work limits, Ctrl-C, broken pipes, output paths, spec lookup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import pclbayes.cli.plan_cmd as plan_cmd
from pclbayes import _files
from pclbayes._files import OutputError, check_output_file
from pclbayes._paths import BUNDLED_MODELS
from pclbayes.cli import main
from pclbayes.planning import BetaMixture, NormalMixture, save_prior

RULE = ["--threshold", "0.3", "--prob", "0.9"]


@pytest.fixture
def beta_file(tmp_path: Path) -> str:
    return str(save_prior(BetaMixture.single(1, 1), tmp_path / "uniform.json"))


@pytest.fixture
def normal_file(tmp_path: Path) -> str:
    return str(save_prior(NormalMixture([1.0], [np.log(8.0)], [0.3]), tmp_path / "median.json"))


def _usage_error(argv: list[str], capsys) -> str:
    """Run ``main(argv)``; it must stop in argument parsing (exit 2) and name the option."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: pclbayes" in err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ---------------------------------------------------------------------------- 1. ranges
FIT_RANGES = [
    (["fit", "response", "--draws", "0"], "--draws"),
    (["fit", "response", "--tune", "-5"], "--tune"),
    (["fit", "response", "--chains", "0"], "--chains"),
    (["fit", "response", "--target-accept", "1"], "--target-accept"),
    (["fit", "response", "--target-accept", "0"], "--target-accept"),
    (["fit", "response", "--target-accept", "nan"], "--target-accept"),
    (["fit", "response", "--seed", "-1"], "--seed"),
    (["fit", "survival", "--seed", str(2**32)], "--seed"),
    (["fit", "spec", "models/response_orr_by_target.toml", "--seed", "-3"], "--seed"),
    (["report", "--jobs", "0"], "--jobs"),
]


@pytest.mark.parametrize(("argv", "option"), FIT_RANGES)
def test_fit_options_out_of_range_are_usage_errors(argv, option, capsys) -> None:
    line = _usage_error(argv, capsys)
    assert f"argument {option}" in line


PLAN_RANGES = [
    (["oc", "--n", "0"], "--n"),
    (["oc", "--n", "24", "--threshold", "1.2"], "--threshold"),
    (["oc", "--n", "24", "--prob", "0"], "--prob"),
    (["oc", "--n", "24", "--true", "0.2,1.5"], "--true"),
    (["oc", "--n", "24", "--futility", "0:0.3:0.9"], "--futility"),
    (["oc", "--n", "24", "--futility", "5:1.3:0.9"], "--futility"),
    (["sample-size", "--null", "1.5", "--alt", "0.5"], "--null"),
    (["sample-size", "--null", "0.2", "--alt", "-0.1"], "--alt"),
    (["sample-size", "--null", "0.2", "--alt", "0.4", "--power", "1"], "--power"),
    (["sample-size", "--null", "0.2", "--alt", "0.4", "--alpha", "0"], "--alpha"),
    (["sample-size", "--null", "0.2", "--alt", "0.4", "--n-min", "0"], "--n-min"),
    (["sample-size", "--null", "0.2", "--alt", "0.4", "--n-max", "0"], "--n-max"),
    (["ess", "--shape", "0"], "--shape"),
    (["ess", "--shape", "inf"], "--shape"),
    (["map-prior", "--robust", "1.5"], "--robust"),
    (["map-prior", "--robust", "-0.1"], "--robust"),
    (["map-prior", "--robust-mean", "1"], "--robust-mean"),
    (["map-prior", "--max-components", "0"], "--max-components"),
    (["map-prior", "--seed", "-1"], "--seed"),
    (["survival-prior", "--max-components", "0"], "--max-components"),
    (["survival-prior", "--seed", str(2**32)], "--seed"),
    (["events", "--n", "0"], "--n"),
    (["events", "--n", "10", "--accrual", "-1"], "--accrual"),
    (["events", "--n", "10", "--accrual", "inf"], "--accrual"),
    (["events", "--n", "10", "--analysis-time", "0"], "--analysis-time"),
    (["events", "--n", "10", "--shape", "-2"], "--shape"),
    (["events", "--n", "10", "--prior-draws", "0"], "--prior-draws"),
    (["events", "--n", "10", "--seed", "-1"], "--seed"),
    (["events", "--n", "10", "--at-least", "-1"], "--at-least"),
]


@pytest.mark.parametrize(("argv", "option"), PLAN_RANGES)
def test_plan_options_out_of_range_are_usage_errors(argv, option, beta_file, capsys) -> None:
    # every other required option is valid, so the named option is the only fault
    base = {"oc": ["--prior", beta_file, *RULE], "sample-size": ["--prior", beta_file, *RULE],
            "ess": ["--prior", beta_file], "map-prior": [], "survival-prior": [],
            "events": ["--prior", beta_file, "--accrual", "12", "--analysis-time", "18"]}
    line = _usage_error(["plan", argv[0], *base[argv[0]], *argv[1:]], capsys)
    assert f"argument {option}" in line


def test_seed_bounds_follow_check_seed(capsys) -> None:
    # 2**32 - 1 is the largest seed every engine accepts, 2**32 the first refused
    args = plan_cmd_parser().parse_args(["plan", "events", "--prior", "p", "--n", "3",
                                         "--accrual", "1", "--analysis-time", "2",
                                         "--seed", str(2**32 - 1)])
    assert args.seed == 2**32 - 1
    line = _usage_error(["plan", "events", "--prior", "p", "--n", "3", "--accrual", "1",
                         "--analysis-time", "2", "--seed", str(2**32)], capsys)
    assert "4294967295" in line


def plan_cmd_parser():
    from pclbayes.cli import build_parser

    return build_parser()


@pytest.mark.parametrize(("null", "alt"), [("0.5", "0.3"), ("0.4", "0.4")])
def test_sample_size_null_not_below_alt_is_explained(null, alt, beta_file, capsys) -> None:
    code, out, err = _run(["plan", "sample-size", "--prior", beta_file, *RULE,
                           "--null", null, "--alt", alt], capsys)
    assert code == 2
    assert out == ""
    assert "--null" in err and "--alt" in err and "smaller" in err
    assert "no sample size" not in err.lower()


def test_sample_size_n_min_above_n_max(beta_file, capsys) -> None:
    code, _, err = _run(["plan", "sample-size", "--prior", beta_file, *RULE, "--null", "0.2",
                         "--alt", "0.5", "--n-min", "50", "--n-max", "10"], capsys)
    assert code == 2
    assert "--n-min" in err and "--n-max" in err


# ---------------------------------------------------------------------------- 2. bounded work
def _refused_fast(argv: list[str], capsys, *needles: str) -> str:
    start = time.perf_counter()
    code, out, err = _run(argv, capsys)
    assert time.perf_counter() - start < 10
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "--allow-large" in err
    for needle in needles:
        assert needle in err
    return err


def test_sample_size_huge_n_max_refused_before_work(beta_file, capsys) -> None:
    _refused_fast(["plan", "sample-size", "--prior", beta_file, *RULE, "--null", "0.2",
                   "--alt", "0.4", "--n-max", "100000"], capsys, "--n-max")


def test_events_huge_n_refused_before_work(normal_file, capsys) -> None:
    _refused_fast(["plan", "events", "--prior", normal_file, "--n", "1000000", "--accrual",
                   "12", "--analysis-time", "18"], capsys, "--n")


def test_events_huge_prior_draws_refused_before_work(normal_file, capsys) -> None:
    _refused_fast(["plan", "events", "--prior", normal_file, "--n", "20", "--accrual", "12",
                   "--analysis-time", "18", "--prior-draws", "100000000"], capsys,
                  "--prior-draws")


def test_oc_huge_n_refused_before_work(beta_file, capsys) -> None:
    _refused_fast(["plan", "oc", "--prior", beta_file, *RULE, "--n", "100000000"], capsys,
                  "--n")


def test_oc_huge_two_stage_refused_before_work(beta_file, capsys) -> None:
    # the two-stage sums cover every (stage-1, stage-2) responder pair: n1 * (n - n1) cells
    _refused_fast(["plan", "oc", "--prior", beta_file, *RULE, "--n", "200000",
                   "--futility", "100000:0.3:0.9"], capsys, "--n")


def test_allow_large_lets_a_refused_run_through(beta_file, capsys, monkeypatch) -> None:
    from pclbayes.cli import _checks

    monkeypatch.setattr(_checks, "TIME_LIMIT_SECONDS", 1e-9)
    argv = ["plan", "sample-size", "--prior", beta_file, *RULE, "--null", "0.2", "--alt", "0.5",
            "--n-max", "30"]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "--allow-large" in err
    code, out, _ = _run([*argv, "--allow-large"], capsys)
    assert code in (0, 1) and "Require P(success" in out


def test_sample_size_shows_progress_on_stderr(beta_file, capsys, monkeypatch) -> None:
    from pclbayes.cli import _checks

    monkeypatch.setattr(_checks, "PROGRESS_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(_checks, "PROGRESS_EVERY_SECONDS", 0.0)
    code, out, err = _run(["plan", "sample-size", "--prior", beta_file, *RULE, "--null", "0.2",
                           "--alt", "0.5", "--n-max", "40", "--json"], capsys)
    assert code == 0
    assert '"n":' in out  # stdout stays clean JSON; progress is on stderr only
    lines = [line for line in err.splitlines() if "sample-size" in line]
    assert lines and "40/40" in lines[-1]


def test_sample_size_progress_callback_counts_every_n() -> None:
    from pclbayes.planning import decision_rule, sample_size

    seen: list[tuple[int, int]] = []
    sample_size(BetaMixture.single(1, 1), decision_rule(0.3, 0.9), null=0.2, alt=0.5,
                n_min=5, n_max=12, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 8) for k in range(1, 9)]


def test_predictive_events_chunks_match_binomial_mixture(monkeypatch) -> None:
    from pclbayes.planning import survival_prior
    from pclbayes.planning.survival_prior import event_probability, predictive_events

    monkeypatch.setattr(survival_prior, "CHUNK_CELLS", 64)  # several draws per chunk, n=20
    prior = NormalMixture([0.6, 0.4], [np.log(6.0), np.log(12.0)], [0.2, 0.4])
    pred = predictive_events(prior, n=20, accrual=12.0, analysis_time=18.0, shape=1.3,
                             n_draws=500, rng=np.random.default_rng(7))
    medians = np.exp(prior.sample(500, np.random.default_rng(7)))
    p = event_probability(medians, shape=1.3, accrual=12.0, analysis_time=18.0)
    expected = stats.binom.pmf(np.arange(21)[None, :], 20, p[:, None]).mean(axis=0)
    np.testing.assert_allclose(pred.pmf, expected, rtol=1e-10, atol=1e-15)


def test_predictive_events_memory_does_not_grow_with_draws_times_n() -> None:
    from pclbayes.planning.survival_prior import predictive_events

    prior = NormalMixture([1.0], [np.log(8.0)], [0.3])
    n, draws = 400, 20_000  # one (draws x n) float matrix would be 64 MB
    tracemalloc.start()
    try:
        predictive_events(prior, n=n, accrual=12.0, analysis_time=18.0, n_draws=draws,
                          rng=np.random.default_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * draws * (n + 1) * 8


def test_predictive_events_reports_progress() -> None:
    from pclbayes.planning.survival_prior import predictive_events

    seen: list[tuple[int, int]] = []
    predictive_events(NormalMixture([1.0], [2.0], [0.3]), n=5, accrual=1.0, analysis_time=2.0,
                      n_draws=100, rng=np.random.default_rng(0),
                      progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (100, 100)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_two_stage_oc_chunked_matches_direct_sum(monkeypatch) -> None:
    from pclbayes.planning import (
        InterimFutility,
        decision_rule,
        decisions,
        operating_characteristics,
    )

    prior = BetaMixture.single(1, 1)
    rule, fut = decision_rule(0.3, 0.9), InterimFutility(6, decision_rule(0.3, 0.8, "<"))
    monkeypatch.setattr(decisions, "CHUNK_CELLS", 16)
    res = operating_characteristics(prior, 15, rule, [0.2, 0.45], futility=fut)
    # independent: enumerate stage-1 and stage-2 responders with scipy's binomial pmf
    succ = [stats.beta.sf(0.3, 1 + r, 16 - r) > 0.9 for r in range(16)]
    stop = [stats.beta.cdf(0.3, 1 + r, 7 - r) > 0.8 for r in range(7)]
    for rate, got, got_stop in zip([0.2, 0.45], res.prob_success, res.prob_stop_early,
                                   strict=True):
        want = sum(stats.binom.pmf(r1, 6, rate) * stats.binom.pmf(r2, 9, rate)
                   for r1 in range(7) if not stop[r1] for r2 in range(10) if succ[r1 + r2])
        assert got == pytest.approx(want, abs=1e-12)
        assert got_stop == pytest.approx(sum(stats.binom.pmf(r1, 6, rate)
                                             for r1 in range(7) if stop[r1]), abs=1e-12)


@pytest.mark.parametrize(("a", "b", "method"), [(1e300, 2, "elir"), (1, 1e300, "moment"),
                                                 (1e300, 1e300, "all"), (2e9, 1, "morita")])
def test_ess_of_extreme_beta_prior_is_a_clear_error(a, b, method, tmp_path, capsys) -> None:
    path = save_prior(BetaMixture.single(a, b), tmp_path / "extreme.json")
    code, out, err = _run(["plan", "ess", "--prior", str(path), "--method", method], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ESS") and len(err.strip().splitlines()) == 1
    assert "1e+09" in err  # the largest shape accepted


def test_ess_without_a_finite_value_is_a_clear_error(tmp_path, capsys) -> None:
    # sd 1e-200 on the log median: 1 / sd**2 = 1e400 events, beyond the float range
    path = save_prior(NormalMixture([1.0], [2.0], [1e-200]), tmp_path / "sharp.json")
    code, out, err = _run(["plan", "ess", "--prior", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ESS (elir)") and "cannot be computed" in err


# ---------------------------------------------------------------------------- 3. Ctrl-C, pipes
def test_ctrl_c_in_process_exits_130(beta_file, capsys, monkeypatch) -> None:
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(plan_cmd, "_run_ess", interrupted)
    code, _out, err = _run(["plan", "ess", "--prior", beta_file], capsys)
    assert code == 130
    assert err.strip() == "interrupted"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


def test_sigint_to_a_long_plan_command(beta_file) -> None:
    # a sample-size search of about a minute; interrupted once its progress shows
    proc = subprocess.Popen(
        [sys.executable, "-m", "pclbayes", "plan", "sample-size", "--prior", beta_file, *RULE,
         "--null", "0.2", "--alt", "0.4", "--n-max", "6000", "--allow-large"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # blocks until the first progress line
        assert "sample-size" in first
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_broken_pipe_is_quiet() -> None:
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "pclbayes", "validate"], stdout=write_end,
                            stderr=subprocess.PIPE, text=True, env=_env())
    os.close(write_end)
    os.close(read_end)  # the reader is gone before anything is written (like `| head -0`)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141
    assert err == ""


# ---------------------------------------------------------------------------- 4. output paths
def test_check_output_file_accepts_new_and_existing_files(tmp_path: Path) -> None:
    assert check_output_file(tmp_path / "new.json") == tmp_path / "new.json"
    (tmp_path / "old.json").write_text("{}")
    assert check_output_file(tmp_path / "old.json") == tmp_path / "old.json"


def test_check_output_file_refusals(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "p.json")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_file(tmp_path / "plain" / "p.json")
    monkeypatch.setattr(_files.os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="not writable"):
        check_output_file(tmp_path / "p.json")


@pytest.mark.parametrize("command", ["map-prior", "survival-prior"])
@pytest.mark.parametrize("where", ["directory", "missing", "under-a-file"])
def test_prior_out_checked_before_fitting(command, where, tmp_path, capsys) -> None:
    (tmp_path / "plain").write_text("x")
    out = {"directory": tmp_path, "missing": tmp_path / "nope" / "p.json",
           "under-a-file": tmp_path / "plain" / "p.json"}[where]
    start = time.perf_counter()
    line = _usage_error(["plan", command, "--out", str(out)], capsys)
    assert time.perf_counter() - start < 5  # no model was fitted
    assert "argument --out" in line and str(out) in line


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "prior.json"
    target.write_text("old")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_files.os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        _files.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prior.json"]


def test_save_prior_writes_atomically(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "prior.json"
    target.write_text("old")
    monkeypatch.setattr(_files.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        save_prior(BetaMixture.single(2, 3), target)
    assert target.read_text() == "old"


# ---------------------------------------------------------------------------- 5. no traceback
def test_os_error_is_one_line_naming_the_path(beta_file, capsys, monkeypatch) -> None:
    def denied(args):
        raise PermissionError(13, "Permission denied", "/srv/locked/prior.json")

    monkeypatch.setattr(plan_cmd, "_run_ess", denied)
    code, _, err = _run(["plan", "ess", "--prior", beta_file], capsys)
    assert code == 2
    assert err.strip() == "error: /srv/locked/prior.json: Permission denied"


def test_internal_error_is_one_line_with_a_hint(beta_file, capsys, monkeypatch) -> None:
    def bug(args):
        raise RuntimeError("unexpected state")

    monkeypatch.setattr(plan_cmd, "_run_ess", bug)
    code, _, err = _run(["plan", "ess", "--prior", beta_file], capsys)
    assert code == 70
    lines = err.strip().splitlines()
    assert lines[0] == "internal error: RuntimeError: unexpected state"
    assert "-v" in lines[-1] and len(lines) <= 2
    code = main(["-v", "plan", "ess", "--prior", beta_file])
    err = capsys.readouterr().err
    assert code == 70
    assert "Traceback (most recent call last)" in err and "unexpected state" in err


# ---------------------------------------------------------------------------- 6. bundled specs
@pytest.mark.parametrize("given", ["models/response_orr_by_target.toml",
                                   "response_orr_by_target.toml", "response_orr_by_target"])
def test_spec_name_resolves_to_the_bundled_spec(given, tmp_path, capsys, monkeypatch) -> None:
    from pclbayes.cli.fit_spec import resolve_spec

    monkeypatch.chdir(tmp_path)  # no models/ folder here, as for an installed package
    path = resolve_spec(given)
    assert path == BUNDLED_MODELS / "response_orr_by_target.toml"
    assert str(path) in capsys.readouterr().err


def test_local_spec_file_wins(tmp_path, capsys, monkeypatch) -> None:
    from pclbayes.cli.fit_spec import resolve_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    local = tmp_path / "models" / "response_orr_by_target.toml"
    local.write_text("")
    assert resolve_spec("models/response_orr_by_target.toml") == Path(
        "models/response_orr_by_target.toml")
    assert capsys.readouterr().err == ""


def test_bare_spec_name_reaches_fit_spec(tmp_path, capsys, monkeypatch) -> None:
    # --out is a file: the command stops before fitting, after saying which spec it uses
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").write_text("x")
    code, _, err = _run(["-v", "fit", "response_orr_by_target", "--out", "plain"], capsys)
    assert code == 2
    assert str(BUNDLED_MODELS / "response_orr_by_target.toml") in err
    assert "not a directory" in err


def test_unknown_spec_name_lists_the_bundled_ones(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["fit", "no_such_spec"], capsys)
    assert code == 2
    assert "no_such_spec" in err and "response_orr_by_target" in err


def test_ctrl_c_while_sampling_stops_the_fit(monkeypatch) -> None:
    # nutpie's blocking call turns Ctrl-C into an early return of the draws made so far;
    # the sampler must instead be cancelled and the interruption passed on
    import nutpie

    from pclbayes import nuts
    from pclbayes.sampling import SamplerSettings

    calls: dict[str, object] = {}

    class Background:
        def wait(self):
            raise KeyboardInterrupt

        def cancel(self):
            calls["cancelled"] = True

    def sample(compiled, **kwargs):
        calls["blocking"] = kwargs.get("blocking", True)
        return Background()

    monkeypatch.setattr(nuts, "_compiled", lambda key, build, data: object())
    monkeypatch.setattr(nutpie, "sample", sample)
    with pytest.raises(KeyboardInterrupt):
        nuts.run_nuts(("model",), lambda containers: None, {}, SamplerSettings(), seed=1)
    assert calls == {"blocking": False, "cancelled": True}


def test_ctrl_c_swallowed_by_pymc_is_passed_on(monkeypatch) -> None:
    # pm.sample catches KeyboardInterrupt and returns the draws so far; the fit must stop
    import pymc as pm

    from pclbayes import nuts
    from pclbayes.sampling import SamplerSettings

    def sample(**kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the signal arrives here
        except KeyboardInterrupt:
            return {"partial": True}
        raise AssertionError("Ctrl-C did not interrupt sampling")

    monkeypatch.setattr(pm, "sample", sample)
    with pytest.raises(KeyboardInterrupt):
        nuts.run_nuts(("model",), lambda containers: None, {},
                      SamplerSettings(sampler="pymc"), seed=1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("kwargs, name", [({"shape": 0.0}, "shape"),
                                          ({"accrual": -1.0}, "accrual"),
                                          ({"analysis_time": 0.0}, "analysis_time")])
def test_event_probability_names_the_condition_that_fails(kwargs, name) -> None:
    from pclbayes.errors import SpecError
    from pclbayes.planning.survival_prior import event_probability

    args = {"shape": 1.2, "accrual": 12.0, "analysis_time": 18.0, **kwargs}
    with pytest.raises(SpecError, match=rf"^{name} must be"):
        event_probability(6.0, **args)
