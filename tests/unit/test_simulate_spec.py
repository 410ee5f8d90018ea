"""Study specs: the strict [study] table, the kind, the tables, bundled names and the hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from simulate_toy import TOY_KIND, BetaBinomialToy, write_spec

from pclbayes.errors import SpecError
from pclbayes.simulate import spec as simspec
from pclbayes.simulate.spec import MAX_REPLICATES, load_study, resolve_study_path, spec_hash


def _write(tmp_path: Path, study: str, rest: str = "[grid]\ntrue_rate = [0.2]\n") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f"[study]\n{study}\n{rest}", encoding="utf-8")
    return path


GOOD = f'kind = "{TOY_KIND}"\nname = "t"\ntitle = "T"\nseed = 1\nreplicates = 3'


def test_load_study_gives_the_study_and_its_scenarios(tmp_path):
    study = load_study(write_spec(tmp_path / "a.toml", rates=(0.1, 0.3, 0.5)))
    assert isinstance(study, BetaBinomialToy)
    assert study.scenarios() == [{"true_rate": 0.1}, {"true_rate": 0.3}, {"true_rate": 0.5}]
    assert study.spec["study"]["description"] == ""


@pytest.mark.parametrize(("study", "key", "words"), [
    (GOOD.replace("seed = 1", "seed = -1"), "[study] seed", "from 0 to"),
    (GOOD.replace("seed = 1", f"seed = {2**63}"), "[study] seed", "from 0 to"),
    (GOOD.replace("seed = 1", "seed = true"), "[study] seed", "whole number"),
    (GOOD.replace("seed = 1", "seed = 1.5"), "[study] seed", "whole number"),
    (GOOD.replace("replicates = 3", "replicates = 0"), "[study] replicates", "from 1"),
    (GOOD.replace("replicates = 3", f"replicates = {MAX_REPLICATES + 1}"),
     "[study] replicates", str(MAX_REPLICATES)),
    (GOOD.replace('title = "T"\n', ""), "[study] title", "missing"),
    (GOOD.replace('name = "t"', 'name = "a b/c"'), "[study] name", "letters"),
    (GOOD + '\ncolour = "red"', "[study] colour", "unknown key"),
    (GOOD.replace(TOY_KIND, "nope"), "[study] kind", "unknown kind"),
    (GOOD.replace(TOY_KIND, "no_such_module_xyz:Thing"), "[study] kind", "cannot import"),
    (GOOD.replace(TOY_KIND, "simulate_toy:write_spec"), "[study] kind", "not a subclass"),
    (GOOD.replace(TOY_KIND, "simulate_toy:Nothing"), "[study] kind", "has no"),
])
def test_bad_study_table_names_file_and_key(tmp_path, study, key, words):
    path = _write(tmp_path, study)
    with pytest.raises(SpecError) as err:
        load_study(path)
    assert str(err.value).startswith(f"{path}: {key}")
    assert words in str(err.value)


def test_unknown_table_is_an_error_unless_the_kind_lists_it(tmp_path):
    ok = _write(tmp_path, GOOD, "[grid]\ntrue_rate = [0.2]\n[toy]\nn = 5\n")
    assert load_study(ok).opts["n"] == 5
    bad = _write(tmp_path, GOOD, "[grid]\ntrue_rate = [0.2]\n[sbc]\nmodel = 'x'\n")
    with pytest.raises(SpecError, match=r"s\.toml: \[sbc\]: unknown top-level table.*\[toy\]"):
        load_study(bad)


def test_grid_axis_may_not_shadow_a_runner_column(tmp_path):
    path = _write(tmp_path, GOOD, "[grid]\nseed = [1, 2]\n")
    with pytest.raises(SpecError, match=r"\[grid\] seed: is a column the runner adds"):
        load_study(path)


def test_too_many_tasks_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(simspec, "MAX_TASKS", 5)
    with pytest.raises(SpecError, match="6 tasks"):
        load_study(_write(tmp_path, GOOD.replace("replicates = 3", "replicates = 6")))


def test_file_problems_are_spec_errors(tmp_path):
    path = tmp_path / "x.toml"
    with pytest.raises(SpecError, match="no such"):
        load_study(path)
    path.write_bytes("[study]\n".encode("utf-16"))
    with pytest.raises(SpecError, match="UTF-16"):
        load_study(path)
    path.write_text("[study\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_study(path)
    path.write_bytes(b"\xef\xbb\xbf" + f"[study]\n{GOOD}\n".encode())  # BOM is fine
    assert load_study(path).spec["study"]["name"] == "t"
    path.write_text("[grid]\nx = [1]\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"x\.toml: \[study\]: missing"):
        load_study(path)


def test_bundled_study_named_by_its_stem(tmp_path, monkeypatch):
    import pclbayes._paths as paths

    folder = tmp_path / "studies"
    folder.mkdir()
    write_spec(folder / "tiny_toy.toml")
    monkeypatch.setattr(paths, "BUNDLED_STUDIES", folder)
    assert resolve_study_path("tiny_toy") == folder / "tiny_toy.toml"
    assert load_study("tiny_toy").path == folder / "tiny_toy.toml"
    with pytest.raises(SpecError, match=r"not a bundled study \(bundled: tiny_toy\)"):
        resolve_study_path("other")


def test_spec_hash_follows_what_decides_the_rows(tmp_path):
    base = spec_hash(load_study(write_spec(tmp_path / "a.toml")))
    same = load_study(write_spec(tmp_path / "b.toml"))
    same.spec["study"]["title"] = "another title"
    assert spec_hash(same) == base
    assert spec_hash(load_study(write_spec(tmp_path / "c.toml", seed=8))) != base
    assert spec_hash(load_study(write_spec(tmp_path / "d.toml", replicates=9))) != base
    # the grid's order fixes the scenario index and so each task's seed
    assert spec_hash(load_study(write_spec(tmp_path / "e.toml", rates=(0.4, 0.2)))) != base
    assert spec_hash(load_study(write_spec(tmp_path / "f.toml", extra="a = 2.0\n"))) != base
