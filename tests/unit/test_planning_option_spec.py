"""plan map-prior / survival-prior --spec FILE: options from a TOML table, checked as on the
command line, never given twice, errors naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pclbayes.cli import main


class _Stop(BaseException):  # not caught by the CLI's error handling
    pass


@pytest.fixture
def captured(monkeypatch):
    """The arguments the command passes to the planning function (the fit is not run)."""
    seen: dict = {}

    def fake(data, **kwargs):
        seen.update(kwargs, data=data)
        raise _Stop

    monkeypatch.setattr("pclbayes.planning.map_prior_from_evidence", fake)
    monkeypatch.setattr("pclbayes.planning.survival_map.survival_map_prior_from_evidence", fake)
    return seen


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "design.toml"
    path.write_text(text, encoding="utf-8")
    return path


SPEC = """[map_prior]
endpoint = "cr"
target = "BCMA"
intercept_prior = "Normal(mu=0, sigma=3)"
tau_prior = "HalfNormal(sigma=0.5)"
draws = 500
robust = 0.1
seed = 7
ess_range = true
"""


def test_spec_gives_what_the_command_line_gives(tmp_path, captured) -> None:
    with pytest.raises(_Stop):
        main(["plan", "map-prior", "--spec", str(_spec(tmp_path, SPEC))])
    from_file = dict(captured)
    captured.clear()
    with pytest.raises(_Stop):
        main(["plan", "map-prior", "--endpoint", "cr", "--target", "BCMA",
              "--intercept-prior", "Normal(mu=0, sigma=3)", "--tau-prior",
              "HalfNormal(sigma=0.5)", "--draws", "500", "--robust", "0.1", "--seed", "7",
              "--ess-range"])
    assert from_file == captured
    assert from_file["sampler"] == {"draws": 500} and from_file["robust_weight"] == 0.1
    assert from_file["level"] == "BCMA" and from_file["sensitivity"] is True


def test_relative_data_path_is_read_from_the_spec_folder(tmp_path, captured) -> None:
    (tmp_path / "sub").mkdir()
    spec = _spec(tmp_path / "sub", '[map_prior]\ndata = "counts.csv"\n')
    with pytest.raises(_Stop):
        main(["plan", "map-prior", "--spec", str(spec)])
    assert captured["data"] == str(tmp_path / "sub" / "counts.csv")


def test_survival_prior_reads_its_own_table(tmp_path, captured) -> None:
    spec = _spec(tmp_path, '[survival_prior]\nendpoint = "os"\nrobust = 0.2\n'
                           'robust_median = 9\nmax_components = 2\n')
    with pytest.raises(_Stop):
        main(["plan", "survival-prior", "--spec", str(spec)])
    assert captured["endpoint"] == "os" and captured["robust_weight"] == 0.2
    assert captured["robust_median"] == 9.0 and captured["max_components"] == 2


@pytest.mark.parametrize(("text", "message"), [
    ("[map_prior]\ndraws = 5\n", "[map_prior] draws: "),
    ('[map_prior]\ndraws = "lots"\n', "[map_prior] draws: "),
    ("[map_prior]\nrobust = 1.5\n", "[map_prior] robust: "),
    ('[map_prior]\ntau_priors = "HalfNormal(sigma=1)"\n',
     "[map_prior] tau_priors: unknown key; allowed: "),
    ("[map_prior]\nout = \"x.json\"\n", "[map_prior] out: unknown key"),
    ("[map_prior]\ness_range = 1\n", "[map_prior] ess_range: expected true or false"),
    ("[map_prior]\ndraws = true\n", "[map_prior] draws: expected a string or a number"),
    ("[survival_prior]\nendpoint = \"os\"\n", "[map_prior]: no such table (found: "
                                             "survival_prior)"),
    ("[map_prior]\n[extra]\n", "[extra]: unknown table; this command reads [map_prior] only"),
    ("[map_prior\n", "not valid TOML"),
])
def test_bad_specs_exit_2_naming_the_file_and_key(tmp_path, captured, capsys, text,
                                                  message) -> None:
    spec = _spec(tmp_path, text)
    assert main(["plan", "map-prior", "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: " in err and message in err, err
    assert not captured  # nothing was fitted


def test_an_option_given_in_both_places_is_refused(tmp_path, captured, capsys) -> None:
    spec = _spec(tmp_path, SPEC)
    assert main(["plan", "map-prior", "--spec", str(spec), "--draws", "800"]) == 2
    err = capsys.readouterr().err
    assert "[map_prior] draws: also given on the command line as --draws" in err
    assert not captured


def test_missing_spec_file_is_named(tmp_path, capsys) -> None:
    assert main(["plan", "map-prior", "--spec", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: no such specification file" in capsys.readouterr().err
