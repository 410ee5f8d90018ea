"""The report as a reader sees it: rendered in headless Chromium, every figure loaded, no
empty section; and reproducible (same seed and data give the same summary.json)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from pclbayes._paths import BUNDLED_MODELS
from pclbayes.cli import main
from pclbayes.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--quick", "--quiet", "--seed", "7", "--out", str(out)]) == 0
    return out


def _chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return CHROMIUM


def test_output_folder(quick_report):
    for name in ("report.html", "summary.csv", "summary.json", "figures/swimmer.png",
                 "figures/swimmer.svg"):
        assert (quick_report / name).is_file(), name
    fits = sorted(p.stem for p in (quick_report / "fits").glob("*.nc"))
    assert fits == sorted(p.stem for p in BUNDLED_MODELS.glob("*.toml"))
    html = (quick_report / "report.html").read_text()
    assert "Quick mode" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # self-contained


def test_every_figure_has_a_caption(quick_report):
    html = (quick_report / "report.html").read_text()
    figures = re.findall(r"<figure.*?</figure>", html, flags=re.S)
    assert len(figures) >= 6
    for fig in figures:
        caption = re.search(r"<figcaption>(.*?)</figcaption>", fig, flags=re.S)
        assert caption and len(caption.group(1)) > 60


def test_rendered_in_chromium(quick_report, tmp_path):
    chromium = _chromium()
    url = (quick_report / "report.html").resolve().as_uri()
    user = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([chromium, *FLAGS, *user, "--virtual-time-budget=10000", "--dump-dom",
                          url], capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
    assert attrs.get("checked") == "yes", body
    assert int(attrs["images"]) >= 6
    assert attrs["broken-images"] == "0"
    assert attrs["empty-sections"] == ""
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *FLAGS, *user, "--window-size=1200,2400",
                    f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.std() > 0.05  # not a blank page


def test_same_seed_same_summary_fitted_or_reused(tmp_path, monkeypatch):
    """Fitted twice, or reused from the fit cache: the same summary; another seed refits."""
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "models"
    models.mkdir()
    for name in ("response_cr_by_target.toml", "survival_pfs_by_target.toml"):
        shutil.copy(BUNDLED_MODELS / name, models / name)

    def run(name, **kwargs):
        rep = build_report(models=models, out=tmp_path / name, quick=True, jobs=1, **kwargs)
        return rep, json.loads((rep.out / "summary.json").read_text())

    a, ja = run("a", seed=3, cache=False)
    b, jb = run("b", seed=3)                 # fits again and fills the cache
    c, jc = run("c", seed=3)                 # reuses every fit
    assert ja == jb == jc
    assert (a.out / "summary.csv").read_text() == (c.out / "summary.csv").read_text()
    records = c.fits + c.sensitivity
    assert not any(r.cached for r in a.fits + b.fits) and all(r.cached for r in records)
    assert sorted(p.name for p in (c.out / "fits").glob("*.nc")) == \
        sorted(p.name for p in (a.out / "fits").glob("*.nc"))
    assert "Reused fits:" in (c.out / "report.html").read_text()
    d, jd = run("d", seed=4)                 # another seed: a new key, fitted again
    assert not any(r.cached for r in d.fits) and jd["fits"] != ja["fits"]
    e, je = run("e", seed=3, refit=True)     # --refit ignores the cache
    assert not any(r.cached for r in e.fits) and je == ja
