"""The fit cache: keys, round trip, damaged entries and pruning."""

from __future__ import annotations

import logging

import pytest

from pclbayes import fitcache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(tmp_path / "c"))
    return tmp_path / "c"


def test_key_depends_on_spec_data_and_source():
    spec = {"family": "response", "seed": 1, "priors": {"kappa": "Gamma(2, 0.1)"}}
    base = fitcache.fit_key(spec, "abc", "/data")
    assert base == fitcache.fit_key(dict(spec), "abc", "/data")
    assert base != fitcache.fit_key({**spec, "seed": 2}, "abc", "/data")
    assert base != fitcache.fit_key({**spec, "priors": {"kappa": "Gamma(2, 0.2)"}}, "abc",
                                    "/data")
    assert base != fitcache.fit_key(spec, "abd", "/data")
    assert base != fitcache.fit_key(spec, "abc", "/other")


def test_round_trip_with_netcdf(cache, tmp_path):
    nc = tmp_path / "fit.nc"
    nc.write_bytes(b"netcdf bytes")
    assert fitcache.load("k1") is None
    fitcache.store("k1", {"a": [1, 2]}, netcdf=nc)
    assert fitcache.load("k1") == {"a": [1, 2]}
    target = tmp_path / "copy.nc"
    assert fitcache.copy_netcdf("k1", target) and target.read_bytes() == b"netcdf bytes"
    assert not fitcache.copy_netcdf("missing", target)
    assert not list(cache.glob("*.tmp"))


def test_damaged_entry_is_ignored_with_a_warning(cache, caplog):
    fitcache.store("k2", [1])
    (cache / "k2.fit.pickle").write_bytes(b"not a pickle")
    with caplog.at_level(logging.WARNING):
        assert fitcache.load("k2") is None
    assert "unreadable cached fit" in caplog.text


def test_oldest_entries_are_pruned(cache, monkeypatch):
    monkeypatch.setattr(fitcache, "MAX_ENTRIES", 3)
    for i in range(5):
        fitcache.store(f"k{i}", i)
    kept = sorted(p.name.split(".")[0] for p in cache.glob("*.fit.pickle"))
    assert len(kept) == 3 and "k4" in kept


def test_unwritable_cache_is_skipped(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("PCLBAYES_CACHE_DIR", str(blocker / "sub"))
    with caplog.at_level(logging.WARNING):
        fitcache.store("k", 1)
    assert "could not write the fit cache" in caplog.text
