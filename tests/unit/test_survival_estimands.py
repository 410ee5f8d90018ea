"""Survival estimands: which episodes, which events and which follow-up each analysis uses.

Every number is checked against a hand count or a hand-computed Kaplan-Meier estimate of
the bundled data (``data/patients.csv``, ``data/reinfusions.csv``; registry entries X03,
X04, X10, T03 and C01 of ``data/source_issues.csv``). Xuzhou's first-infusion PFS, months
(``+`` censored): patient 1 11, 2 2.5, 3 14+, 4 10, 5 3.5, 6 4, 7 10, 8 6, 9 12, 10 3,
11 3+; patients 1 and 6 died without progression; patient 1 had an allo-HSCT at 4 months.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pclbayes import load_fit
from pclbayes.data import load, survival_table
from pclbayes.errors import ConvergenceWarning, DataValidationError, SpecError
from pclbayes.model import model_from_spec
from pclbayes.sampling import SamplerSettings
from pclbayes.specs import apply_variant, load_spec, parse_spec
from pclbayes.survival import SurvivalModel
from pclbayes.survival.data import (
    Estimand,
    apply_estimand,
    later_reinfusion_note,
    prepare_data,
)
from pclbayes.survival.km import km_median
from pclbayes.survival.reinfusion import (
    paired_pfs_table,
    pfs_after_reinfusion,
    reinfusion_summary,
    relapse_table,
)
from pclbayes.survival.spec import OPTION_KEYS

SMALL = SamplerSettings(draws=400, tune=400, chains=2)
SPECS = "models"
short_chains = pytest.mark.filterwarnings(f"ignore::{ConvergenceWarning.__module__}."
                                          f"{ConvergenceWarning.__name__}")


@pytest.fixture(scope="module")
def eb():
    return load()


def _recoded(endpoint: str = "pfs", **options) -> pd.DataFrame:
    sdata = prepare_data(None, endpoint)
    return apply_estimand(sdata, Estimand.from_options(endpoint, **options)).table


def _first(table: pd.DataFrame, cohort: str | None = "xuzhou") -> pd.DataFrame:
    keep = table["strategy"] == "first"
    if cohort is not None:
        keep &= table["cohort"] == cohort
    return table[keep].set_index("patient_id")


def _spec_model(name: str, variant: str | None = None) -> SurvivalModel:
    spec = load_spec(f"{SPECS}/{name}.toml")
    if variant is not None:
        spec = apply_variant(spec, next(v for v in spec.sensitivity if v.name == variant))
    return model_from_spec(dataclasses.replace(spec, sampler=SMALL))


# ---------------------------------------------------------------- 1. target contrast
def test_pfs_target_spec_uses_first_infusions_with_reinfusions_as_a_variant():
    model = _spec_model("survival_pfs_by_target")
    assert model.get_params()["episodes"] == "first"
    with_re = _spec_model("survival_pfs_by_target", "with-reinfusions")
    assert with_re.get_params()["episodes"] == "all"
    assert "first infusions" in load_spec(f"{SPECS}/survival_pfs_by_target.toml").title


@short_chains
def test_pfs_target_fit_has_no_reinfusion_episode(eb):
    """First infusions only: 15 episodes, 11 PFS events (Xuzhou 9, Tongji 2, CARsgen 0),
    and no 'switch vs first' coefficient in the target contrast."""
    m = _spec_model("survival_pfs_by_target").fit(eb, seed=3)
    d = m.design_
    assert len(d.log_t) == 15 and int(d.event.sum()) == 11
    assert set(d.episodes["strategy"]) == {"first"}
    assert "switch vs first" not in d.contrast_labels
    assert "GPRC5D vs BCMA" in d.contrast_labels
    assert any("first infusions only: 5 re-infusion episode(s) not used" in n for n in d.notes)


def test_pooling_reinfusions_is_stated():
    m = SurvivalModel(endpoint="pfs", by="strategy", episodes="all")
    sdata = prepare_data(None, "pfs")
    notes = m._design(sdata).notes
    assert any("5 target-switched re-infusion episode(s) pooled" in n for n in notes)


# ---------------------------------------------------------------- 2. re-infusion
def test_relapse_table_lists_reinfused_and_not_reinfused(eb):
    """Xuzhou progressions (progression = 1): 2, 4, 5, 7, 8, 9, 10; re-infused 2, 4, 5, 8,
    9 (Table 2 footnote, X08). Not re-infused: 7 (PFS 10, died at 10.5) and 10 (PFS 3,
    died at 6): 0.5 and 3 months after progression."""
    rel = relapse_table(eb).set_index("patient_id")
    assert list(rel.index) == ["2", "4", "5", "7", "8", "9", "10"]
    assert list(rel.index[rel["reinfused"]]) == ["2", "4", "5", "8", "9"]
    no = rel[~rel["reinfused"]]
    assert no["os_event"].tolist() == [1, 1]
    np.testing.assert_allclose(no["months_after_progression"], [10.5 - 10, 6 - 3])
    # re-infusion 2.6, 11, 5, 10, 14 months after the first infusion, PFS1 2.5, 10, 3.5, 6, 12
    np.testing.assert_allclose(rel.loc[rel["reinfused"], "months_to_reinfusion"],
                               [0.1, 1.0, 1.5, 4.0, 2.0], atol=1e-9)
    assert rel.loc["4", "outcome"] == "alive at last follow-up, 13 months after progression"


def test_pfs_after_reinfusion_from_the_second_infusion(eb):
    """PFS from the re-infusion: 2, 12+, 3, 12+, 5.5. Kaplan-Meier by hand: S(2) = 4/5,
    S(3) = 3/5, S(5.5) = 2/5 <= 0.5, so the median is 5.5 months."""
    km = pfs_after_reinfusion(eb).iloc[0]
    assert (km["n"], km["events"], km["censored"]) == (5, 3, 2)
    assert km["median"] == 5.5
    assert km["time_origin"].startswith("second")


def test_paired_pfs_ratios(eb):
    paired = paired_pfs_table(eb).set_index("patient_id")
    np.testing.assert_allclose(paired["pfs2_pfs1_ratio"],
                               [2 / 2.5, 12 / 10, 3 / 3.5, 12 / 6, 5.5 / 12])
    assert paired["ratio_bound"].tolist() == ["exact", "at least", "exact", "at least",
                                              "exact"]
    assert paired.loc["2", "first_target"] == "GPRC5D"
    assert paired.loc["2", "reinfusion_target"] == "BCMA"


def test_reinfusion_summary_states_the_selection_and_no_effect(eb):
    s = reinfusion_summary(eb)
    assert {len(s.relapses), len(s.pfs_after_reinfusion), len(s.paired)} == {7, 1, 5}
    assert "Of the 7 patients there whose disease progressed" in s.text
    assert "5 received a target-switched re-infusion" in s.text
    assert "2 were not (patients 7 and 10), and both died within 3 months" in s.text
    assert "not an effect of switching" in s.text
    assert "Kaplan-Meier median 5.5 months" in s.text
    for word in ("hazard ratio", "effect of re-infusion", "benefit"):
        assert word not in s.text


def test_reinfusion_summary_without_reinfusions(data_copy):
    (data_copy / "reinfusions.csv").unlink()
    s = reinfusion_summary(data_copy)
    assert s.paired.empty and s.relapses.empty and s.pfs_after_reinfusion.empty
    assert s.text == "No target-switched re-infusion is recorded in the data."


def test_strategy_spec_says_descriptive_and_confounded():
    spec = load_spec(f"{SPECS}/survival_pfs_by_strategy.toml")
    assert "descriptive" in spec.title and "confounded" in spec.title


# ---------------------------------------------------------------- 3. OS and re-infusion
def test_os_spec_declares_treatment_policy_and_hypothetical_variant():
    spec = load_spec(f"{SPECS}/survival_os.toml")
    assert "treatment policy" in spec.title
    model = _spec_model("survival_os")
    assert model.get_params()["episodes"] == "first"
    assert model.get_params()["censor_at"] == []
    hyp = _spec_model("survival_os", "reinfusion-censored")
    assert hyp.get_params()["censor_at"] == ["reinfusion"]


def test_os_treatment_policy_note_names_the_reinfused():
    note = later_reinfusion_note(prepare_data(None, "os").table, "os")
    assert "5 episode(s)" in note and "xuzhou/2, xuzhou/4, xuzhou/5, xuzhou/8, xuzhou/9" in note


def test_os_censored_at_reinfusion():
    """Hypothetical OS: re-infusion at 2.6, 11, 5, 10, 14 months (patients 2, 4, 5, 8, 9);
    deaths of 2 (5.5), 5 (10) and 9 (21.5) become censored. GPRC5D first infusions (2, 4,
    8, 10, 11): one death left (patient 10, 6 months)."""
    before, after = _first(_recoded("os")), _first(_recoded("os", censor_at="reinfusion"))
    for pid, at in {"2": 2.6, "4": 11, "5": 5, "8": 10, "9": 14}.items():
        assert after.loc[pid, "time"] == pytest.approx(at) and after.loc[pid, "event"] == 0
    untouched = ["1", "3", "6", "7", "10", "11"]
    pd.testing.assert_frame_equal(after.loc[untouched, ["time", "event"]],
                                  before.loc[untouched, ["time", "event"]])
    assert int(before["event"].sum()) - int(after["event"].sum()) == 3
    assert int(after.loc[after["target"] == "GPRC5D", "event"].sum()) == 1
    # the re-infusion episodes start at the re-infusion: not censored
    switch = _recoded("os", censor_at="reinfusion").query("strategy == 'switch'")
    assert switch["event"].tolist() == [1, 0, 1, 0, 1]


# ---------------------------------------------------------------- 4. sensitivity options
def test_progression_only_coding_counts_progressions():
    """X03: patients 1, 3, 6 and 11 did not progress, so 7 Xuzhou progressions; the deaths
    of 1 (11 months) and 6 (4 months) are censored at the death. Tongji's progression is
    not reported (T03): its 2 events are kept, and the note says so."""
    sdata = prepare_data(None, "pfs")
    out = apply_estimand(sdata, Estimand.from_options("pfs", pfs_coding="progression"))
    x = _first(out.table)
    assert int(x["event"].sum()) == 7
    assert (x.loc["1", "time"], x.loc["1", "event"]) == (11, 0)
    assert (x.loc["6", "time"], x.loc["6", "event"]) == (4, 0)
    assert _first(out.table, "tongji")["event"].tolist() == [1, 1]
    assert any("kept as events (tongji/pcl-a, tongji/pcl-b)" in n for n in out.notes)
    # X12: progression-only Kaplan-Meier median 10 months, 95% CI 3.0 to not reached
    km = km_median(x["time"].to_numpy(), x["event"].to_numpy())
    assert (km["median"], km["lower"], km["upper"]) == (10.0, 3.0, np.inf)


def test_progression_only_option_equals_a_progression_coded_file(data_copy):
    """Recoding the file by hand (pfs_event = progression where known) gives the same
    episodes as the option on the bundled data."""
    path = data_copy / "patients.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    known = df["progression"] != ""
    df.loc[known, "pfs_event"] = df.loc[known, "progression"]
    df.to_csv(path, index=False)
    by_hand = survival_table(load(data_copy), "pfs")
    option = _recoded(pfs_coding="progression")
    np.testing.assert_array_equal(by_hand["event"].to_numpy(), option["event"].to_numpy())
    np.testing.assert_array_equal(by_hand["time"].to_numpy(), option["time"].to_numpy())


def test_censoring_at_hsct_moves_the_km_median_from_10_to_6_months():
    """X04: patient 1 (allo-HSCT at 4 months, PFS event at 11) is censored at 4. Kaplan-
    Meier by hand, 11 at risk: 2.5 event S = 10/11; 3 event S = 9/11, then 3+ leaves;
    3.5 event S = 9/11 * 7/8; at 4 the death of patient 6 (7 at risk; the censoring at
    4 counts after it) S = 0.614; 6 event (5 at risk) S = 0.614 * 4/5 = 0.491 <= 0.5."""
    x = _first(_recoded(censor_at="subsequent_therapy"))
    assert (x.loc["1", "time"], x.loc["1", "event"]) == (4, 0)
    default = _first(_recoded())
    changed = (x[["time", "event"]] != default[["time", "event"]]).any(axis=1)
    assert list(x.index[changed]) == ["1"]  # the switches follow progression: no change
    s6 = 10 / 11 * 9 / 10 * 7 / 8 * 6 / 7 * 4 / 5
    assert s6 == pytest.approx(0.4909, abs=1e-4)
    assert km_median(x["time"], x["event"])["median"] == 6.0
    assert km_median(default["time"], default["event"])["median"] == 10.0


def test_tongji_events_censored():
    out = _recoded(censor_cohort_events=["tongji"])
    t = _first(out, "tongji")
    assert t["event"].tolist() == [0, 0]
    np.testing.assert_allclose(t["time"], [307 / 30.4375, 117 / 30.4375], atol=1e-4)
    assert int(_first(out, None)["event"].sum()) == 11 - 2


def test_exclude_cohorts():
    out = _recoded(exclude_cohorts="carsgen")
    assert "carsgen" not in set(out["cohort"]) and len(_first(out, None)) == 13
    with pytest.raises(SpecError, match="no cohort 'nowhere' in the data"):
        _recoded(exclude_cohorts=["nowhere"])
    with pytest.raises(SpecError, match="leaves no cohort"):
        _recoded(exclude_cohorts=["carsgen", "tongji", "xuzhou"])


def test_options_are_spec_keys_and_recorded_canonically():
    for key in ("pfs_coding", "censor_at", "censor_cohort_events", "exclude_cohorts"):
        assert key in OPTION_KEYS
    a = SurvivalModel(censor_at="subsequent_therapy", exclude_cohorts=["tongji", "carsgen"])
    b = SurvivalModel(censor_at=["subsequent_therapy"], exclude_cohorts=["carsgen", "tongji"])
    assert a.resolved_spec(1) == b.resolved_spec(1)
    assert a.get_params()["exclude_cohorts"] == ["carsgen", "tongji"]
    assert a.resolved_spec(1) != SurvivalModel(censor_at="subsequent_therapy").resolved_spec(1)
    assert SurvivalModel.from_resolved(a.resolved_spec(1)).resolved_spec(1) == a.resolved_spec(1)


@pytest.mark.parametrize("options, match", [
    ({"pfs_coding": "death"}, "pfs_coding must be one of"),
    ({"censor_at": "transplant"}, "censor_at: unknown event"),
    ({"exclude_cohorts": 3}, "exclude_cohorts must be a name or a list of names"),
    ({"endpoint": "os", "pfs_coding": "progression"}, "applies to the PFS endpoint only"),
])
def test_invalid_options_fail_when_the_spec_is_read(options, match):
    raw = {"model": {"family": "survival", "name": "s"},
           "sensitivity": {"bad": {"reason": "an invalid option value", "options": options}}}
    with pytest.raises(SpecError, match=match):
        parse_spec(raw)


def test_declared_pfs_variants():
    spec = load_spec(f"{SPECS}/survival_pfs_by_target.toml")
    options = {v.name: v.options for v in spec.sensitivity if v.options}
    assert options == {
        "with-reinfusions": {"episodes": "all"},
        "progression-only": {"pfs_coding": "progression"},
        "censor-at-hsct": {"censor_at": "subsequent_therapy"},
        "tongji-censored": {"censor_cohort_events": ["tongji"]},
        "without-carsgen": {"exclude_cohorts": ["carsgen"]},
        "without-tongji": {"exclude_cohorts": ["tongji"]},
    }


@short_chains
def test_recoded_table_is_recorded_and_restored_by_load_fit(eb, tmp_path):
    """The fit and the saved file know the options; load_fit rebuilds the recoded episodes
    (not the raw ones) without recoding them twice."""
    m = SurvivalModel(endpoint="pfs", by="target", episodes="first", pfs_coding="progression",
                      censor_at="subsequent_therapy", sampler=SMALL).fit(eb, seed=5)
    # 11 first-infusion events - deaths of 1 and 6 (progression-only; 1 is also the HSCT)
    assert int(m.design_.event.sum()) == 9
    assert any("progression-only PFS" in n for n in m.design_.notes)
    back = load_fit(m.save(tmp_path / "fit.nc"))
    assert back.resolved_spec(5) == m.resolved_spec(5)
    assert back.get_params()["pfs_coding"] == "progression"
    np.testing.assert_array_equal(back.design_.event, m.design_.event)
    np.testing.assert_array_equal(back.design_.log_t, m.design_.log_t)
    assert back.design_.notes == m.design_.notes


# ---------------------------------------------------------------- progression-only files
def _progression_coded(data_copy, *, keep_progression: bool = True):
    """The bundled patients with ``pfs_event`` replaced by ``progression`` where known."""
    path = data_copy / "patients.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    known = df["progression"] != ""
    df.loc[known, "pfs_event"] = df.loc[known, "progression"]
    if not keep_progression:
        df = df.drop(columns="progression")
    df.to_csv(path, index=False)
    return data_copy


def test_progression_only_coded_file_is_accepted(data_copy):
    """Patients 1 and 6 died without progression (X03): with progression = 0 stated, a PFS
    censored at the death is the progression-only coding, not a forgotten death."""
    eb = load(_progression_coded(data_copy))
    first = eb.patients[eb.patients["cohort"] == "xuzhou"]
    assert int(first["pfs_event"].sum()) == 7  # patients 2, 4, 5, 7, 8, 9, 10 progressed


def test_death_censored_without_progression_column_is_still_refused(data_copy):
    with pytest.raises(DataValidationError, match="death at the PFS time must be a PFS event"):
        load(_progression_coded(data_copy, keep_progression=False))
