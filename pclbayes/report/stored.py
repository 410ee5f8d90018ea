"""Stored reports: a report whose every input is unchanged is copied, not made again.

A report is a deterministic function of its fits (each one fixed by its fit-cache key:
resolved specification, data, seed, software and pclbayes' own source,
:func:`pclbayes.fitcache.fit_key`), the names, titles and files of the specifications, the
notes on how they were adapted to the data, ``--quick``, ``--seed`` and the data's time
unit. :func:`report_key` hashes exactly these. After a report is built with the fit cache
on, its page (without the header, which says when it was generated), figures, summaries
and what the header needs are stored under that key in ``<fit cache>/reports/``, with the
SHA-256 of every file and of every fit-cache entry the report rests on (the variants' too;
the ``fits/*.nc`` files are copied from them).

:func:`restore` trusts an entry only if it records the key asked for and every file, and
every fit-cache entry it names, has the recorded checksum; anything else is a warning and
the report is built again (reusing the fit cache as before). Like fit-cache entries, no
stored file is ever executed: the entry is HTML, image, CSV and JSON files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pclbayes import fitcache
from pclbayes._files import new_file_mode
from pclbayes.provenance import canonical_hash

logger = logging.getLogger(__name__)

#: Stored reports kept (the least recently written are removed).
MAX_REPORTS = 16

#: Stands for the header in a stored page (it holds the time the report was generated).
HEADER = "<!--pclbayes:header-->"

_META = "meta.json"
_PAGE = "page.html"
_FORMAT = 1


def report_key(parts: dict[str, Any]) -> str:
    """Hash of everything a report depends on besides its fits' keys, and those keys.

    Parameters
    ----------
    parts : dict
        JSON-serialisable: each specification's name, title, file and fit-cache key (with
        the variants'), the notes on adapting them to the data, ``quick``, ``seed`` and the
        time unit.
    """
    return canonical_hash({"format": _FORMAT, "report": parts})


def directory() -> Path:
    """Where stored reports live: ``reports/`` in the fit cache's directory."""
    return fitcache.cache_dir() / "reports"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store(key: str, out: Path, page: str, meta: dict[str, Any], copies: dict[str, str],
          rests_on: list[str]) -> None:
    """Store the report written into ``out`` under ``key`` (atomically).

    Parameters
    ----------
    key : str
        :func:`report_key`.
    out : Path
        The report folder: its ``figures/``, ``summary.csv`` and ``summary.json`` are stored.
    page : str
        The page with :data:`HEADER` where the header goes.
    meta : dict
        What the header and :class:`pclbayes.report.builder.Report` need (JSON): the keys
        of :data:`META_KEYS`.
    copies : dict
        ``{file name in fits/: fit-cache key}``: the fit files the report holds, copied
        from the fit cache when the report is copied.
    rests_on : list of str
        The fit-cache key of every fit of the report (variants too): each entry's checksum
        is recorded and checked before a copy.

    A report whose fits are not all in the fit cache is not stored; a cache that cannot be
    written, or an entry that vanishes meanwhile, is a warning. Never raises an ``OSError``,
    so a complete report is never lost to its storing.
    """
    root = directory()
    tmp: Path | None = None
    try:
        entries = {}
        for fit_key in dict.fromkeys([*rests_on, *copies.values()]):
            path = fitcache.entry_path(fit_key)
            if not path.is_file():
                return
            entries[fit_key] = _sha256(path)
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".report-"))
        (tmp / _PAGE).write_text(page, encoding="utf-8")
        if (out / "figures").is_dir():
            shutil.copytree(out / "figures", tmp / "figures")
        for name in ("summary.csv", "summary.json"):
            if (out / name).is_file():
                shutil.copyfile(out / name, tmp / name)
        files = {p.relative_to(tmp).as_posix(): _sha256(p)
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        record = {"key": key, "files": files, "fits": copies, "entries": entries,
                  "meta": meta}
        (tmp / _META).write_text(json.dumps(record, sort_keys=True, indent=1),
                                 encoding="utf-8")
        for p in tmp.rglob("*"):
            if p.is_file():
                new_file_mode(p)
        target = root / key
        if target.exists():  # the newer report replaces the older
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _META).is_file():  # else another run stored it meanwhile
                raise
        _prune(root)
    except OSError as err:
        logger.warning("could not store the report in %s (%s)", root, err)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


#: What a stored report's ``meta`` holds.
META_KEYS = ("flags", "titles", "warnings", "seconds")


