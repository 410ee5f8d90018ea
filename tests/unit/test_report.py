"""The report as a reader sees it: rendered in headless Chromium, every figure loaded, no
empty section; the answer first (key findings and limitations), results in the order of
the questions, words instead of identifiers, a print layout that fits the page; and
reproducible (same seed and data give the same summary.json)."""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from pclbayes._paths import BUNDLED_DATA, BUNDLED_MODELS
from pclbayes.cli import main
from pclbayes.plots import at_risk
from pclbayes.report import build_report, labels, sections, stored
from pclbayes.report.builder import FitRecord
from pclbayes.specs import list_specs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def _chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.mark.heavy
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


@pytest.mark.heavy
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


@pytest.mark.heavy
def test_same_seed_same_summary_fitted_or_reused(tmp_path, monkeypatch):
    """Fitted twice, reused from the fit cache, or the whole report copied: the same summary."""
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
    assert not b.stored
    (entry,) = stored.directory().iterdir()  # b stored its report too: the page as a run
    page_b = (entry / "page.html").read_text()  # reading every fit from the cache makes it
    shutil.rmtree(stored.directory())
    c, jc = run("c", seed=3)                 # reuses every fit
    assert not c.stored
    (entry,) = stored.directory().iterdir()
    assert (entry / "page.html").read_text() == page_b  # MCMC response and survival fits
    assert ja == jb == jc
    assert (a.out / "summary.csv").read_text() == (c.out / "summary.csv").read_text()
    records = c.fits + c.sensitivity
    assert not any(r.cached for r in a.fits + b.fits) and all(r.cached for r in records)
    assert sorted(p.name for p in (c.out / "fits").glob("*.nc")) == \
        sorted(p.name for p in (a.out / "fits").glob("*.nc"))
    assert "Reused fits:" in (c.out / "report.html").read_text()
    # (another seed and --refit: tests/unit/test_report_stored.py, with the exact engine)
    f, jf = run("f", seed=3)                 # every input unchanged: the report is copied
    assert f.stored and jf == ja
    assert (f.out / "summary.csv").read_text() == (a.out / "summary.csv").read_text()
    assert "Stored report:" in (f.out / "report.html").read_text()


# ---------------------------------------------------------------- helpers
def _html(report: Path) -> str:
    return (report / "report.html").read_text(encoding="utf-8")


