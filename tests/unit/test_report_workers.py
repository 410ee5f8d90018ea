"""The report's worker processes: figures drawn there are the figures the report draws
itself, byte for byte (PNG and SVG, which carry no date and no random ids); batches are
handed out longest first and large groups are split."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from pclbayes import fitcache
from pclbayes._paths import BUNDLED_MODELS
from pclbayes.data import load
from pclbayes.model import load_fit
from pclbayes.report import build_report, builder, stored
from pclbayes.specs import list_specs

SPECS = ("response_orr_by_target.toml", "response_cr_by_strategy.toml")


def exact_models(folder: Path, names: tuple[str, ...] = SPECS) -> Path:
    """Bundled response specifications with the exact engine (no compilation)."""
    folder.mkdir(parents=True)
    for name in names:
        text = (BUNDLED_MODELS / name).read_text().replace('method = "mcmc"',
                                                          'method = "exact"')
        assert 'method = "exact"' in text
        (folder / name).write_text(text)
    return folder


def figures(out: Path) -> dict[str, bytes]:
    """Every figure file of a report (PNG and SVG), by name."""
    return {path.name: path.read_bytes() for path in sorted((out / "figures").iterdir())}


@pytest.mark.heavy
def test_figures_drawn_in_workers_are_the_figures_drawn_in_the_report(tmp_path):
    """One specification and its three prior variants: four fits, so two workers run."""
    models = exact_models(tmp_path / "models", SPECS[:1])
    one = build_report(models=models, out=tmp_path / "one", jobs=1, cache=False, seed=5)
    two = build_report(models=models, out=tmp_path / "two", jobs=2, cache=False, seed=5)
    a, b = figures(one.out), figures(two.out)
    assert sorted(a) == sorted(b)
    assert {"forest_response_orr_by_target.png", "forest_response_orr_by_target.svg",
            "ppc_response_orr_by_target.png", "sensitivity_response_orr_by_target.png"} <= set(a)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, differ
    assert json.loads((one.out / "summary.json").read_text()) == \
        json.loads((two.out / "summary.json").read_text())
    # the page embeds the same images, in the same order, with the same captions
    embedded = re.compile(r'<figure id="fig-[^"]*".*?</figure>', flags=re.S)
    html_one = embedded.findall((one.out / "report.html").read_text())
    assert len(html_one) == 5  # evidence, forest, heterogeneity, check, sensitivity
    assert html_one == embedded.findall((two.out / "report.html").read_text())


def test_a_prerendered_figure_is_not_drawn_again(tmp_path):
    """``Page.figure`` takes a function drawing the figure and calls it only when needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pclbayes.report.html import Page

    calls = []

    def draw():
        calls.append(1)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        return fig

    page = Page("t", tmp_path / "figures", prerendered={"a": (b"png-a", None),
                                                        "b": (b"png-b", b"svg-b")})
    page.figure(draw, "a", "A.", svg=False)
    page.figure(draw, "b", "B.", svg=True)
    assert calls == []
    assert (tmp_path / "figures" / "a.png").read_bytes() == b"png-a"
    assert (tmp_path / "figures" / "b.svg").read_bytes() == b"svg-b"
    assert page.rendered == {}
    page.figure(draw, "c", "C.", svg=False)  # not prerendered: drawn here
    assert calls == [1]
    assert (tmp_path / "figures" / "c.png").read_bytes().startswith(b"\x89PNG")
    assert set(page.rendered) == {"c"}
    assert plt.get_fignums() == []


@pytest.mark.heavy
def test_the_report_does_not_draw_again_what_the_workers_drew(tmp_path, monkeypatch):
    """With workers, the report's process draws only the figures that combine fits."""
    from pclbayes import plots

    models = exact_models(tmp_path / "models", SPECS[:1])
    for name in ("forest", "prior_posterior", "ppc_counts"):
        def refuse(*args, name=name, **kwargs):
            raise AssertionError(f"plots.{name} called in the report's process")
        monkeypatch.setattr(plots, name, refuse)
    report = build_report(models=models, out=tmp_path / "out", jobs=2, cache=False, seed=5)
    assert {"forest_response_orr_by_target.png", "ppc_response_orr_by_target.png",
            "heterogeneity_response_orr_by_target.png"} <= set(figures(report.out))


@pytest.mark.heavy
def test_workers_hand_back_the_figures_of_each_fit(tmp_path):
    models = exact_models(tmp_path / "models")
    specs = list_specs(models)
    drawn: dict = {}
    records = builder.run_fits(load(), specs, jobs=2, figures=drawn)
    assert [r.spec.name for r in records] == [s.name for s in specs]
    for spec in specs:
        for kind in ("forest", "heterogeneity", "ppc"):
            png, svg = drawn[f"{kind}_{spec.name}"]
            assert png.startswith(b"\x89PNG")
            assert (svg is not None) == (kind == "forest")