def restore(key: str, out: Path) -> tuple[str, dict[str, Any]] | None:
    """Copy the report stored under ``key`` into the empty folder ``out``.

    Returns
    -------
    (page, meta) or None
        The stored page (with :data:`HEADER` for the header) and its ``meta``; None when
        nothing is stored under ``key``, or (with a warning) when the entry does not verify,
        in which case none of its files is left in ``out``.
    """
    entry = directory() / key
    meta_file = entry / _META
    if not meta_file.is_file():
        return None
    copied: list[Path] = []
    try:
        record = json.loads(meta_file.read_text(encoding="utf-8"))
        problem = _malformed(key, record)
        if problem is None:  # every file is hashed once: as read, or as copied into out
            data = (entry / _PAGE).read_bytes()
            page = data.decode("utf-8")
            if hashlib.sha256(data).hexdigest() != record["files"][_PAGE]:
                problem = f"{_PAGE} is changed"
            elif page.count(HEADER) != 1:
                problem = "its page has no place for the header"
        if problem is None:
            problem = _entries_problem(record)
        if problem is None:
            copies = [(entry / name, out / name, digest, name)
                      for name, digest in record["files"].items() if name != _PAGE]
            copies += [(fitcache.entry_path(fit_key), out / "fits" / name,
                        record["entries"][fit_key], f"the fit-cache entry of {name}")
                       for name, fit_key in record["fits"].items()]
            for source, target, digest, what in copies:
                if not source.is_file():
                    problem = f"{what} is missing"
                    break
                target.parent.mkdir(parents=True, exist_ok=True)
                copied.append(target)
                shutil.copyfile(source, target)
                if _sha256(target) != digest:
                    problem = f"{what} is changed"
                    break
        if problem is None:
            return page, record["meta"]
    except (OSError, ValueError) as err:
        problem = f"unreadable: {err}"
    for path in copied:
        path.unlink(missing_ok=True)
    logger.warning("stored report %s failed verification (%s); building it again",
                   key[:16], problem)
    return None


def _plain(name: object, *, folders: bool) -> bool:
    """Whether ``name`` is a relative path inside the entry (no ``..``, not absolute)."""
    if not isinstance(name, str) or not name:
        return False
    parts = Path(name).parts
    return (not Path(name).is_absolute() and ".." not in parts and "\\" not in name
            and (folders or len(parts) == 1))


def _malformed(key: str, record: Any) -> str | None:
    """Why ``record`` (a stored report's meta.json) is not a record of ``key``, or None."""
    if not isinstance(record, dict) or record.get("key") != key:
        return "it records another key"
    files, fits, entries = record.get("files"), record.get("fits"), record.get("entries")
    meta = record.get("meta")
    if not (isinstance(files, dict) and isinstance(fits, dict) and isinstance(entries, dict)
            and isinstance(meta, dict) and all(k in meta for k in META_KEYS)):
        return "its record is incomplete"
    if _PAGE not in files:
        return "it has no page"
    if not all(_plain(n, folders=True) for n in files) or not all(
            _plain(n, folders=False) for n in fits):
        return "it names a file outside its folder"
    if not set(fits.values()) <= set(entries):
        return "its fit files are not among the fits it rests on"
    return None


def _entries_problem(record: dict[str, Any]) -> str | None:
    """Why a fit-cache entry the report rests on, and does not copy, cannot be trusted."""
    copied = set(record["fits"].values())  # these are checked as they are copied
    for fit_key, digest in record["entries"].items():
        if fit_key in copied:
            continue
        path = fitcache.entry_path(str(fit_key))
        if not path.is_file():
            return f"the fit {str(fit_key)[:16]} is no longer in the fit cache"
        if _sha256(path) != digest:
            return f"the fit-cache entry {str(fit_key)[:16]} changed"
    return None


#: A half-written entry (``.report-*``, left by a run that was killed) older than this
#: many seconds is removed.
STALE_SECONDS = 3600.0


def _prune(root: Path) -> None:
    """Keep the :data:`MAX_REPORTS` newest entries; remove stale half-written ones."""
    dated = []
    for path in root.iterdir():
        try:
            mtime = path.stat().st_mtime
        except OSError:  # removed by another run meanwhile
            continue
        if not path.is_dir():
            continue
        if path.name.startswith("."):
            if time.time() - mtime > STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        else:
            dated.append((mtime, path))
    for _, old in sorted(dated)[:-MAX_REPORTS]:
        shutil.rmtree(old, ignore_errors=True)