def _visible(html: str, *, pre: bool = True) -> str:
    """The text a reader sees: tags, scripts, styles and embedded images removed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    if not pre:
        html = re.sub(r"<pre>.*?</pre>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", htmllib.unescape(html))


def _box(html: str, box_id: str) -> str:
    m = re.search(rf'<div id="{box_id}">(.*?)</div>', html, flags=re.S)
    assert m, f"no #{box_id} on the page"
    return m.group(1)


def _key_rows(html: str) -> list[list[str]]:
    """Rows of the key findings table as cell texts (cells spanning rows repeated)."""
    rows, carry = [], {}
    for tr in re.findall(r"<tr>(.*?)</tr>", _box(html, "key-findings"), flags=re.S)[1:]:
        cells = re.findall(r'<td([^>]*)>(.*?)</td>', tr, flags=re.S)
        out = []
        if len(cells) == 4:  # the endpoint and caveat cells of the block's first row
            out = [carry["endpoint"], *[htmllib.unescape(c) for _, c in cells], carry["caveat"]]
        else:
            out = [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for _, c in cells]
            carry = {"endpoint": out[0], "caveat": out[-1]}
        rows.append(out)
    return rows


def _first_infusions() -> pd.DataFrame:
    """The bundled patients file read directly (one row per patient = first infusion)."""
    return pd.read_csv(BUNDLED_DATA / "patients.csv")


# ---------------------------------------------------------------- first screen
def test_key_findings_come_first_with_the_data_behind_them(quick_report):
    html = _html(quick_report)
    assert html.index('id="key-findings"') < html.index('id="limitations"') \
        < html.index('<section id="evidence"')
    assert 'class="alert"' not in html[:html.index('id="key-findings"')]
    rows = _key_rows(html)
    by = {(r[0], r[1]): r for r in rows}
    pat = _first_infusions()
    for target in ("BCMA", "GPRC5D"):
        g = pat[pat["target"] == target]
        orr = by[("Objective response (PR or better)", target)]
        assert orr[4] == f"{int(g['orr'].sum())}/{len(g)} responders"
        cr = by[("Complete response or better", target)]
        assert cr[4] == f"{int(g['cr_or_better'].sum())}/{len(g)} responders"
        pfs = [r for r in rows if r[0].startswith("Median PFS") and r[1] == target]
        assert len(pfs) == 1
        assert pfs[0][4] == f"{int(g['pfs_event'].sum())} events / {len(g)} patients"
        assert re.fullmatch(r"\d+\.\d months( \(mostly prior\))?|not reached", pfs[0][2])
        assert re.fullmatch(r"[<>]?\d+% to [<>]?\d+%", orr[3]) and re.fullmatch(r"\d+%.*", orr[2])
    # every patient responded (ORR 15/15): the caveat says the upper limit is the prior's
    assert "Every patient responded (15/15)" in by[("Objective response (PR or better)",
                                                    "BCMA")][5]
    (reinf,) = [r for r in rows if "re-infusion" in r[0]]
    again = pd.read_csv(BUNDLED_DATA / "reinfusions.csv")
    assert reinf[4] == f"{int(again['pfs_event'].sum())} events / {len(again)} re-infusions"
    for r in rows:
        assert r[5], f"no caveat for {r[0]}"


def test_key_findings_match_the_summary(quick_report):
    """The key numbers are the summary's pooled rates, rounded to whole percentages."""
    summary = pd.read_csv(quick_report / "summary.csv")
    rows = {(r[0], r[1]): r for r in _key_rows(_html(quick_report))}
    for fit, endpoint in (("response_orr_by_target", "Objective response (PR or better)"),
                          ("response_cr_by_target", "Complete response or better")):
        sel = summary[(summary["fit"] == fit) & (summary["variant"] == "default")
                      & (summary["quantity"] == "pooled_rate")]
        for _, r in sel.iterrows():
            row = rows[(endpoint, r["level"])]
            assert row[2].split(" ")[0] == labels.pct(r["median"])
            assert row[3] == f"{labels.pct(r['lower'])} to {labels.pct(r['upper'])}"


def test_limitations_read_from_the_data(quick_report):
    text = _visible(_box(_html(quick_report), "limitations"))
    pat = _first_infusions()
    sizes = pat.groupby("cohort").size()
    assert f"{len(pat)} patients in {len(sizes)} cohorts" in text
    share = round(100 * sizes.max() / len(pat))
    assert f"{sizes.max()} of them ({share}%) from one cohort ({sizes.idxmax()})" in text
    assert "carsgen (press-release" in text and "tongji (partial" in text
    assert "not randomised" in text
    assert f"{int(pat['pfs_event'].sum())} PFS events in {len(pat)} patients" in text
    with_os = pat[pat["os_months"].notna()]
    assert f"{int(with_os['os_event'].sum())} deaths in {len(with_os)} patients" in text


def _stub_fit(name: str, variant: str, ok: bool) -> FitRecord:
    spec = next(s for s in list_specs(BUNDLED_MODELS) if s.name == "response_cr_by_target")
    diag = SimpleNamespace(ok=ok, messages=["2 divergent transitions"])
    rec = FitRecord(spec, SimpleNamespace(diagnostics_=diag), 0.0, variant=variant)
    return rec


def test_variant_sampler_warnings_go_to_diagnostics_not_the_top():
    eb = SimpleNamespace()
    fits = [_stub_fit("a", "default", True), _stub_fit("a", "more-heterogeneity", False)]
    assert sections.flags(fits, eb) == []
    (msg,) = sections.variant_flags(fits)
    assert "more heterogeneity" in msg and "divergent" in msg and "_" not in msg
    fits[0].model.diagnostics_.ok = False
    (top,) = sections.flags(fits, eb)
    assert top.startswith("Complete response or better by antigen target")


# ---------------------------------------------------------------- order and words
def test_results_in_the_order_of_the_questions(quick_report):
    html = _html(quick_report)
    ids = re.findall(r'<section id="([^"]+)"', html)
    results = [i for i in ids if i in sections.QUESTIONS]
    assert results == ["response", "reinfusion", "pfs", "os", "planning"]
    assert ids.index("evidence") < ids.index("response") < ids.index("checks")
    response = re.search(r'<section id="response">(.*?)</section>', html, flags=re.S).group(1)
    heads = re.findall(r"<h3>(.*?)</h3>", response)
    assert heads[0].startswith("Objective response") and heads[1].startswith("Complete")


