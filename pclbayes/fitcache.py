"""On-disk cache of fitted specifications, so an unchanged fit is not sampled twice.

A fit is fully determined by its specification (options, priors, sampler settings, seed),
the data, and the software that ran it. ``pclbayes report`` keys every fit by a hash of
exactly these: the specification's canonical form, the data hash and source, the versions
of pclbayes and the numerical stack, and a hash of pclbayes' own source files (so an edited
installation never reuses a stale fit). A later report with the same key reuses the stored
fit (the same numbers, bit for bit); anything that changes the key fits again. This is the
pattern of ``brms``' ``file_refit = "on_change"``.

The cache lives in ``$PCLBAYES_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pclbayes`` or
``~/.cache/pclbayes``); ``pclbayes report --refit`` ignores it. Entries are Python pickles
written by this user's own runs; at most :data:`MAX_ENTRIES` are kept (oldest removed).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from pclbayes.provenance import canonical_hash, versions

logger = logging.getLogger(__name__)

#: Entries kept in the cache directory (the least recently written are removed).
MAX_ENTRIES = 256

_SUFFIX = ".fit.pickle"


def cache_dir() -> Path:
    """Directory of the fit cache (``$PCLBAYES_CACHE_DIR`` if set)."""
    env = os.environ.get("PCLBAYES_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pclbayes"


def fit_key(spec_dict: dict[str, Any], data_hash: str, data_source: str) -> str:
    """Hash of everything a fit depends on (see the module docstring)."""
    return canonical_hash({"spec": spec_dict, "data_hash": data_hash, "source": data_source,
                           "versions": versions(), "code": _source_hash()})


def load(key: str) -> Any | None:
    """The fit stored under ``key``, or None (missing or unreadable entries are ignored)."""
    path = _path(key)
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)
    except Exception as err:  # a damaged entry is refitted, never fatal
        logger.warning("ignoring the unreadable cached fit %s (%s)", path, err)
        return None


def store(key: str, fit: Any, netcdf: Path | None = None) -> None:
    """Write ``fit`` (and a copy of its netCDF file) under ``key``, atomically.

    A cache that cannot be written is skipped with a warning.
    """
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if netcdf is not None:
            _atomic(directory, _path(key, ".nc"), lambda fh: fh.write(netcdf.read_bytes()))
        _atomic(directory, _path(key),
                lambda fh: pickle.dump(fit, fh, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as err:
        logger.warning("could not write the fit cache in %s (%s)", directory, err)
        return
    _prune(directory)


def copy_netcdf(key: str, target: Path) -> bool:
    """Copy the stored netCDF file of ``key`` to ``target``; False if there is none."""
    source = _path(key, ".nc")
    if not source.is_file():
        return False
    shutil.copyfile(source, target)
    return True


def _atomic(directory: Path, path: Path, write: Callable[[BinaryIO], Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _path(key: str, suffix: str = _SUFFIX) -> Path:
    return cache_dir() / f"{key}{suffix}"


def _prune(directory: Path) -> None:
    entries = sorted(directory.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)
        old.with_name(old.name.removesuffix(_SUFFIX) + ".nc").unlink(missing_ok=True)


@functools.cache
def _source_hash() -> str:
    """SHA-256 over pclbayes' Python source files (names and contents)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
