"""The time unit of survival data: declared, given (--time-unit) or months by default.

Used by the data layer's plausibility warning, ``validate``, the survival model (priors,
horizons, JSON) and the report's labels. The numbers are checked against the unit
conversion itself (a month is 30.4375 days, 50 years 600 months).
"""

import argparse

import numpy as np
import pandas as pd
import pytest

from pclbayes.cli import data_cmd, fit_cmd
from pclbayes.data import load
from pclbayes.errors import DataValidationError, SpecError
from pclbayes.report import labels, sections
from pclbayes.sampling import SamplerSettings
from pclbayes.survival import SurvivalModel
from pclbayes.survival.defaults import default_priors, prior_in_unit

DAYS_PER_MONTH = 30.4375


def _csv(path, rows, header="time,event"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def _warned(eb, text):
    return [str(w) for w in eb.warnings if text in str(w)]


# ------------------------------------------------------------------ data layer
def test_plausibility_warning_follows_the_unit(tmp_path):
    # 700 months is beyond 50 years; 700 days (1.9 years) is not
    f = _csv(tmp_path / "te.csv", [(3, 1), (5, 0), (700, 1)])
    months = load(f)
    assert months.time_unit == "months" and months.time_unit_source == "default"
    assert _warned(months, "700 months is implausible")
    assert not load(f, time_unit="days").warnings
    # 50 years = 600 months = 18262.5 days: 18000 days passes, 18300 days is flagged
    g = _csv(tmp_path / "days.csv", [(18000, 1), (18300, 0)])
    warned = load(g, time_unit="days").warnings
    assert len(warned) == 1 and "18300 days is implausible" in str(warned[0])
    assert "times are in days" in str(warned[0])
    # 2700 weeks = 51.8 years is flagged in weeks, 2600 weeks = 49.9 years is not
    h = _csv(tmp_path / "weeks.csv", [(2600, 1), (2700, 0)])
    assert [str(w) for w in load(h, time_unit="weeks").warnings] == [
        w for w in map(str, load(h, time_unit="weeks").warnings) if "2700 weeks" in w]
    assert len(load(h, time_unit="weeks").warnings) == 1


def test_declared_unit_is_the_default_and_must_agree(tmp_path):
    f = _csv(tmp_path / "w.csv", [(10, 1, "weeks"), (20, 0, "weeks")],
             header="time,event,time_unit")
    eb = load(f)
    assert (eb.time_unit, eb.time_unit_source) == ("weeks", "data")
    assert "time_unit column" in eb.time_unit_note
    assert load(f, time_unit="weeks").time_unit_source == "option"
    with pytest.raises(DataValidationError, match="declare times in weeks"):
        load(f, time_unit="days")
    mixed = _csv(tmp_path / "m.csv", [(10, 1, "weeks"), (20, 0, "days")],
                 header="time,event,time_unit")
    with pytest.raises(DataValidationError, match="one time unit for every row"):
        load(mixed)
    with pytest.raises(DataValidationError, match="unknown time unit"):
        load(f, time_unit="fortnights")


def test_bundled_data_are_months_by_their_column_names():
    eb = load()
    assert (eb.time_unit, eb.time_unit_source) == ("months", "columns")
    assert "named in months" in eb.time_unit_note


# ------------------------------------------------------------------ validate
def _validate(argv, capsys):
    p = argparse.ArgumentParser(prog="pclbayes")
    sub = p.add_subparsers(dest="command", required=True)
    data_cmd.register(sub)
    args = p.parse_args(["validate", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_validate_counts_events_of_a_time_event_file(tmp_path, capsys):
    # 40 patients, 30 events (the count validate must print), 10 censored
    rows = [(i + 1, 1 if i < 30 else 0) for i in range(40)]
    out = _validate(["--data", str(_csv(tmp_path / "mine.csv", rows))], capsys)
    total = next(line for line in out.splitlines() if line.strip().startswith("TOTAL"))
    header = next(line for line in out.splitlines() if line.split()[:2] == ["cohort",
                                                             "patients"])
    cells = dict(zip(header.split(), total.split(), strict=True))
    assert cells["patients"] == "40" and cells["events"] == "30" and cells["censored"] == "10"
    # nothing the file does not have: no PFS, OS, response or target columns
    for absent in ("pfs_events", "os_deaths", "orr_responders", "target", "reinfusions"):
        assert absent not in header
    assert "time unit: months (the default" in out


def test_validate_time_unit_option(tmp_path, capsys):
    f = _csv(tmp_path / "d.csv", [(300, 1), (700, 0)])
    out = _validate(["--data", str(f), "--time-unit", "days"], capsys)
    assert "time unit: days (as given" in out and "implausible" not in out
    out = _validate(["--data", str(f)], capsys)
    assert "700 months is implausible" in out


# ------------------------------------------------------------------ survival model
def test_log_median_prior_moves_by_the_log_of_the_unit():
    prior = default_priors("pfs")["log_median"]
    days = prior_in_unit("log_median", prior, "days")
    assert days.params["mu"] == pytest.approx(prior.params["mu"] + np.log(DAYS_PER_MONTH))
    assert days.params["sigma"] == prior.params["sigma"]
    # the prior median of the median time: exp(1.8) months = exp(1.8) * 30.4375 days
    assert np.exp(days.params["mu"]) == pytest.approx(np.exp(1.8) * DAYS_PER_MONTH)
    assert prior_in_unit("shape", default_priors()["shape"], "days") == default_priors()["shape"]
    years = prior_in_unit("log_median", prior, "years")
    assert np.exp(years.params["mu"]) == pytest.approx(np.exp(1.8) / 12)


def test_resolved_spec_states_unit_and_horizons():
    spec = SurvivalModel(time_unit="weeks").resolved_spec()
    assert spec["time_unit"] == "weeks" and spec["horizons"] == [26.0, 52.0]
    assert SurvivalModel().resolved_spec()["horizons"] == [6.0, 12.0]
    assert SurvivalModel().resolved_spec()["time_unit"] == "months"
    assert spec["priors"]["log_median"]["mu"] == pytest.approx(1.8 + np.log(DAYS_PER_MONTH / 7))
    with pytest.raises(SpecError, match="time_unit must be one of"):
        SurvivalModel(time_unit="hours").resolved_spec()


_QUICK = SamplerSettings(draws=500, tune=500, chains=2, target_accept=0.95)


def _frame(scale: float) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    t = rng.weibull(1.3, 24) * 8.0
    cens = rng.uniform(4, 20, 24)
    return pd.DataFrame({"time": np.minimum(t, cens) * scale, "event": (t <= cens).astype(int)})


@pytest.fixture(scope="module")
def weeks():
    return SurvivalModel(sampler=_QUICK, frailty="none", time_unit="weeks").fit(
        _frame(DAYS_PER_MONTH / 7), seed=3)


@pytest.mark.heavy
def test_fit_in_weeks_reports_weeks(weeks):
    out = weeks.to_dict()
    assert out["time_unit"] == "weeks" and "as given" in out["time_unit_source"]
    assert set(out["groups"]["all"]["survival_at"]) == {"26", "52"}
    assert "Median PFS (weeks)" in str(weeks)
    assert "Times are in weeks" in weeks.describe()
    assert "log_median stated in months and shifted to weeks" in weeks.prior_summary()


@pytest.mark.heavy
@pytest.mark.slow
def test_fit_in_weeks_is_the_fit_in_months_rescaled(weeks):
    months = SurvivalModel(sampler=_QUICK, frailty="none").fit(_frame(1.0), seed=3)
    c = DAYS_PER_MONTH / 7
    sm = months.summary().set_index(["quantity", "level", "source"])
    sw = weeks.summary().set_index(["quantity", "level", "source"])
    key = ("median_time", "all", "posterior")
    # same model in another unit: the posterior median time scales by c (Monte-Carlo error:
    # two independent chains of 1,000 draws, a few percent of the posterior SD)
    tol = 4 * sm.loc[key, "mcse_mean"] * c + 0.05 * sm.loc[key, "sd"] * c
    assert sw.loc[key, "mean"] == pytest.approx(sm.loc[key, "mean"] * c, abs=tol)
    # the shape does not depend on the unit
    shape = ("shape", "all", "posterior")
    assert sw.loc[shape, "mean"] == pytest.approx(sm.loc[shape, "mean"],
                                                  abs=0.1 * sm.loc[shape, "sd"] + 0.02)
    # the prior median of the median time moves by exactly c
    p = ("median_time", "all", "prior")
    assert sw.loc[p, "median"] == pytest.approx(sm.loc[p, "median"] * c, rel=0.15)


@pytest.mark.slow
def test_declared_unit_reaches_the_fit():
    frame = _frame(DAYS_PER_MONTH).assign(time_unit="days")
    m = SurvivalModel(sampler=_QUICK, frailty="none", horizons=[30.0]).fit(frame, seed=3)
    assert m.time_unit_ == "days" and m.to_dict()["time_unit"] == "days"
    assert m.resolved_spec(3)["time_unit"] == "months"  # unfitted view: no data yet
    assert "time_unit column" in m.time_unit_source
    with pytest.raises(SpecError, match="contradicts the data"):
        SurvivalModel(sampler=_QUICK, time_unit="weeks").fit(frame, seed=3)


@pytest.mark.slow
def test_cli_fit_survival_time_unit(tmp_path, capsys):
    import json

    f = _csv(tmp_path / "d.csv", [(int(t) + 1, e) for t, e in
                                  zip(_frame(DAYS_PER_MONTH)["time"], _frame(1)["event"],
                                      strict=True)])
    p = argparse.ArgumentParser(prog="pclbayes")
    sub = p.add_subparsers(dest="command", required=True)
    fit_cmd.register(sub)
    args = p.parse_args(["fit", "survival", "--data", str(f), "--time-unit", "days",
                         "--seed", "2", "--json", "--draws", "300", "--chains", "2"]) \
        if _has_draws(p) else p.parse_args(["fit", "survival", "--data", str(f),
                                            "--time-unit", "days", "--seed", "2", "--json"])
    assert args.func(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["time_unit"] == "days" and set(res["groups"]["all"]["survival_at"]) == {
        "180", "365"}


def _has_draws(p) -> bool:
    try:
        p.parse_args(["fit", "survival", "--draws", "10"])
    except SystemExit:
        return False
    return True


# ------------------------------------------------------------------ report labels
@pytest.mark.heavy
def test_report_labels_use_the_unit(weeks):
    assert labels.quantity("survival_at_26_new_cohort", "pfs", "weeks") == \
        "progression-free at 26 weeks, new cohort"
    assert labels.months(float("inf"), time_unit="weeks") == "not reached"
    assert labels.months(3.25, time_unit="days") == "3.2 days"
    km = sections._km_table(weeks.km_table(), labels.time_unit(weeks))
    assert "median (weeks)" in km.columns and "95% CI (weeks)" in km.columns
    text = sections._survival_text(weeks, weeks.summary(), "pfs")
    assert "weeks" in text and "months" not in text
    assert "at 26 weeks" in text and "at 52 weeks" in text


def test_censored_check_axes_in_the_unit():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1)
    axes.plot([0, 1], [1, 0])
    sections._label_censored_axes(fig, "pfs", "weeks")
    plt.close(fig)
    assert axes.get_xlabel() == "weeks since infusion"


def test_fit_survival_groups_by_none_by_default():
    p = argparse.ArgumentParser(prog="pclbayes")
    sub = p.add_subparsers(dest="command", required=True)
    fit_cmd.register(sub)
    args = p.parse_args(["fit", "survival", "--data", "my_patients.csv", "--endpoint", "pfs"])
    assert args.by == "none" and args.time_unit is None
