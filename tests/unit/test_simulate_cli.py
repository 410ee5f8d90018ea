"""``pclbayes simulate`` and ``pclbayes simulate summary``: help, output, bad input (exit 2)."""

from __future__ import annotations

import io
import json

import pytest
from simulate_toy import write_spec

from pclbayes.cli import main
from pclbayes.simulate.progress import RunProgress
from pclbayes.simulate.store import ResultStore


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_of_both_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["simulate", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "summary" in text and "SPEC" in text
    with pytest.raises(SystemExit):
        main(["simulate", "run", "--help"])
    text = capsys.readouterr().out
    for word in ("--workers", "--dask-local", "--scheduler", "--resume", "--out", "--quiet",
                 "exits\nwith status 130"):
        assert word in text
    with pytest.raises(SystemExit):
        main(["simulate", "summary", "--help"])
    text = capsys.readouterr().out
    assert "usage: pclbayes simulate summary" in text and "--plots" in text


def test_run_then_summary_text_json_and_plots(tmp_path, capsys):
    spec = write_spec(tmp_path / "toy.toml", replicates=5)
    store = tmp_path / "store"
    code, out, err = _cli(capsys, "simulate", str(spec), "--workers", "1", "--out", str(store))
    assert code == 0, err
    assert out.startswith(f"{store}: 10 tasks run on serial (this process)")
    assert f"summary: pclbayes simulate summary {store}" in out
    assert "toy: 10/10 tasks (100%)" in err  # the final progress line (stderr not a TTY)
    code, out, _ = _cli(capsys, "simulate", "summary", str(store))
    assert code == 0
    assert "10 of 10 tasks stored, 0 failed" in out and "operating characteristics" in out
    code, out, _ = _cli(capsys, "simulate", "summary", str(store), "--json", "--plots",
                        str(tmp_path / "figs"))
    payload = json.loads(out)
    rows = ResultStore.open(store).results()
    table = payload["tables"]["operating characteristics"]
    assert [r["tasks"] for r in table] == [5, 5]
    assert table[0]["p_success"] == pytest.approx(
        rows.loc[rows["true_rate"] == 0.2, "success"].mean())
    assert payload["stored"] == 10 and payload["passed"] is None
    assert (tmp_path / "figs" / "probability_of_success.png").stat().st_size > 1000
    code, out, _ = _cli(capsys, "simulate", str(spec), "--workers", "1", "--out", str(store),
                        "--resume", "--quiet")
    assert code == 0 and "all 10 tasks were already stored" in out


@pytest.mark.parametrize(("argv", "words"), [
    (["--workers", "0"], "argument --workers: must be a whole number in [1, 4096], got 0"),
    (["--workers", "2", "--dask-local", "2"], "not allowed with argument"),
])
def test_bad_options_stop_in_argument_parsing(tmp_path, capsys, argv, words):
    spec = write_spec(tmp_path / "toy.toml")
    with pytest.raises(SystemExit) as e:
        main(["simulate", str(spec), *argv])
    assert e.value.code == 2
    assert words in capsys.readouterr().err


def test_bad_input_is_exit_2_with_a_message_naming_it(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nkind = "sbc"\n', encoding="utf-8")
    code, _, err = _cli(capsys, "simulate", str(bad))
    assert code == 2 and err.startswith(f"error: {bad}: [study] name: missing")
    code, _, err = _cli(capsys, "simulate", "no_such_bundled_study")
    assert code == 2 and "not a bundled study" in err
    spec = write_spec(tmp_path / "toy.toml")
    (tmp_path / "afile").write_text("x")
    code, _, err = _cli(capsys, "simulate", str(spec), "--workers", "1", "--out",
                        str(tmp_path / "afile"))
    assert code == 2 and "afile" in err and "not a directory" in err
    code, _, err = _cli(capsys, "simulate", "summary", str(tmp_path))
    assert code == 2 and err == f"error: {tmp_path}: not a results store (no study.json)\n"
    assert "Traceback" not in err


def test_existing_store_without_resume_names_the_store(tmp_path, capsys):
    spec = write_spec(tmp_path / "toy.toml", replicates=2)
    store = tmp_path / "s"
    assert _cli(capsys, "simulate", str(spec), "--workers", "1", "--out", str(store))[0] == 0
    code, _, err = _cli(capsys, "simulate", str(spec), "--workers", "1", "--out", str(store))
    assert code == 2
    assert err.startswith(f"error: {store}: a results store already exists") and "--resume" in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_and_quiet():
    stream = io.StringIO()
    progress = RunProgress("toy", 100, already=20, stream=stream)
    assert progress.line(20).startswith("toy: 20/100 tasks (20%)")
    progress.update(50)  # a log (not a TTY): nothing in the first seconds
    assert stream.getvalue() == ""
    progress.finish()
    assert stream.getvalue().startswith("toy: 50/100 tasks (50%), ")
    assert "tasks/s" in stream.getvalue() and "left" in stream.getvalue()
    tty = _Tty()
    live = RunProgress("toy", 10, stream=tty)
    live.update(3)
    assert tty.getvalue().startswith("\r\033[Ktoy: 3/10 tasks (30%)")
    quiet = io.StringIO()
    silent = RunProgress("toy", 10, stream=quiet, quiet=True)
    silent.update(5)
    silent.message("x")
    silent.finish()
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("address", ["notanaddress", "tcp://host:notaport"])
def test_malformed_scheduler_address_is_a_user_error(tmp_path, capsys, address):
    spec = write_spec(tmp_path / "toy.toml", replicates=2)
    code, _, err = _cli(capsys, "simulate", str(spec), "--scheduler", address, "--quiet",
                        "--out", str(tmp_path / "s"))
    assert code == 2, err
    assert err.startswith(f"error: --scheduler {address}: ") and "Traceback" not in err
    import dask

    assert dask.config.get("scheduler", None) is None  # no Dask default left behind


def test_summary_plots_that_is_a_file_names_plots(tmp_path, capsys):
    spec = write_spec(tmp_path / "toy.toml", replicates=2)
    store = tmp_path / "s"
    assert _cli(capsys, "simulate", str(spec), "--workers", "1", "--out", str(store))[0] == 0
    (tmp_path / "afile").write_text("x")
    code, _, err = _cli(capsys, "simulate", "summary", str(store), "--plots",
                        str(tmp_path / "afile"))
    assert code == 2
    assert err.startswith(f"error: --plots {tmp_path / 'afile'}: exists and is not a directory")


def test_summary_figures_follow_the_umask(tmp_path, capsys):
    import os

    spec = write_spec(tmp_path / "toy.toml", replicates=2)
    store = tmp_path / "s"
    old = os.umask(0o022)
    try:
        assert _cli(capsys, "simulate", str(spec), "--workers", "1", "--out", str(store))[0] == 0
        assert _cli(capsys, "simulate", "summary", str(store), "--plots",
                    str(tmp_path / "figs"))[0] == 0
    finally:
        os.umask(old)
    figures = list((tmp_path / "figs").glob("*.png"))
    assert figures and all(f.stat().st_mode & 0o777 == 0o644 for f in figures)