def _internal_names() -> set[str]:
    specs = list_specs(BUNDLED_MODELS)
    names = set(labels.INTERNAL_NAMES) | {s.name for s in specs}
    names |= {f"{s.name}@{v.name}" for s in specs for v in s.sensitivity}
    return names


def test_no_internal_identifiers_in_the_text(quick_report):
    text = _visible(_html(quick_report))
    internal = _internal_names()
    tokens = set(re.findall(r"[a-z]+_[a-z0-9_]+(?:@[a-z-]+)?", text))
    assert not tokens & internal, sorted(tokens & internal)
    assert "@" not in re.sub(r"\S+@\S+\.(cn|com|org)", "", text)  # e-mail addresses only
    assert not re.search(r"\binf\b", text)
    assert "OS-free" not in text and "alive at 12 months" in text
    assert "not reached" in text


def test_counts_are_integers(quick_report):
    html = _html(quick_report)
    cohorts = re.search(r"<caption>Cohorts: raw rate.*?</table>", html, flags=re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", cohorts, flags=re.S)[1:]
    assert rows
    for row in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert re.fullmatch(r"\d+", cells[1]) and re.fullmatch(r"\d+", cells[2]), cells
    diag = re.search(r"<caption>Convergence diagnostics.*?</table>", html, flags=re.S).group(0)
    head = re.findall(r"<th[^>]*>(.*?)</th>", diag)
    col = head.index("min bulk ESS")
    for row in re.findall(r"<tr>(.*?)</tr>", diag, flags=re.S)[1:]:
        assert re.fullmatch(r"\d+", re.findall(r"<td[^>]*>(.*?)</td>", row)[col])


def test_labels():
    assert labels.quantity("survival_at_12_new_cohort", "os") == \
        "alive at 12 months, new cohort"
    assert labels.quantity("survival_at_6", "pfs") == "progression-free at 6 months"
    assert labels.quantity("median_time", "os") == "median OS"
    assert labels.months(float("inf")) == "not reached"
    assert labels.months(7.96) == "8.0 months"
    assert labels.count(2.0) == "2" and labels.count(np.nan) == ""
    assert labels.pct(0.674) == "67%" and labels.pct(0.999) == ">99%"
    assert labels.level("switch vs first") == "target-switched re-infusion vs first infusion"
    assert labels.humanise("depends on target, pcl_type and a cohort effect") == \
        "depends on target, PCL type and a cohort effect"


def test_numbers_at_risk():
    # four episodes at 1, 2, 3 and 5 months: at risk at 0, 2, 4 and 6 months
    assert at_risk([1, 2, 3, 5], [0, 2, 4, 6]) == [4, 3, 1, 0]


def test_km_plot_prints_numbers_at_risk():
    from pclbayes.plots import km_bands

    data = pd.DataFrame({"time": [1.0, 2.0, 3.0, 5.0], "event": [1, 0, 1, 1],
                         "group": ["a"] * 4})
    grid = np.linspace(0, 6, 7)
    curves = pd.DataFrame({"group": "a", "time": grid, "median": np.exp(-grid / 3),
                           "lower": np.exp(-grid / 2), "upper": np.exp(-grid / 4)})
    fig = km_bands(data, curves, group_col="group", title="t", time_label="months",
                   survival_label="probability alive")
    texts = [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)
    assert "at risk" in texts
    ticks = [t for t in fig.axes[0].get_xticks()]
    assert [int(t) for t in texts[2:]] == at_risk(data["time"], ticks)
    assert fig.axes[0].get_xlabel() == "months"


def test_censored_check_axes_get_units():
    fig, axes = plt.subplots(1, 2)
    axes[0].plot([0, 1], [1, 0])
    sections._label_censored_axes(fig, "os")
    plt.close(fig)
    assert axes[0].get_xlabel() == "months since infusion"
    assert axes[0].get_ylabel() == "probability alive"


# ---------------------------------------------------------------- headless Chromium
@pytest.mark.heavy
def test_first_screen_and_print_in_chromium(quick_report, tmp_path):
    """The key findings fit in the first 900 px at 1400 px; printed it fits about 15 A4
    pages and no table or code block runs off the page."""
    chromium = _chromium()
    url = (quick_report / "report.html").resolve().as_uri()
    user = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([chromium, *FLAGS, *user, "--window-size=1400,900",
                          "--virtual-time-budget=10000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
    left, top, right, bottom = (float(v) for v in attrs["key-findings-box"].split(","))
    assert 0 <= left and 0 <= top < bottom <= 900 and right <= 1400, attrs["key-findings-box"]
    rendered = _visible(re.sub(r"<body[^>]*>", "<body>", dom))
    tokens = set(re.findall(r"[a-z]+_[a-z0-9_]+", rendered))
    assert not tokens & _internal_names(), sorted(tokens & _internal_names())
    shot = tmp_path / "first.png"
    subprocess.run([chromium, *FLAGS, *user, "--window-size=1400,900", f"--screenshot={shot}",
                    url], capture_output=True, timeout=120, check=True)
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (900, 1400) and pixels.std() > 0.05
    pdf = tmp_path / "report.pdf"
    subprocess.run([chromium, *FLAGS, *user, "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", url], capture_output=True, timeout=180, check=True)
    raw = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", raw))
    assert raw.startswith(b"%PDF") and len(raw) > 100_000
    assert 5 <= pages <= 18, pages
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "60", "-png", str(pdf),
                        str(tmp_path / "page")], check=True, timeout=60)
        (page,) = tmp_path.glob("page*.png")
        img = mpimg.imread(page)
        assert img.shape[0] > img.shape[1] > 400 and img.std() > 0.05  # A4 portrait, not blank


# ---------------------------------------------------------------- a user's own data
def _own_models(tmp_path: Path, name: str) -> Path:
    """One bundled specification, without its sensitivity variants."""
    models = tmp_path / "models"
    models.mkdir()
    text = (BUNDLED_MODELS / name).read_text(encoding="utf-8")
    (models / name).write_text(text + "\n[report]\nsensitivity = false\n", encoding="utf-8")
    return models


def _assert_generic(html: str) -> None:
    """No PCL, antigen or re-infusion wording where the data have none (Methods' prior
    blocks quote the specification's own reasons and are left out)."""
    text = _visible(html, pre=False)
    for word in ("plasma cell", "PCL", "BCMA", "GPRC5D", "antigen", "re-infusion",
                 "CAR T", "progression-free", "PFS", "complete response", "CR or better"):
        assert word not in text, (word, text[max(text.find(word) - 200, 0):][:400])
    tokens = set(re.findall(r"[a-z]+_[a-z0-9_]+", text))
    assert not tokens & _internal_names(), sorted(tokens & _internal_names())


@pytest.mark.heavy
def test_own_counts_without_grouping(tmp_path):
    data = tmp_path / "trials.csv"
    data.write_text("cohort,n,responders\nA,12,7\nB,9,4\nC,20,13\n", encoding="utf-8")
    models = _own_models(tmp_path, "response_cr_by_strategy.toml")
    out = tmp_path / "out"
    assert main(["report", "--quick", "--quiet", "--jobs", "1", "--data", str(data),
                 "--models", str(models), "--out", str(out)]) == 0
    html = _html(out)
    _assert_generic(html)
    assert "Response, pooled over all cohorts (no grouping)" in html
    rows = _key_rows(html)
    assert [r[4] for r in rows] == ["24/41 responders"]
    assert "41 patients in 3 cohorts" in _visible(_box(html, "limitations"))


@pytest.mark.heavy
def test_own_times_without_grouping(tmp_path):
    rng = np.random.default_rng(3)
    times = np.round(rng.exponential(8.0, 16), 1) + 0.1
    events = (rng.random(16) < 0.7).astype(int)
    rows = "".join(f"{c},{t},{e}\n" for c, t, e in
                   zip(["A"] * 8 + ["B"] * 8, times, events, strict=True))
    data = tmp_path / "times.csv"
    data.write_text("cohort,time,event\n" + rows, encoding="utf-8")
    models = _own_models(tmp_path, "survival_pfs_by_strategy.toml")
    out = tmp_path / "out"
    assert main(["report", "--quick", "--quiet", "--jobs", "1", "--data", str(data),
                 "--models", str(models), "--out", str(out)]) == 0
    html = _html(out)
    _assert_generic(html)
    assert "Time to event, pooled over all cohorts (no grouping)" in html
    (row,) = _key_rows(html)
    assert row[4] == f"{events.sum()} events / 16 patients"
