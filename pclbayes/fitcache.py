"""On-disk cache of fits, so an unchanged fit is not sampled twice.

A fit is fully determined by its resolved specification (every option, prior, sampler
setting and the seed: :meth:`pclbayes.model.Model.resolved_spec`), the data and the
software that ran it. :func:`fit_key` hashes exactly these: the resolved specification,
the data hash and source, the versions of pclbayes and the numerical stack, and a hash of
pclbayes' own source files (so an edited installation never reuses a stale fit). This is the
pattern of ``brms``' ``file_refit = "on_change"``.

An entry is the fit's own netCDF file (no pickles: reading an entry never runs code),
written atomically, recording its key and a content checksum. :func:`load` trusts an entry
only if it verifies: it reads as a pclbayes fit (:func:`pclbayes.load_fit`), its checksum
matches its content, the key it records is the key asked for and its resolved spec and
data hash are the ones asked for. Anything else is a warning, and the caller fits again.

The cache lives in ``$PCLBAYES_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pclbayes`` or
``~/.cache/pclbayes``); at most :data:`MAX_ENTRIES` entries are kept (oldest removed).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pclbayes._files import new_file_mode
from pclbayes.provenance import canonical_hash, versions

logger = logging.getLogger(__name__)

#: Entries kept in the cache directory (the least recently written are removed).
MAX_ENTRIES = 256

_SUFFIX = ".fit.nc"
_KEY_ATTR = "pclbayes_cache_key"


def cache_dir() -> Path:
    """Directory of the fit cache (``$PCLBAYES_CACHE_DIR`` if set)."""
    env = os.environ.get("PCLBAYES_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pclbayes"


def fit_key(spec: dict[str, Any], data_hash: str, data_source: str = "") -> str:
    """Hash of everything a fit depends on (see the module docstring).

    Parameters
    ----------
    spec : dict
        The resolved specification (:meth:`pclbayes.model.Model.resolved_spec`).
    data_hash, data_source : str
        The data's hash and where it was read from.
    """
    return canonical_hash({"spec": spec, "data_hash": data_hash, "source": data_source,
                           "versions": versions(), "code": _source_hash()})


def load(key: str, *, spec: dict[str, Any] | None = None,
         data_hash: str | None = None, copy_to: Path | None = None) -> Any | None:
    """The fitted model stored under ``key``, or None.

    None when there is no entry, and (with a warning) when the entry does not verify:
    unreadable, checksum mismatch, another key recorded, or (if given) another resolved
    spec or data hash recorded. With ``copy_to``, the entry's file is first copied beside
    ``copy_to``, the model is read (and so verified) from that copy, and the copy is
    renamed to ``copy_to`` only once it has verified: one read serves both, and
    ``copy_to`` is left untouched when the entry is refused.
    """
    path = entry_path(key)
    if not path.is_file():
        return None
    if copy_to is None:
        return _verified(path, key, spec, data_hash)
    target = Path(copy_to)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        model = _verified(Path(tmp), key, spec, data_hash, name=path.name)
        if model is not None:
            new_file_mode(tmp)
            os.replace(tmp, target)
        return model
    finally:
        Path(tmp).unlink(missing_ok=True)


def has(key: str) -> bool:
    """Whether an entry is stored under ``key`` (it may still fail to verify on :func:`load`)."""
    return entry_path(key).is_file()


def _verified(path: Path, key: str, spec: dict[str, Any] | None, data_hash: str | None,
              name: str | None = None) -> Any | None:
    """``load_fit(path)`` if it verifies and records ``key``, ``spec`` and ``data_hash``."""
    from pclbayes.model import load_fit

    name = name or path.name
    try:
        model = load_fit(path)
    except Exception as err:  # any damaged entry is refitted, never fatal
        logger.warning("cached fit %s failed verification (%s); fitting again", name, err)
        return None
    attrs = model.idata_.attrs
    problems = []
    if attrs.get(_KEY_ATTR) != key:
        problems.append("it records another cache key")
    if spec is not None and json.loads(attrs["pclbayes_spec"]) != json.loads(
            json.dumps(spec, sort_keys=True, default=str)):
        problems.append("it was fitted with another specification")
    if data_hash is not None and attrs.get("pclbayes_data_hash") != data_hash:
        problems.append("it was fitted to other data")
    if problems:
        logger.warning("cached fit %s failed verification (%s); fitting again", name,
                       "; ".join(problems))
        return None
    return model


def store(key: str, model: Any) -> None:
    """Write ``model``'s fit under ``key`` (atomically).

    A cache that cannot be written is skipped with a warning.
    """
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        model.save(entry_path(key), attrs={_KEY_ATTR: key})
    except OSError as err:
        logger.warning("could not write the fit cache in %s (%s)", directory, err)
        return
    _prune(directory)


def entry_path(key: str) -> Path:
    """The file of the entry stored under ``key`` (which may not exist)."""
    return cache_dir() / f"{key}{_SUFFIX}"


def _prune(directory: Path) -> None:
    entries = sorted(directory.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)


@functools.cache
def _source_hash() -> str:
    """SHA-256 over pclbayes' Python source files (names and contents)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
