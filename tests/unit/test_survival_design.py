"""Data preparation and design coding of the survival model (no sampling)."""

import numpy as np
import pandas as pd
import pytest

from pclbayes.data import load
from pclbayes.errors import DataValidationError, SpecError
from pclbayes.survival import SurvivalModel, from_spec
from pclbayes.survival.data import prepare_data
from pclbayes.survival.design import (
    Term,
    build_design,
    code_term,
    covariate_columns,
    design_matrix,
    frailty_clusters,
    profile_matrix,
)


@pytest.fixture(scope="module")
def eb():
    return load()


@pytest.fixture(scope="module")
def pfs(eb):
    return prepare_data(eb, "pfs")


def test_bundled_pfs_episodes(pfs):
    t = pfs.table
    assert len(t) == 20 and t["event"].sum() == 14
    assert (t["strategy"] == "switch").sum() == 5
    assert pfs.excluded.empty


def test_os_lists_the_two_tongji_patients_without_os(eb):
    os_ = prepare_data(eb, "os")
    assert sorted(os_.excluded["patient_id"]) == ["pcl-a", "pcl-b"]
    assert set(os_.excluded["cohort"]) == {"tongji"}
    assert os_.cohorts_without_data == ["tongji"]
    assert "tongji" not in set(os_.table["cohort"])


def test_missing_pcl_type_is_an_explicit_unknown_level(pfs):
    d = build_design(pfs.table)
    assert "pcl_type[unknown]" in d.term_labels
    unknown = d.X[:, d.term_labels.index("pcl_type[unknown]")]
    assert unknown.sum() == 2  # the two CARsgen patients, kept (not dropped)
    assert len(d.log_t) == 20
    assert any("unknown" in n for n in d.notes)


def test_reference_levels_and_contrasts(pfs):
    d = build_design(pfs.table)
    assert d.contrast_labels == ("GPRC5D vs BCMA", "switch vs first", "secondary vs primary",
                                 "unknown vs primary")
    d2 = build_design(pfs.table, reference={"target": "GPRC5D"})
    assert "BCMA vs GPRC5D" in d2.contrast_labels
    with pytest.raises(SpecError, match="reference level 'CD19'"):
        build_design(pfs.table, reference={"target": "CD19"})


def test_profiles_fix_first_infusion_and_average_pcl_type(pfs):
    d = build_design(pfs.table, by="target")
    assert d.groups == ("BCMA", "GPRC5D") and d.at == {"strategy": "first"}
    first = pfs.table[pfs.table["strategy"] == "first"]
    known = first["pcl_type"].dropna()
    share = (known == "secondary").mean()
    j = d.term_labels.index("pcl_type[secondary]")
    np.testing.assert_allclose(d.profile[:, j], share)
    np.testing.assert_array_equal(d.profile[:, d.term_labels.index("target[GPRC5D]")], [0, 1])
    np.testing.assert_array_equal(d.profile[:, d.term_labels.index("strategy[switch]")], [0, 0])
    np.testing.assert_array_equal(d.profile[:, d.term_labels.index("pcl_type[unknown]")], [0, 0])
    by_strategy = build_design(pfs.table, by="strategy")
    assert by_strategy.groups == ("first", "switch") and by_strategy.at == {}


def test_at_option_validation(pfs):
    d = build_design(pfs.table, at={"pcl_type": "primary"})
    assert d.at == {"strategy": "first", "pcl_type": "primary"}
    with pytest.raises(SpecError, match="reporting column"):
        build_design(pfs.table, by="target", at={"target": "BCMA"})
    with pytest.raises(SpecError, match="not in the data"):
        build_design(pfs.table, at={"pcl_type": "tertiary"})


def test_patient_clusters_for_reinfused_patients(pfs):
    d = build_design(pfs.table)
    assert d.frailty and d.cluster_index.shape == (5, 2)
    for row in d.cluster_index:
        pats = {d.patient_labels[d.patient_index[i]] for i in row}
        assert len(pats) == 1
    assert d.units[0] == "patient" and len(d.units[1]) == 15
    off = build_design(pfs.table, frailty="none")
    assert not off.frailty and off.units[0] == "episode" and len(off.units[1]) == 20


def test_unknown_by_column_is_a_clear_error(pfs):
    with pytest.raises(SpecError, match=r"cannot report by 'colour'.*target"):
        build_design(pfs.table, by="colour")


def test_by_any_column_adds_it_as_covariate(pfs):
    d = build_design(pfs.table, by="sex")
    assert any(t.startswith("sex[") for t in d.term_labels)
    assert set(d.groups) <= {"F", "M", "unknown"}


