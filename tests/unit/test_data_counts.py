"""The bundled evidence base against counts read by hand from the source documents.

Every expected number below was read from the documents in ``shared/seeds`` (Hu et al.
2026 Haematologica Table S1, Table 2 and text; Li et al. 2021 Clin Transl Med abstract and
discussion; the CT0596 press-release article), not from pclbayes output.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pclbayes.data import cohort_summary, load, response_counts, survival_table


@pytest.fixture(scope="module")
def eb():
    return load()


def test_patients_per_cohort(eb):
    assert eb.patients.groupby("cohort").size().to_dict() == {"carsgen": 2, "tongji": 2,
                                                              "xuzhou": 11}


def test_xuzhou_text_counts(eb):
    x = eb.patients.query("cohort == 'xuzhou'")
    # "Four had primary PCL, 7, secondary PCL and 7 were men."
    assert (x.pcl_type == "primary").sum() == 4 and (x.sex == "M").sum() == 7
    # "sCR (N = 3), CR (N = 4), VGPR (N = 1) and PR (N = 3)"
    assert x.best_response.value_counts().to_dict() == {"sCR": 3, "CR": 4, "PR": 3, "VGPR": 1}
    # "All subjects responded"; "7 individuals achieving a CR"
    assert x.orr.sum() == 11 and x.cr_or_better.sum() == 7
    # CRS: "8 (73%) grade 1 and 3 (27%) grade 2"; "One subjects had grade-2 ICANS"
    assert x.crs_grade.value_counts().to_dict() == {1: 8, 2: 3}
    assert (x.icans_grade == 2).sum() == 1
    # "Four subjects had soft tissue involvement"
    assert x.soft_tissue.sum() == 4
    # "7 patients experienced recurrence"; "Seven subjects died"
    assert x.progression.sum() == 7 and x.os_event.sum() == 7


def test_counts_by_target(eb):
    got = response_counts(eb, "cr", by="target").set_index(["cohort", "group"])
    # Table S1: BCMA patients 1,3,5,6,7,9 (CR+: 1,6,7,9); GPRC5D 2,4,8,10,11 (CR+: 4,8,11)
    assert got.loc[("xuzhou", "BCMA"), ["n", "responders"]].tolist() == [6, 4]
    assert got.loc[("xuzhou", "GPRC5D"), ["n", "responders"]].tolist() == [5, 3]
    # Tongji: one CR, one VGPR; CT0596: both sCR
    assert got.loc[("tongji", "BCMA"), ["n", "responders"]].tolist() == [2, 1]
    assert got.loc[("carsgen", "BCMA"), ["n", "responders"]].tolist() == [2, 2]
    orr = response_counts(eb, "orr", by="none")
    assert orr.n.sum() == 15 and orr.responders.sum() == 15


def test_reinfusion_episodes(eb):
    # "Five of 7 subjects who progressed received a 2nd CAR T-cell infusion all of whom
    # achieved a >= partial response"; Table S1 patients 2, 4, 5, 8, 9
    sw = eb.episodes.query("strategy == 'switch'")
    assert sorted(sw.patient_id.astype(int)) == [2, 4, 5, 8, 9]
    assert sw.orr.sum() == 5 and sw.cr_or_better.sum() == 2
    assert sw.set_index("patient_id").target.to_dict() == {
        "2": "BCMA", "4": "BCMA", "5": "GPRC5D", "8": "BCMA", "9": "GPRC5D"}
    by_strategy = response_counts(eb, "orr", by="strategy").set_index(["cohort", "group"])
    assert by_strategy.loc[("xuzhou", "switch"), "n"] == 5
    # "of whom, 3 patients survived over 600 days"
    first = eb.patients.set_index("patient_id").loc[["2", "4", "5", "8", "9"]]
    assert (first.os_months * 30.4375 > 600).sum() == 3


def test_pfs_events_and_censoring(eb):
    s = survival_table(eb, "pfs").query("strategy == 'first'")
    ev = s.groupby("cohort").event.agg(["sum", "size"])
    # Xuzhou: 7 progressions + deaths without progression of patients 1 and 6 (PFS
    # definition: progression or death) = 9 events, 2 censored (patients 3 and 11)
    assert ev.loc["xuzhou"].tolist() == [9, 11]
    assert sorted(s.query("cohort == 'xuzhou' and event == 0").patient_id) == ["11", "3"]
    # Tongji: PFS 307 and 117 days; CT0596: censored at weeks 8 and 12
    t = s.query("cohort == 'tongji'").sort_values("time")
    assert t.time.round(3).tolist() == [round(117 / 30.4375, 3), round(307 / 30.4375, 3)]
    c = s.query("cohort == 'carsgen'").sort_values("time")
    assert c.event.tolist() == [0, 0]
    assert c.time.round(3).tolist() == [round(56 / 30.4375, 3), round(84 / 30.4375, 3)]


def test_os_excludes_and_lists_missing(eb):
    s = survival_table(eb, "os")
    assert set(s.attrs["excluded"].patient_id) == {"pcl-a", "pcl-b"}
    assert s.attrs["cohorts_without_data"] == ["tongji"]
    # Hu et al.: 7 deaths among 11 patients (first-infusion episodes)
    assert s.query("cohort == 'xuzhou' and strategy == 'first'").event.sum() == 7


def test_os_after_reinfusion_is_derived(eb):
    sw = eb.episodes.query("strategy == 'switch'").set_index("patient_id")
    # Table S1: survival 23+ and 22+ months, re-infused at 11 and 10 months
    assert sw.loc["4", "os_months"] == pytest.approx(12.0)
    assert sw.loc["8", "os_months"] == pytest.approx(12.0)


def test_summary_totals(eb):
    s = cohort_summary(eb)
    assert s.patients.sum() == 15 and s.cr_or_better.sum() == 10 and s.reinfusions.sum() == 5


def test_every_value_has_provenance(eb):
    prov = eb.provenance
    keyed = set(zip(prov.table, prov.cohort, prov.patient_id, prov.column, strict=True))
    for table, df in (("patients", eb.patients), ("reinfusions", eb.reinfusions)):
        for _, row in df.iterrows():
            for col, value in row.items():
                if col in ("cohort", "patient_id", "episode") or pd.isna(value):
                    continue
                assert (table, row.cohort, row.patient_id, col) in keyed, (table, row.cohort,
                                                                           row.patient_id, col)


def test_codata_kept_apart(eb):
    assert (eb.aggregates.is_pcl == 0).all()
    default = response_counts(eb, "orr")
    assert (default.source == "patients").all()
    with_codata = response_counts(eb, "orr", include_codata=True)
    assert with_codata.query("source == 'aggregate'").n.tolist() == [30, 28, 14]


def test_source_issue_registry(eb):
    issues = eb.source_issues
    assert issues.issue_id.is_unique and len(issues) >= 10
    assert {"xuzhou", "tongji", "carsgen"} <= set(issues.cohort)


def test_readme_lists_every_source_issue(eb):
    from pclbayes._paths import BUNDLED_DATA

    text = (BUNDLED_DATA / "README.md").read_text()
    for issue_id in eb.source_issues.issue_id:
        assert f"| {issue_id} |" in text


def _normalise(text: str) -> str:
    return " ".join(text.split())


def test_provenance_quotes_are_verbatim(eb):
    """Every quote (or each '; '-separated part of a combined quote) is in its document."""
    from pclbayes._paths import PROJECT_ROOT

    seeds = PROJECT_ROOT.parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("source documents (../shared/seeds) not available")
    docs = eb.records["documents.csv"].set_index("document_id")["file"]
    texts = {d: _normalise((seeds / f).read_text(encoding="utf-8")) for d, f in docs.items()}
    missing = []
    for row in eb.provenance.itertuples():
        for part in str(row.quote).split("; "):
            if _normalise(part) not in texts[row.document_id]:
                missing.append((row.cohort, row.patient_id, row.column, part))
    assert not missing, missing[:5]



def test_episode_columns_are_the_columns_of_the_episode_table(tmp_path):
    """With and without re-infusions (a copy of the bundled data without them)."""
    import shutil

    from pclbayes._paths import BUNDLED_DATA
    from pclbayes.data import load
    from pclbayes.data.views import episode_columns, episodes

    eb = load()
    assert not eb.reinfusions.empty
    assert episode_columns(eb) == list(episodes(eb).columns)
    folder = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA, folder)
    (folder / "reinfusions.csv").unlink()
    plain = load(folder)
    assert plain.reinfusions.empty
    assert episode_columns(plain) == list(episodes(plain).columns)
