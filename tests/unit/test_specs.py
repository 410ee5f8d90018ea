"""Specification files: parsing, validation (every error names the file and the key), and
the prior-sensitivity variants they declare."""

from __future__ import annotations

from pathlib import Path

import pytest

from pclbayes._paths import BUNDLED_MODELS
from pclbayes.cli import main
from pclbayes.errors import SpecError
from pclbayes.specs import Variant, apply_variant, list_specs, load_spec, parse_spec

GOOD = """
[model]
family = "response"
name = "orr_test"
endpoint = "orr"
by = "target"

[priors]
kappa = { dist = "Gamma", alpha = 2, beta = 0.1, reason = "default" }

[sampler]
draws = 500
seed = 3
"""


def _write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    path = models / name
    path.write_text(text, encoding="utf-8")
    return path


def _raw(**tables) -> dict:
    raw = {"model": {"family": "response", "name": "s"}}
    raw.update(tables)
    return raw


def test_a_good_file_parses(tmp_path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    assert (spec.family, spec.name, spec.title, spec.seed) == ("response", "orr_test",
                                                               "orr_test", 3)
    assert spec.options == {"endpoint": "orr", "by": "target"}
    assert spec.sampler.draws == 500 and spec.sensitivity == ()


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("name", ["../../x", "a/b", "a\\b", "a\x00b", ".hidden", "", " ",
                                  "x" * 101, "a b", "spec@variant", 5])
def test_unsafe_or_empty_names_are_refused(tmp_path, name) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"model": {"family": "response", "name": name}}, tmp_path / "x.toml")
    assert str(err.value).startswith(f"{tmp_path / 'x.toml'}: [model] name: ")


@pytest.mark.parametrize("name", ["a", "orr_by-target.v2", "X" * 100, "_private", "2026"])
def test_safe_names_are_accepted(name) -> None:
    assert parse_spec({"model": {"family": "response", "name": name}}).name == name


def test_a_name_from_the_file_name_is_checked_too(tmp_path) -> None:
    path = _write(tmp_path, '[model]\nfamily = "response"\n', ".hidden.toml")
    with pytest.raises(SpecError, match=r"\.hidden\.toml: \[model\] name: '\.hidden'"):
        load_spec(path)
    assert load_spec(_write(tmp_path, '[model]\nfamily = "response"\n', "ok.toml")).name == "ok"


def test_duplicate_names_in_a_directory_are_refused(tmp_path) -> None:
    _write(tmp_path, GOOD, "a.toml")
    _write(tmp_path, GOOD, "b.toml")
    with pytest.raises(SpecError, match=r"b\.toml: \[model\] name: 'orr_test' is already the "
                                        r"name of .*a\.toml"):
        list_specs(tmp_path / "models")


# ---------------------------------------------------------------- keys and types
def test_sampler_errors_name_the_file_and_key(tmp_path) -> None:
    path = _write(tmp_path, GOOD.replace("draws = 500", 'draws = "lots"'))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value) == f"{path}: [sampler] draws: expected an integer, got 'lots'"


@pytest.mark.parametrize(("sampler", "match"), [
    ({"draws": True}, r"\[sampler\] draws: expected an integer, got True"),
    ({"draws": 10.0}, r"\[sampler\] draws: expected an integer, got 10.0"),
    ({"chains": 0}, r"\[sampler\] chains: must be >= 1, got 0"),
    ({"tune": -5}, r"\[sampler\] tune: must be >= 1"),
    ({"target_accept": 1.5}, r"\[sampler\] target_accept: expected a number in \(0, 1\)"),
    ({"target_accept": "high"}, r"\[sampler\] target_accept: expected a number"),
    ({"sampler": "stan"}, r"\[sampler\] sampler: must be one of nutpie, pymc, got 'stan'"),
    ({"seed": -1}, r"\[sampler\] seed: must be >= 0, got -1"),
    ({"seed": "x"}, r"\[sampler\] seed: expected an integer, got 'x'"),
    ({"drawz": 5}, r"\[sampler\] drawz: unknown key; allowed: draws, tune, chains"),
])
def test_sampler_values_are_checked(sampler, match) -> None:
    with pytest.raises(SpecError, match=r"^f\.toml: " + match):
        parse_spec(_raw(sampler=sampler), Path("f.toml"))