def test_frame_input_without_cohort_is_one_cohort():
    df = pd.DataFrame({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1]})
    sd = prepare_data(df)
    assert set(sd.table["cohort"]) == {"data"} and len(sd.table) == 3
    d = build_design(sd.table, by="none")
    assert not d.cohort_effect and d.n_terms == 0 and d.groups == ("all",)


@pytest.mark.parametrize("bad, match", [
    ({"time": [1.0, -2.0], "event": [1, 0]}, "row 2.*time must be a positive"),
    ({"time": [1.0, 2.0], "event": [1, 2]}, "row 2.*event must be 1"),
    ({"time": [1.0, 2.0]}, "missing column 'event'"),
])
def test_bad_input_names_the_problem(bad, match):
    with pytest.raises(DataValidationError, match=match):
        prepare_data(pd.DataFrame(bad))


def test_three_events_in_one_patient_is_refused():
    df = pd.DataFrame({"cohort": "c", "patient_id": ["1", "1", "1", "2"], "episode": [1, 2, 3, 1],
                       "time": [1.0, 2, 3, 4], "event": [1, 1, 1, 0]})
    with pytest.raises(DataValidationError, match="patient 'c/1' has 3 episodes ending"):
        build_design(prepare_data(df).table, by="none")
    assert not build_design(prepare_data(df).table, by="none", frailty="none").frailty


def test_user_csv_with_time_event_columns(tmp_path):
    path = tmp_path / "mycohort.csv"
    pd.DataFrame({"time": [1.5, 4.0, 7.2], "event": [1, 1, 0], "arm": ["a", "b", "a"]}).to_csv(
        path, index=False)
    sd = prepare_data(str(path))
    assert set(sd.table["cohort"]) == {"mycohort"} and sd.data_hash
    d = build_design(sd.table, by="arm")
    assert d.groups == ("a", "b")


@pytest.mark.parametrize("kwargs, match", [
    ({"priors": {"shapes": "LogNormal(mu=0, sigma=1)"}}, "unknown prior 'shapes'"),
    ({"priors": {"shape": "Normal(mu=1, sigma=1)"}}, "positive values"),
    ({"priors": {"kendall_tau": "HalfNormal(sigma=1)"}}, r"values in \(0, 1\)"),
    ({"horizons": [6, -1]}, "horizons"),
    ({"fixed_shape": -1.0}, "fixed_shape"),
    ({"episodes": "second"}, "episodes"),
    ({"shape": "per_cohort"}, "shape must be"),
    ({"frailty": "gamma"}, "frailty must be"),
])
def test_invalid_options_fail_before_sampling(eb, kwargs, match):
    with pytest.raises(SpecError, match=match):
        SurvivalModel(**kwargs).fit(eb, seed=1)


def test_invalid_seed(eb):
    with pytest.raises(SpecError, match="seed"):
        SurvivalModel().fit(eb, seed=-3)


def test_from_spec_rejects_unknown_keys(eb):
    from pclbayes.specs import parse_spec

    spec = parse_spec({"model": {"family": "survival", "endpoint": "pfs", "colour": "red"}})
    with pytest.raises(SpecError, match=r"unknown \[model\] key\(s\) \['colour'\].*endpoint"):
        from_spec(spec, eb)


def test_model_is_not_fitted_until_fit():
    m = SurvivalModel(by="strategy")
    assert "not fitted" in str(m)
    with pytest.raises(SpecError, match="fit"):
        m.summary()
    assert "kendall_tau" in m.prior_summary()