@pytest.mark.heavy
def test_fits_from_the_fit_cache_are_read_in_the_workers_with_the_same_report(
        tmp_path, monkeypatch):
    """Reused fits are read (and their figures drawn) by the workers: same files as fitting."""
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(tmp_path / "cache"))
    models = exact_models(tmp_path / "models", SPECS[:1])
    fitted = build_report(models=models, out=tmp_path / "fitted", jobs=2, cache=True, seed=5)
    assert not any(r.cached for r in fitted.fits + fitted.sensitivity)
    shutil.rmtree(stored.directory())  # the report stored, so that the fits are read again
    reused = build_report(models=models, out=tmp_path / "reused", jobs=2, cache=True, seed=5)
    assert not reused.stored and all(r.cached for r in reused.fits + reused.sensitivity)
    a, b = figures(fitted.out), figures(reused.out)
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    assert json.loads((fitted.out / "summary.json").read_text()) == \
        json.loads((reused.out / "summary.json").read_text())
    fit = "fits/response_orr_by_target.nc"  # the fit's netCDF file, copied from the cache
    again, first = load_fit(reused.out / fit), load_fit(fitted.out / fit)
    assert again.idata_["posterior"].to_dataset().identical(
        first.idata_["posterior"].to_dataset())


@pytest.mark.heavy
def test_a_damaged_cache_entry_is_refitted_by_a_worker_which_says_so(tmp_path, monkeypatch,
                                                                      caplog):
    """A worker that finds an entry damaged fits again; its warning reaches the report."""
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(tmp_path / "cache"))
    models = exact_models(tmp_path / "models", SPECS[:1])
    spec = list_specs(models)[0]
    specs, eb = [spec, dataclasses.replace(spec, name="again", seed=spec.seed + 1)], load()
    builder.run_fits(eb, specs, jobs=2, cache=True)
    damaged = builder._cache_key(specs[1], eb)
    entry = fitcache.cache_dir() / f"{damaged}.fit.nc"
    entry.write_bytes(entry.read_bytes()[:4000])
    with caplog.at_level(logging.WARNING):
        records = builder.run_fits(eb, specs, jobs=2, cache=True)
    assert [r.cached for r in records] == [True, False]
    said = [r.getMessage() for r in caplog.records if "failed verification" in r.getMessage()]
    assert len(said) == 1 and entry.name in said[0], said


def test_each_distinct_warning_is_shown_once_while_a_report_is_built(caplog):
    log = logging.getLogger("pclbayes.test")
    with caplog.at_level(logging.WARNING), builder._each_warning_once():
        for _ in range(3):
            log.warning("episodes left out: %s", "a, b")
        log.warning("another note")
    assert [r.getMessage() for r in caplog.records] == ["episodes left out: a, b",
                                                        "another note"]
    log.warning("another note")  # outside a report: as usual
    assert len(caplog.records) == 3


def test_schedule_longest_first_and_large_groups_split():
    # costs: survival 5 + 2 * 2 = 9, response 2 + 0.5 * 16 = 10, logit-normal 2 + 0.5 = 2.5
    groups = {("survival", "a"): [0, 1], ("response", "beta-binomial"): list(range(2, 18)),
              ("response", "logit-normal"): [18]}
    assert builder._schedule(groups, 1) == [list(range(2, 18)), [0, 1], [18]]
    # two workers: the share is 21.5 / 2 = 10.75 > 8 s of response fits: no split
    assert builder._schedule(groups, 2) == [list(range(2, 18)), [0, 1], [18]]
    # 40 response fits (20 s) exceed the share (33.5 / 2 = 16.75): two batches of 20 (12 s)
    groups = {("survival", "a"): [0, 1], ("response", "beta-binomial"): list(range(2, 42)),
              ("response", "logit-normal"): [42]}
    batches = builder._schedule(groups, 2)
    assert batches == [list(range(2, 22)), list(range(22, 42)), [0, 1], [42]]
    assert sorted(i for b in batches for i in b) == list(range(43))


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_schedule_keeps_every_fit_once(jobs):
    groups = {("response", "x"): list(range(7)), ("survival", "y"): list(range(7, 30))}
    batches = builder._schedule(groups, jobs)
    assert sorted(i for b in batches for i in b) == list(range(30))
    assert len(batches) <= 2 * jobs


def test_censored_check_draws_a_fixed_subset_of_curves():
    """Every 24th draw of each chain (4 x 600 draws -> 100 curves), the same every time."""
    import numpy as np
    import xarray as xr

    from pclbayes.report.sections import _every_kth_draw

    draws = np.arange(4 * 600 * 3, dtype=float).reshape(4, 600, 3)
    tree = xr.DataTree.from_dict({
        "posterior_predictive": xr.Dataset({"t": (("chain", "draw", "episode"), draws)}),
        "observed_data": xr.Dataset({"t": ("episode", np.array([1.0, 2.0, 3.0]))}),
    })
    thinned = _every_kth_draw(tree)
    kept = thinned["posterior_predictive"]["t"]
    assert kept.sizes == {"chain": 4, "draw": 25, "episode": 3}
    np.testing.assert_array_equal(kept.values, draws[:, ::24, :])
    np.testing.assert_array_equal(thinned["observed_data"]["t"].values, [1.0, 2.0, 3.0])
