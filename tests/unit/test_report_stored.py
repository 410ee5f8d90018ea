"""Stored reports: a report whose every input is unchanged is copied, byte for byte, and a
stored report that cannot prove it matches is made again."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import pytest
from test_report_workers import SPECS, exact_models, figures

from pclbayes import fitcache
from pclbayes.data import load
from pclbayes.errors import ReportOutputError
from pclbayes.model import load_fit
from pclbayes.report import build_report, builder, stored
from pclbayes.report.builder import StoredFit

HEADER = re.compile(r"<p>Generated .*?(?=<nav>)", flags=re.S)


def _page(out: Path) -> str:
    """The page without its header (which says when it was made and what was reused)."""
    html = (out / "report.html").read_text(encoding="utf-8")
    assert len(HEADER.findall(html)) == 1
    return HEADER.sub("", html)


def _outside_diagnostics(page: str) -> str:
    """The page without its diagnostics table (which says which fits this run made)."""
    section = re.compile(r'<section id="diagnostics">.*?</section>', flags=re.S)
    assert len(section.findall(page)) == 1
    return section.sub("", page)


def _files(out: Path) -> dict[str, bytes]:
    return {"summary.csv": (out / "summary.csv").read_bytes(),
            "summary.json": (out / "summary.json").read_bytes(), **figures(out)}


pytestmark = pytest.mark.heavy  # each test builds reports


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """A report made with an empty fit cache: its folder, its cache and what it logged."""
    root = tmp_path_factory.mktemp("made")
    models = exact_models(root / "models", SPECS[:1])  # one specification, three variants
    kept = _Kept()
    logging.getLogger().addHandler(kept)
    mp = pytest.MonkeyPatch()
    mp.setenv("PCLBAYES_CACHE_DIR", str(root / "cache"))
    try:
        report = build_report(models=models, out=root / "out", jobs=1, seed=5)
    finally:
        mp.undo()
        logging.getLogger().removeHandler(kept)
    return {"report": report, "cache": root / "cache", "models": models,
            "said": sorted(set(kept.messages))}


@pytest.fixture
def cache(tmp_path, monkeypatch, made) -> Path:
    """A copy of the fit cache (with the stored report) of ``made``, in use for the test."""
    shutil.copytree(made["cache"], tmp_path / "cache")
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def models(made) -> Path:
    """The specifications of ``made`` (read-only: their files are inputs of the report)."""
    return made["models"]


def test_unchanged_inputs_copy_the_report_made_before(tmp_path, cache, models, made, caplog):
    said_made, made = made["said"], made["report"]
    with caplog.at_level(logging.WARNING):
        copied = build_report(models=models, out=tmp_path / "copied", jobs=1, seed=5)
    assert not made.stored and copied.stored
    assert said_made  # these data give PSIS-LOO warnings
    assert sorted({r.getMessage() for r in caplog.records}) == said_made  # the same warnings
    # every file is what the report made itself; the page is the page a run reading every
    # fit from the fit cache makes (its diagnostics say so), with a header of its own
    assert _files(copied.out) == _files(made.out)
    assert _outside_diagnostics(_page(copied.out)) == _outside_diagnostics(_page(made.out))
    shutil.rmtree(cache / "reports")
    rebuilt = build_report(models=models, out=tmp_path / "rebuilt", jobs=1, seed=5)
    assert not rebuilt.stored and all(r.cached for r in rebuilt.fits + rebuilt.sensitivity)
    assert _page(copied.out) == _page(rebuilt.out)
    assert "reused from the fit cache" in _page(copied.out)
    assert "in this run" in _page(made.out) and "in this run" not in _page(copied.out)
    assert "Stored report:" in (copied.out / "report.html").read_text()
    assert "Stored report:" not in (made.out / "report.html").read_text()
    assert copied.flags == made.flags
    assert [r.spec.name for r in copied.fits + copied.sensitivity] == \
        [r.spec.name for r in made.fits + made.sensitivity]
    assert [r.variant for r in copied.sensitivity] == [r.variant for r in made.sensitivity]
    assert all(r.cached for r in copied.fits + copied.sensitivity)
    # fits/*.nc are the fit-cache entries: the same draws as the report's own files
    names = sorted(p.name for p in (made.out / "fits").glob("*.nc"))
    assert names == sorted(p.name for p in (copied.out / "fits").glob("*.nc")) and names
    for name in names:
        a, b = load_fit(made.out / "fits" / name), load_fit(copied.out / "fits" / name)
        assert a.idata_["posterior"].to_dataset().identical(b.idata_["posterior"].to_dataset())
    # each record's model is read from the fit cache when first used, and is the same fit
    rec = copied.fits[0]
    assert isinstance(rec.__dict__["_model"], StoredFit)
    assert rec.model.summary().equals(made.fits[0].model.summary())
    assert not isinstance(rec.__dict__["_model"], StoredFit)


def test_changed_input_or_refit_makes_the_report_again(tmp_path, cache, models):
    other_seed = build_report(models=models, out=tmp_path / "b", jobs=1, seed=6)
    assert not other_seed.stored
    refit = build_report(models=models, out=tmp_path / "c", jobs=1, seed=5, refit=True)
    assert not refit.stored and not any(r.cached for r in refit.fits)
    entries = sorted((cache / "reports").iterdir())
    no_cache = build_report(models=models, out=tmp_path / "d", jobs=1, seed=7, cache=False)
    assert not no_cache.stored
    assert sorted((cache / "reports").iterdir()) == entries  # nothing stored without the cache
    # the same specifications in another folder: the same report (the page does not show
    # the files); then a new title: a new input of the page, though every fit is cached
    models = Path(shutil.copytree(models, tmp_path / "models"))
    assert build_report(models=models, out=tmp_path / "moved", jobs=1, seed=5).stored
    spec = models / "response_orr_by_target.toml"
    text = re.sub(r'(?m)^title = ".*"$', 'title = "ORR, renamed"', spec.read_text())
    assert "ORR, renamed" in text
    spec.write_text(text)
    retitled = build_report(models=models, out=tmp_path / "e", jobs=1, seed=5)
    assert not retitled.stored
    assert "ORR, renamed" in (retitled.out / "report.html").read_text()
    assert build_report(models=models, out=tmp_path / "f", jobs=1, seed=5).stored


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in (cache / "reports").iterdir() if not p.name.startswith(".")]
    return entry


@pytest.mark.parametrize("damage", ["figure", "meta", "meta shape", "escape", "fit entry",
                                    "fit gone", "variant gone"])
def test_a_stored_report_that_does_not_verify_is_made_again(tmp_path, cache, models, made,
                                                            caplog, damage):
    made = made["report"]
    entry = _entry(cache)
    meta = json.loads((entry / "meta.json").read_text())
    if damage == "figure":
        png = next((entry / "figures").glob("*.png"))
        png.write_bytes(png.read_bytes()[:-10])
    elif damage == "meta":
        (entry / "meta.json").write_text("{not json")
    elif damage == "meta shape":
        (entry / "meta.json").write_text("[]")
    elif damage == "escape":  # a file named outside the entry and the report folder
        (tmp_path / "elsewhere.txt").write_text("x")
        meta["files"]["../../elsewhere.txt"] = meta["files"].pop("summary.csv")
        (entry / "meta.json").write_text(json.dumps(meta))
    elif damage == "variant gone":  # a variant's fit: in no fits/ file, but the report's
        variant = next(r for r in made.sensitivity)
        path = fitcache.entry_path(builder._cache_key(variant.spec, load()))
        assert path.is_file() and path.name.split(".")[0] not in meta["fits"].values()
        path.unlink()
    else:
        path = fitcache.entry_path(next(iter(meta["fits"].values())))
        if damage == "fit entry":
            path.write_bytes(path.read_bytes()[:-100] + bytes(100))
        else:
            path.unlink()
    with caplog.at_level(logging.WARNING):
        again = build_report(models=models, out=tmp_path / "again", jobs=1, seed=5)
    assert not again.stored
    said = [r.getMessage() for r in caplog.records if "stored report" in r.getMessage()]
    assert len(said) == 1 and "building it again" in said[0], said
    assert not (tmp_path / "again" / "elsewhere.txt").exists()
    assert _files(again.out) == _files(made.out)
    assert _outside_diagnostics(_page(again.out)) == _outside_diagnostics(_page(made.out))
    # the report made again is stored in place of the damaged one
    assert build_report(models=models, out=tmp_path / "third", jobs=1, seed=5).stored


def test_a_report_that_cannot_be_stored_is_written_all_the_same(tmp_path, cache, models,
                                                                 caplog):
    shutil.rmtree(cache / "reports")
    (cache / "reports").write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        made = build_report(models=models, out=tmp_path / "a", jobs=1, seed=5)
    assert (made.out / "report.html").is_file() and (made.out / "summary.json").is_file()
    assert any("could not store the report" in r.getMessage() for r in caplog.records)


def test_the_oldest_stored_reports_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(stored, "MAX_REPORTS", 2)
    root = stored.directory()
    for age, name in enumerate(["c", "a", "b"]):  # c oldest, b newest
        (root / name).mkdir(parents=True)
        (root / name / "meta.json").write_text("{}")
        os.utime(root / name, (1_000_000 + age, 1_000_000 + age))
    (root / ".report-half-written").mkdir()
    (root / ".report-killed-long-ago").mkdir()
    os.utime(root / ".report-killed-long-ago", (1_000_000, 1_000_000))
    stored._prune(root)
    assert sorted(p.name for p in root.iterdir()) == [".report-half-written", "a", "b"]


def test_a_missing_fit_behind_a_stored_report_is_a_clear_error(tmp_path, cache, models):
    copied = build_report(models=models, out=tmp_path / "b", jobs=1, seed=5)
    assert copied.stored
    for path in cache.glob("*.fit.nc"):
        path.unlink()
    with pytest.raises(ReportOutputError, match="no longer in the fit cache"):
        copied.fits[0].model  # noqa: B018