def test_cohort_parametrisation_choice(pfs):
    assert not build_design(pfs.table).cohort_centred  # small cohorts: non-centred
    rng = np.random.default_rng(0)
    n = 600
    big = pd.DataFrame({"cohort": np.repeat(["a", "b", "c"], n // 3),
                        "patient_id": [str(i) for i in range(n)], "episode": 1,
                        "time": rng.weibull(2.0, n) * 10, "event": 1})
    d = build_design(big, by="none")
    assert d.cohort_centred and any("centred" in note for note in d.notes)
    assert not build_design(big, by="none", cohort_parametrisation="noncentred").cohort_centred
    assert build_design(pfs.table, cohort_parametrisation="centred").cohort_centred
    with pytest.raises(SpecError, match="cohort_parametrisation"):
        build_design(pfs.table, cohort_parametrisation="partial")


# --- the steps of build_design, against hand-worked small tables ------------------------------

def _levels(values, name):
    return pd.Series(values, name=name, dtype=object)


def test_code_term_reference_first_then_sorted_then_unknown_last():
    notes = []
    t = code_term(_levels(["b", "unknown", "a", "c", "b"], "arm"), {}, notes)
    assert t == Term("arm", "a", ("a", "b", "c", "unknown"))  # no default: first sorted level
    assert notes == ["'arm' is missing for 1 episode(s): kept as level 'unknown' with its own "
                     "coefficient"]
    chosen = code_term(_levels(["b", "unknown", "a", "c"], "arm"), {"arm": "c"}, [])
    assert chosen.levels == ("c", "a", "b", "unknown") and chosen.contrasts == ("a", "b", "unknown")
    # the package default (BCMA for target) wins over alphabetical order when present ...
    assert code_term(_levels(["GPRC5D", "BCMA"], "target"), {}, []).reference == "BCMA"
    # ... and falls back to the first sorted level when absent
    assert code_term(_levels(["GPRC5D", "CD19"], "target"), {}, []).reference == "CD19"


def test_code_term_without_a_known_level_has_no_coefficient():
    notes = []
    t = code_term(_levels(["unknown", "unknown"], "sex"), {}, notes)
    assert t == Term("sex", "unknown", ("unknown",)) and t.contrasts == ()
    assert notes[-1] == "'sex' has the single level 'unknown': no coefficient"
    with pytest.raises(SpecError, match=r"reference level 'F' of 'sex'.*levels: none"):
        code_term(_levels(["unknown"], "sex"), {"sex": "F"}, [])
    with pytest.raises(SpecError, match="13 levels"):
        code_term(_levels([f"l{i:02d}" for i in range(13)], "site"), {}, [])


def test_covariate_columns_defaults_notes_and_by_last():
    notes = []
    got = covariate_columns(["time", "event", "strategy", "sex"], "sex", None, notes)
    assert got == ["strategy", "sex"]
    assert notes == ["no 'target' column: the model does not adjust for it",
                     "no 'pcl_type' column: the model does not adjust for it"]
    assert covariate_columns(["sex", "age_group"], "none", ["age_group"], []) == ["age_group"]
    with pytest.raises(SpecError, match="covariate 'target' is not a column"):
        covariate_columns(["sex"], "none", ["target"], [])


def test_design_matrix_treatment_coding():
    eps = pd.DataFrame({"arm": ["a", "b", "c", "unknown"], "sex": ["F", "M", "M", "F"]})
    terms = [Term("arm", "a", ("a", "b", "c", "unknown")), Term("sex", "F", ("F", "M"))]
    coding = design_matrix(eps, terms)
    expected = np.array([
        # arm[b] arm[c] arm[unknown] sex[M]
        [0, 0, 0, 0],
        [1, 0, 0, 1],
        [0, 1, 0, 1],
        [0, 0, 1, 0],
    ], dtype=float)
    np.testing.assert_array_equal(coding.X, expected)
    assert coding.term_labels == ("arm[b]", "arm[c]", "arm[unknown]", "sex[M]")
    assert coding.contrast_labels == ("b vs a", "c vs a", "unknown vs a", "M vs F")
    assert design_matrix(eps, []).X.shape == (4, 0)


def test_design_matrix_names_the_column_when_contrast_labels_clash():
    eps = pd.DataFrame({"bridging": ["no", "yes"], "prior_sct": ["yes", "no"]})
    terms = [Term("bridging", "no", ("no", "yes")), Term("prior_sct", "no", ("no", "yes"))]
    assert design_matrix(eps, terms).contrast_labels == ("bridging: yes vs no",
                                                         "prior_sct: yes vs no")


def test_profile_matrix_fixes_by_and_at_and_averages_the_rest():
    # episodes: arm (the by column), strategy (fixed at 'first'), pcl (averaged)
    eps = pd.DataFrame({
        "arm":      ["a", "a", "b", "b", "b", "a"],
        "strategy": ["first", "first", "first", "switch", "first", "first"],
        "pcl":      ["primary", "secondary", "secondary", "secondary", "unknown", "primary"],
    })
    terms = [Term("arm", "a", ("a", "b")), Term("strategy", "first", ("first", "switch")),
             Term("pcl", "primary", ("primary", "secondary", "unknown"))]
    base = (eps["strategy"] == "first").to_numpy()
    profile = profile_matrix(eps, terms, ("a", "b"), by="arm", fixed={"strategy": "first"},
                             base=base)
    # first-infusion episodes with known pcl: rows 0, 1, 2, 5 -> secondary in 2 of 4; the
    # 'unknown' column is 0 because the shares are over known levels only
    expected = np.array([
        # arm[b] strategy[switch] pcl[secondary] pcl[unknown]
        [0.0, 0.0, 0.5, 0.0],
        [1.0, 0.0, 0.5, 0.0],
    ])
    np.testing.assert_allclose(profile, expected)
    at_secondary = profile_matrix(eps, terms, ("a", "b"), by="arm",
                                  fixed={"strategy": "first", "pcl": "secondary"}, base=base)
    np.testing.assert_array_equal(at_secondary[:, 2:], [[1.0, 0.0], [1.0, 0.0]])


def test_frailty_clusters_rows_per_patient_padded_with_the_first_episode():
    # patients of six episodes: 0 has episodes 0 and 2, 1 has 1, 4 and 5, 2 has episode 3
    patient_index = np.array([0, 1, 0, 2, 1, 1])
    clusters = frailty_clusters(patient_index, np.array([0, 1]))
    np.testing.assert_array_equal(clusters.index, [[0, 2, 0], [1, 4, 5]])
    np.testing.assert_array_equal(clusters.mask, [[1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(clusters.single, [False, False, False, True, False, False])
    none = frailty_clusters(patient_index, np.zeros(0, dtype=int))
    assert none.index.shape == (0, 1) and none.mask.shape == (0, 1) and none.single.all()


def _weibull_sample(seed, n, shape, censor_max):
    rng = np.random.default_rng(seed)
    t = 10.0 * rng.weibull(shape, n)
    c = rng.uniform(0.0, censor_max, n) if censor_max else np.full(n, np.inf)
    return np.minimum(t, c), (t <= c).astype(int)


def _weibull_loglik(k, time, event):
    """Censored Weibull log-likelihood at shape ``k`` and its best scale (SciPy's density)."""
    from scipy import stats

    scale = (np.sum(time ** k) / event.sum()) ** (1 / k)
    return (stats.weibull_min.logpdf(time[event == 1], k, scale=scale).sum()
            + stats.weibull_min.logsf(time[event == 0], k, scale=scale).sum())


@pytest.mark.parametrize(("seed", "n", "shape", "censor_max"), [
    (1, 20, 1.5, 30.0), (2, 5, 0.7, None), (3, 200, 3.0, 15.0), (4, 13, 1.0, 10.0),
    (5, 3000, 0.5, 40.0), (9, 3, 2.0, 12.0), (7, 60, 8.0, 11.0)])
def test_pooled_shape_is_the_censored_weibull_maximum(seed, n, shape, censor_max):
    """The shape maximises the censored likelihood (SciPy's Weibull density): no lower than
    at SciPy's and lifelines' own maxima or beside it, and equal to theirs where they are
    precise (more than a handful of events)."""
    import warnings

    from lifelines import WeibullFitter
    from scipy import stats

    from pclbayes.survival.design import pooled_shape

    time, event = _weibull_sample(seed, n, shape, censor_max)
    assert event.sum() >= 2
    k = pooled_shape(time, event)
    data = stats.CensoredData(uncensored=time[event == 1], right=time[event == 0])
    scipy_k = stats.weibull_min.fit(data, floc=0)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lifelines_k = WeibullFitter().fit(time, event).rho_
    best = _weibull_loglik(k, time, event)
    for other in (scipy_k, lifelines_k, k * (1 - 1e-6), k * (1 + 1e-6)):
        assert best >= _weibull_loglik(other, time, event) - 1e-9
    if event.sum() >= 10:
        assert k == pytest.approx(scipy_k, rel=1e-4)
        assert k == pytest.approx(lifelines_k, rel=1e-4)


def test_pooled_shape_without_a_maximum_inside_the_bracket():
    from pclbayes.survival.design import pooled_shape

    assert pooled_shape(np.array([3.0, 5.0, 7.0]), np.array([0, 1, 0])) == 1.0  # one event
    assert pooled_shape(np.array([3.0, -1.0, 7.0]), np.array([1, 1, 1])) == 1.0
    # every event at the longest time: the likelihood rises without bound in the shape
    assert pooled_shape(np.array([2.0, 4.0, 9.0, 9.0]), np.array([0, 0, 1, 1])) == 1e3
    # two events a hair apart: the maximum (about 2400) lies beyond the bracket's end
    assert pooled_shape(np.array([9.99, 10.0]), np.array([1, 1])) == 1e3
    time, event = _weibull_sample(8, 200, 300.0, None)  # nearly identical times
    k = pooled_shape(time, event)
    assert 100 < k < 1e3
    assert _weibull_loglik(k, time, event) >= _weibull_loglik(k * 1.01, time, event)