@pytest.mark.parametrize(("raw", "match"), [
    ({"model": {"name": "s"}}, r"\[model\] family: must be one of response, survival, got None"),
    ({"model": {"family": "surv"}}, r"\[model\] family: .* got 'surv'"),
    ({"model": "response"}, r"\[model\]: expected a table, got 'response'"),
    (_raw(modle={}), r"\[modle\]: unknown key; allowed: model, priors, sampler, report, "
                     "sensitivity"),
    (_raw(priors=[1]), r"\[priors\]: expected a table"),
    (_raw(priors={"kappa": 3}), r"\[priors\] kappa: expected a prior table"),
    (_raw(priors={"kappa": {"dist": "Gama", "alpha": 2, "beta": 1}}),
     r"\[priors\] kappa: unknown prior distribution 'Gama'"),
    (_raw(priors={"kappa": {"dist": "Gamma", "alpha": 2, "beta": "lots"}}),
     r"\[priors\] kappa: Gamma beta = 'lots': expected a number$"),
    (_raw(priors={"kappa": {"dist": "Gamma", "alpha": 2, "beta": -0.1}}),
     r"\[priors\] kappa: Gamma\(alpha=2, beta=-0.1\): Gamma beta = -0.1 must be > 0$"),
    (_raw(priors={"kappa": {"dist": "Gamma", "alpha": True, "beta": 1}}),
     r"\[priors\] kappa: Gamma alpha = True: expected a number$"),
    (_raw(priors={"kappa": {"dist": "Gamma", "alpha": 2}}), r"\[priors\] kappa: Gamma takes"),
    (_raw(report={"sensitivity": "no"}), r"\[report\] sensitivity: expected true or false"),
    (_raw(report={"colour": 1}), r"\[report\] colour: unknown key; allowed: sensitivity"),
    ({"model": {"family": "response", "title": 3}}, r"\[model\] title: expected a non-empty "
                                                   "string, got 3"),
])
def test_errors_name_the_file_and_key(raw, match) -> None:
    with pytest.raises(SpecError, match=r"^models/f\.toml: " + match):
        parse_spec(raw, Path("models/f.toml"))


# ---------------------------------------------------------------- reading files
def test_a_utf8_byte_order_mark_is_read(tmp_path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode("utf-8"))
    assert load_spec(path).name == "orr_test"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_a_clear_error(tmp_path, encoding) -> None:
    path = tmp_path / "wide.toml"
    data = GOOD.encode(encoding)
    if encoding != "utf-16":  # the -le/-be codecs write no byte-order mark
        data = ("\ufeff" + GOOD).encode(encoding)
    path.write_bytes(data)
    with pytest.raises(SpecError, match=rf"^{path}: is UTF-16 encoded; save it as UTF-8$"):
        load_spec(path)


