"""The fit cache: keys, verified netCDF entries, fooled entries refitted, pruning."""

from __future__ import annotations

import logging
import pickle

import h5py
import numpy as np
import pytest

from pclbayes import fitcache
from pclbayes.response import ResponseModel


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(tmp_path / "c"))
    return tmp_path / "c"


@pytest.fixture(scope="module")
def fits():
    """Two exact-engine fits of different endpoints (CR and ORR), seconds each."""
    cr = ResponseModel(endpoint="cr", by="target", method="exact").fit(seed=1)
    orr = ResponseModel(endpoint="orr", by="target", method="exact").fit(seed=1)
    return cr, orr


def test_key_depends_on_resolved_spec_data_and_source(fits):
    cr, orr = fits
    spec = cr.resolved_spec(1)
    base = fitcache.fit_key(spec, "abc", "/data")
    assert base == fitcache.fit_key(dict(spec), "abc", "/data")
    assert base != fitcache.fit_key(cr.resolved_spec(2), "abc", "/data")
    assert base != fitcache.fit_key(orr.resolved_spec(1), "abc", "/data")
    tweaked = ResponseModel(endpoint="cr", by="target", method="exact",
                            priors={"kappa": "Gamma(alpha=2, beta=0.1000001)"})
    # str(prior) shows both as Gamma(alpha=2, beta=0.1); the resolved spec keeps every bit
    assert str(tweaked.validate()[0]["kappa"]) == str(cr.priors_["kappa"])
    assert base != fitcache.fit_key(tweaked.resolved_spec(1), "abc", "/data")
    assert base != fitcache.fit_key(spec, "abd", "/data")
    assert base != fitcache.fit_key(spec, "abc", "/other")


@pytest.mark.heavy
def test_round_trip_gives_the_same_numbers(cache, fits, tmp_path):
    cr, _ = fits
    assert fitcache.load("k1") is None
    fitcache.store("k1", cr)
    entries = list(cache.iterdir())
    assert [p.name for p in entries] == ["k1.fit.nc"]  # netCDF, no pickle
    back = fitcache.load("k1", spec=cr.resolved_spec(1), data_hash=cr.data_hash_)
    assert back.summary().equals(cr.summary())
    target = tmp_path / "copy.nc"
    copied = fitcache.load("k1", spec=cr.resolved_spec(1), copy_to=target)
    assert copied.summary().equals(cr.summary())
    assert target.read_bytes() == entries[0].read_bytes()
    assert fitcache.load("missing", copy_to=tmp_path / "other.nc") is None
    assert not (tmp_path / "other.nc").exists()
    assert not list(cache.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.heavy
def test_swapped_entries_are_refitted_not_reused(cache, fits, caplog):
    """Entries renamed into each other's place (a CR key holding an ORR fit) are refused."""
    cr, orr = fits
    fitcache.store("cr-key", cr)
    fitcache.store("orr-key", orr)
    a, b = cache / "cr-key.fit.nc", cache / "orr-key.fit.nc"
    tmp = cache / "swap"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    with caplog.at_level(logging.WARNING):
        assert fitcache.load("cr-key", spec=cr.resolved_spec(1)) is None
        assert fitcache.load("orr-key") is None
    assert caplog.text.count("failed verification") == 2


def test_entry_with_another_spec_is_refused(cache, fits, caplog):
    cr, orr = fits
    fitcache.store("k", cr)
    with caplog.at_level(logging.WARNING):
        assert fitcache.load("k", spec=orr.resolved_spec(1)) is None
        assert fitcache.load("k", data_hash="0" * 64) is None
    assert "another specification" in caplog.text and "other data" in caplog.text


def test_corrupted_entry_is_refitted_and_never_copied(cache, fits, tmp_path, caplog):
    cr, _ = fits
    fitcache.store("k", cr)
    path = cache / "k.fit.nc"
    with h5py.File(path, "r+") as f:  # change one posterior draw in place
        var = f["posterior"]["pooled_rate"]
        values = var[...]
        values.flat[0] += 0.01
        var[...] = values
    with caplog.at_level(logging.WARNING):
        assert fitcache.load("k") is None
        target = tmp_path / "out.nc"
        assert fitcache.load("k", copy_to=target) is None
    assert not target.exists()
    assert "does not match its checksum" in caplog.text
    path.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        assert fitcache.load("k") is None


def test_a_pickle_in_the_cache_is_never_loaded(cache, fits):
    """Reading the cache runs no code: a pickle planted under an entry's name is refused."""
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle executed')",))

    cache.mkdir(parents=True)
    (cache / "k.fit.nc").write_bytes(pickle.dumps(Boom()))
    (cache / "k.fit.pickle").write_bytes(pickle.dumps(Boom()))
    assert fitcache.load("k") is None


def test_oldest_entries_are_pruned(cache, fits, monkeypatch):
    cr, _ = fits
    monkeypatch.setattr(fitcache, "MAX_ENTRIES", 3)
    for i in range(5):
        fitcache.store(f"k{i}", cr)
    kept = sorted(p.name.split(".")[0] for p in cache.glob("*.fit.nc"))
    assert len(kept) == 3 and "k4" in kept


def test_unwritable_cache_is_skipped(tmp_path, monkeypatch, caplog, fits):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(blocker / "sub"))
    with caplog.at_level(logging.WARNING):
        fitcache.store("k", fits[0])
    assert "could not write the fit cache" in caplog.text
    assert np.isfinite(fits[0].summary()["median"]).all()