def test_other_encodings_and_bad_toml(tmp_path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes(GOOD.replace('"orr_test"', '"orr"\ntitle = "r\xe9ponse"')
                      .encode("latin-1"))
    with pytest.raises(SpecError, match=rf"^{latin}: is not UTF-8 text"):
        load_spec(latin)
    bad = _write(tmp_path, "[model\nfamily = 1")
    with pytest.raises(SpecError, match=rf"^{bad}: not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match=r"no such specification file"):
        load_spec(tmp_path / "missing.toml")


def test_a_directory_is_not_a_specification(tmp_path, capsys) -> None:
    folder = tmp_path / "looks_like.toml"
    folder.mkdir()
    with pytest.raises(SpecError, match=rf"^{folder}: is a directory, not a specification"):
        load_spec(folder)
    assert main(["fit", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {folder}: is a directory, not a specification file\n"


# ---------------------------------------------------------------- sensitivity variants
VARIANTS = """
[sensitivity.weak-pooling]
reason = "a heterogeneity prior that allows much more between-cohort spread"
priors = { kappa = { dist = "Gamma", alpha = 2, beta = 0.4 } }

[sensitivity.cr-exact]
reason = "the same model by numerical integration"
options = { method = "exact" }
"""


def test_variants_are_parsed_in_order(tmp_path) -> None:
    spec = load_spec(_write(tmp_path, GOOD + VARIANTS))
    assert spec.sensitivity == (
        Variant("weak-pooling", "a heterogeneity prior that allows much more between-cohort "
                "spread", {"kappa": {"dist": "Gamma", "alpha": 2, "beta": 0.4}}, {}),
        Variant("cr-exact", "the same model by numerical integration", {},
                {"method": "exact"}))
    # the declared variants do not change the fit itself (nor its provenance hash)
    assert "sensitivity" not in spec.to_dict()
    assert spec.to_dict() == load_spec(_write(tmp_path, GOOD, "y.toml")).to_dict()


def test_apply_variant_replaces_whole_priors_and_options(tmp_path) -> None:
    spec = load_spec(_write(tmp_path, GOOD + VARIANTS))
    weak, exact = (apply_variant(spec, v) for v in spec.sensitivity)
    assert weak.name == "orr_test@weak-pooling" and weak.sensitivity == ()
    assert weak.priors == {"kappa": {"dist": "Gamma", "alpha": 2, "beta": 0.4}}
    assert weak.options == spec.options and weak.sampler == spec.sampler
    assert exact.options == {"endpoint": "orr", "by": "target", "method": "exact"}
    assert exact.priors == spec.priors and exact.seed == spec.seed == 3
    assert spec.priors["kappa"]["beta"] == 0.1  # the specification itself is unchanged


def _variant(table: dict, name: str = "v", family: str = "response", **model) -> None:
    parse_spec({"model": {"family": family, "name": "s", **model},
                "sensitivity": {name: table}}, Path("models/s.toml"))


@pytest.mark.parametrize("name", ["Weak", "weak_pooling", "weak pooling", "-weak", "weak-",
                                  "a--b", "w/x", "../x", "x" * 41, ""])
def test_variant_names_are_slugs(name) -> None:
    with pytest.raises(SpecError, match=r"^models/s\.toml: \[sensitivity\..*\]: variant name "
                                        ".* is not a slug"):
        _variant({"reason": "r", "priors": {"kappa": "Gamma(alpha=2, beta=0.4)"}}, name)


@pytest.mark.parametrize(("table", "extra", "match"), [
    ({"reason": "r", "prior": {}}, {}, r"\[sensitivity\.v\] prior: unknown key; allowed: "
                                       "reason, priors, options"),
    ({"priors": {"kappa": "Gamma(alpha=2, beta=0.4)"}}, {},
     r"\[sensitivity\.v\] reason: missing"),
    ({"reason": "  ", "priors": {"kappa": "Gamma(alpha=2, beta=0.4)"}}, {},
     r"\[sensitivity\.v\] reason: expected a non-empty string"),
    ({"reason": "r"}, {}, r"\[sensitivity\.v\]: changes nothing"),
    ({"reason": "r", "priors": {"kapa": "Gamma(alpha=2, beta=0.4)"}}, {},
     r"\[sensitivity\.v\] priors kapa: the model has no such prior; its priors: mu, kappa"),
    # sigma is a prior of the logit-normal model, not of the beta-binomial
    ({"reason": "r", "priors": {"sigma": "HalfNormal(sigma=2)"}}, {},
     r"\[sensitivity\.v\] priors sigma: the model has no such prior"),
    ({"reason": "r", "priors": {"kappa": {"dist": "Gamma", "alpha": 2}}}, {},
     r"\[sensitivity\.v\] priors kappa: Gamma takes"),
    ({"reason": "r", "options": {"methd": "exact"}}, {},
     r"\[sensitivity\.v\] options methd: not an option a variant can change; response "
     "options: endpoint, by"),
    ({"reason": "r", "options": {"name": "other"}}, {},
     r"\[sensitivity\.v\] options name: not an option a variant can change"),
    ({"reason": "r", "options": "exact"}, {}, r"\[sensitivity\.v\] options: expected a table"),
    ("kappa", {}, r"\[sensitivity\.v\]: expected a table"),
])
def test_variant_errors_name_the_file_and_key(table, extra, match) -> None:
    with pytest.raises(SpecError, match=r"^models/s\.toml: " + match):
        _variant(table, **extra)


def test_variant_priors_are_checked_against_the_model_the_variant_fits() -> None:
    # switching to the logit-normal model makes sigma a prior of the variant's model
    _variant({"reason": "r", "options": {"model": "logit-normal"},
              "priors": {"sigma": "HalfNormal(sigma=2)"}})
    _variant({"reason": "r", "options": {"episodes": "first"}}, family="survival")
    with pytest.raises(SpecError, match=r"priors kappa: the model has no such prior; its "
                                        "priors: log_median, effect, shape"):
        _variant({"reason": "r", "priors": {"kappa": "Gamma(alpha=2, beta=0.4)"}},
                 family="survival")


def test_shipped_variants_are_the_reviewed_ones() -> None:
    """The variants the report has always run, with the same priors and names."""
    specs = {s.name: s for s in list_specs(BUNDLED_MODELS)}
    kappa = {"more-heterogeneity": {"kappa": {"dist": "Gamma", "alpha": 2, "beta": 0.4}},
             "less-heterogeneity": {"kappa": {"dist": "Gamma", "alpha": 2, "beta": 0.025}},
             "jeffreys-mean": {"mu": {"dist": "Beta", "alpha": 0.5, "beta": 0.5}}}
    sigma = {"less-heterogeneity": {"sigma": {"dist": "HalfNormal", "sigma": 0.5}},
             "more-heterogeneity": {"sigma": {"dist": "HalfNormal", "sigma": 2}},
             "wider-intercept": {"intercept": {"dist": "Normal", "mu": 0, "sigma": 3}}}
    survival = {
        "vague": {"log_median": {"dist": "Normal", "mu": 1.8, "sigma": 2.5},
                  "effect": {"dist": "Normal", "mu": 0, "sigma": 2},
                  "shape": {"dist": "LogNormal", "mu": 0, "sigma": 1},
                  "sigma_cohort": {"dist": "HalfNormal", "sigma": 1}},
        "sceptical": {"effect": {"dist": "Normal", "mu": 0, "sigma": 0.5},
                      "sigma_cohort": {"dist": "HalfNormal", "sigma": 0.25}}}
    # data and estimand variants (options only; tests/unit/test_survival_estimands.py)
    estimand = {"with-reinfusions": {}, "progression-only": {}, "censor-at-hsct": {},
                "tongji-censored": {}, "without-carsgen": {}, "without-tongji": {}}
    expected = {"response_orr_by_target": kappa, "response_cr_by_target": kappa,
                "response_orr_by_strategy": kappa, "response_cr_by_strategy": kappa,
                "response_orr_by_target_logit_normal": sigma,
                "survival_pfs_by_target": {**survival, **estimand},
                "survival_os": {"reinfusion-censored": {}},
                "survival_pfs_by_strategy": {
                    "uniform-kendall-tau": {"kendall_tau": {"dist": "Beta", "alpha": 1,
                                                            "beta": 1}}}}
    assert set(specs) == set(expected)
    for name, variants in expected.items():
        got = {v.name: v.priors for v in specs[name].sensitivity}
        assert got == variants, name
        assert list(got) == list(variants), name
        for v in specs[name].sensitivity:
            assert (v.options == {}) == bool(v.priors) and len(v.reason) > 60, (name, v.name)


@pytest.mark.parametrize(("table", "match"), [
    ({"reason": "r", "options": {"method": "exakt"}},
     r"\[sensitivity\.v\]: unknown method 'exakt'"),
    ({"reason": "r", "options": {"model": "logit-normal", "method": "exact"}},
     r"\[sensitivity\.v\]: method 'exact' is available for the beta-binomial model only"),
    ({"reason": "r", "priors": {"kappa": "Normal(mu=0, sigma=1)"}},
     r"\[sensitivity\.v\]: prior for 'kappa' .* has the wrong support"),
])
def test_a_variant_whose_model_cannot_be_built_fails_at_parse_time(table, match) -> None:
    with pytest.raises(SpecError, match=r"^models/s\.toml: " + match):
        _variant(table)


def test_the_specs_own_errors_are_not_blamed_on_a_variant() -> None:
    # the spec's own (invalid) method is reported when it is fitted, not as a variant error
    spec = parse_spec({"model": {"family": "response", "name": "s", "method": "exakt"},
                       "sensitivity": {"v": {"reason": "r", "priors": {
                           "kappa": "Gamma(alpha=2, beta=0.4)"}}}})
    assert [v.name for v in spec.sensitivity] == ["v"]
